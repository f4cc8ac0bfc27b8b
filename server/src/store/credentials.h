// Credentials: the store role that holds refresh tokens and store-terminal
// API keys (only hashes of their secrets). Passwords are UserRow fields of
// the directory.
//
// One implementation for both databases (SqlCredentials). Every call is one
// autocommit statement; text fields follow store_codec::CheckText/CheckId
// (INVALID_ARGUMENT otherwise). Thread-safety: any thread.
#ifndef CRMSYNC_SERVER_STORE_CREDENTIALS_H_
#define CRMSYNC_SERVER_STORE_CREDENTIALS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace crmsync::server {

// One refresh token. Only a hash of the token is stored. Tokens issued by
// rotation share their family id; reusing a rotated token revokes the
// family.
struct RefreshTokenRow {
  std::string tenant_id;
  // Lower-case hex SHA-256 of the token; unique across tenants.
  std::string token_hash;
  std::string family_id;
  std::string user_id;
  // Empty for a token not bound to a device yet.
  std::string device_id;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  // Set once the token was exchanged by Refresh.
  bool used = false;
  // Set when its family was revoked (logout, reuse).
  bool revoked = false;
};

// A store-terminal API key. Only a hash of its secret is stored.
struct ApiKeyRow {
  std::string tenant_id;
  std::string key_id;
  std::string user_id;
  std::string label;
  // Lower-case hex SHA-256 of the secret part of the key.
  std::string secret_hash;
  int64_t created_ms = 0;
  bool revoked = false;
};

class Credentials {
 public:
  virtual ~Credentials() = default;

  // Stores a new refresh token; ALREADY_EXISTS if its hash is known in its
  // tenant (hashes of random secrets: never in practice in another).
  virtual absl::Status PutRefreshToken(const RefreshTokenRow& token) = 0;
  // The token with this hash in `tenant_id`, or in any tenant when
  // `tenant_id` is empty (tokens issued before they named their tenant: on
  // Citus a lookup in every shard); nullopt if unknown.
  virtual absl::StatusOr<std::optional<RefreshTokenRow>> GetRefreshToken(
      const std::string& tenant_id, const std::string& token_hash) = 0;
  // Marks the token used if it is neither used nor revoked. Returns true if
  // this call marked it (exactly one of concurrent callers wins), false if
  // it was already used or revoked or is unknown in `tenant_id`.
  virtual absl::StatusOr<bool> MarkRefreshTokenUsed(const std::string& tenant_id,
                                                    const std::string& token_hash) = 0;
  // Revokes every token of the family. Returns how many were changed.
  virtual absl::StatusOr<int64_t> RevokeRefreshFamily(const std::string& tenant_id,
                                                      const std::string& family_id) = 0;
  // Revokes every refresh token bound to the device (device revocation).
  virtual absl::StatusOr<int64_t> RevokeDeviceRefreshTokens(const std::string& tenant_id,
                                                            const std::string& device_id) = 0;

  // Stores a new API key; ALREADY_EXISTS if (tenant, key_id) is taken.
  virtual absl::Status PutApiKey(const ApiKeyRow& key) = 0;
  virtual absl::StatusOr<std::optional<ApiKeyRow>> GetApiKey(const std::string& tenant_id,
                                                             const std::string& key_id) = 0;

  // Failed sign-ins, shared by every instance on the store (login
  // throttling, auth/login_throttle.h). `key` names what was tried (tenant
  // and username, or tenant and API key id).
  // Records a failure at `at_ms`, and forgets every failure (of any key)
  // before `forget_before_ms`.
  virtual absl::Status RecordLoginFailure(const std::string& key, int64_t at_ms,
                                          int64_t forget_before_ms) = 0;
  // The times of the key's failures at or after `since_ms`, oldest first;
  // only the newest `limit` (> 0) of them.
  virtual absl::StatusOr<std::vector<int64_t>> LoginFailuresSince(const std::string& key,
                                                                  int64_t since_ms, int limit) = 0;
  // Forgets the key's failures (a successful sign-in).
  virtual absl::Status ClearLoginFailures(const std::string& key) = 0;

  // Request-rate usage exchanged by instances (logic/rate_limiter.h).
  struct RateUsageRow {
    int64_t id = 0;  // unique, assigned by the store
    std::string instance;
    std::string key;
    int64_t used = 0;
    int64_t at_ms = 0;
  };
  // Records what `instance` took per key (`usage`: key, tokens) at `at_ms`,
  // and forgets every report before `forget_before_ms`.
  virtual absl::Status ReportRateUsage(const std::string& instance, int64_t at_ms,
                                       const std::vector<std::pair<std::string, int64_t>>& usage,
                                       int64_t forget_before_ms) = 0;
  // Reports of every instance but `instance` made at or after `since_ms`.
  virtual absl::StatusOr<std::vector<RateUsageRow>> RateUsageSince(const std::string& instance,
                                                                   int64_t since_ms) = 0;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_CREDENTIALS_H_
