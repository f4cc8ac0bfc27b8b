// crmsync.v1.AuthService logic: login, token refresh with rotation and
// reuse detection, logout, device registration and store-terminal API key
// exchange. No gRPC here; the rpc layer passes the peer address for the
// audit log.
#ifndef CRMSYNC_SERVER_AUTH_AUTH_HANDLER_H_
#define CRMSYNC_SERVER_AUTH_AUTH_HANDLER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "auth/audit_log.h"
#include "auth/crypto.h"
#include "auth/login_throttle.h"
#include "auth/password.h"
#include "auth/token.h"
#include "crmsync/v1/auth.pb.h"
#include "logic/clock.h"
#include "logic/principal.h"
#include "store/store.h"

namespace crmsync::server::auth {

struct AuthOptions {
  // Lifetime of an access token (default 15 minutes).
  int64_t access_ttl_s = 15 * 60;
  // Lifetime of a refresh token (default 30 days).
  int64_t refresh_ttl_s = 30LL * 24 * 3600;
  // Argon2id cost of passwords hashed by this server (and of re-hashing
  // older or cheaper hashes at sign-in).
  PasswordParams password;
  // Failed sign-ins per (tenant, username) within the window before
  // RESOURCE_EXHAUSTED.
  int max_failed_logins = 5;
  int64_t failed_login_window_ms = 15 * 60 * 1000;
};

class AuthHandler {
 public:
  // Every pointer must outlive the handler. Thread-safe.
  AuthHandler(Directory* directory, Credentials* credentials, const TokenKeyRing* keys,
              Clock* clock, SecureRandom* random, AuditLog* audit, AuthOptions options);

  // UNAUTHENTICATED on bad credentials (no hint which part was wrong),
  // RESOURCE_EXHAUSTED while throttled, PERMISSION_DENIED (+ "wipe") for a
  // revoked device, FAILED_PRECONDITION for an unregistered device id.
  absl::Status Login(const v1::LoginRequest& request, const std::string& peer,
                     v1::LoginResponse* response);
  // Rotates a refresh token. Reuse of a used token revokes its family.
  absl::Status Refresh(const v1::RefreshRequest& request, const std::string& peer,
                       v1::RefreshResponse* response);
  // Revokes the family of the caller's refresh token.
  absl::Status Logout(const Principal& who, const v1::LogoutRequest& request,
                      const std::string& peer);
  // Binds a device to the caller (idempotent for the same user).
  absl::Status RegisterDevice(const Principal& who, const v1::RegisterDeviceRequest& request,
                              const std::string& peer, v1::RegisterDeviceResponse* response);
  absl::Status ExchangeApiKey(const v1::ExchangeApiKeyRequest& request, const std::string& peer,
                              v1::ExchangeApiKeyResponse* response);

  // Creates an API key for store terminal `user_id` of `tenant_id`; returns
  // the key text (shown once) and fills `key_id`. Only a hash is stored.
  absl::StatusOr<std::string> CreateApiKey(const std::string& tenant_id, const std::string& user_id,
                                           const std::string& label, std::string* key_id);

  // Hashes a new password with this server's iteration count.
  // INVALID_ARGUMENT if it is shorter than kMinPasswordLength.
  absl::StatusOr<std::string> HashNewPassword(const std::string& password);
  // After a sign-in with `password`: stores a hash at today's cost in place
  // of an older scheme's or a cheaper one (best effort: a failure is
  // logged, the sign-in still succeeds).
  void RehashPassword(UserRow user, const std::string& password);

 private:
  // Issues an access token and a new refresh token (in `family_id`, or a
  // new family when empty).
  absl::Status IssueTokens(const std::string& tenant_id, const v1::User& user,
                           const std::string& device_id, std::string family_id, v1::TokenPair* out);
  // Checks that `device_id` may be used by `user_id`; registers it when
  // `register_if_missing`.
  absl::Status CheckDevice(const std::string& tenant_id, const std::string& user_id,
                           const std::string& device_id, bool register_if_missing,
                           const v1::RegisterDeviceRequest* details);

  Directory* directory_;
  Credentials* credentials_;
  const TokenKeyRing* keys_;
  Clock* clock_;
  SecureRandom* random_;
  AuditLog* audit_;
  AuthOptions options_;
  LoginThrottle throttle_;
};

// Ids and names arriving from the network: 1-128 printable ASCII bytes.
bool PlausibleId(const std::string& s);

// The PERMISSION_DENIED + "wipe" status a revoked device receives.
absl::Status RevokedDeviceStatus(const std::string& device_id);

}  // namespace crmsync::server::auth

#endif  // CRMSYNC_SERVER_AUTH_AUTH_HANDLER_H_
