// Authenticates calls by their "authorization: Bearer <access token>"
// metadata. Besides the signature, key id and expiry, every call checks the
// store: the user must still exist and be enabled (role, team and store are
// taken from the store, not the token, so a demotion acts at once) and a
// device-bound token's device must still be active; a revoked device gets
// PERMISSION_DENIED with the "wipe" directive at its next call.
#ifndef CRMSYNC_SERVER_AUTH_TOKEN_AUTHENTICATOR_H_
#define CRMSYNC_SERVER_AUTH_TOKEN_AUTHENTICATOR_H_

#include "auth/token.h"
#include "logic/authenticator.h"

namespace crmsync::server::auth {

struct TokenAuthenticatorOptions {
  // Refuse tokens not bound to a device (SyncService: data calls need a
  // registered device). Auth and Admin calls accept device-less tokens.
  bool require_device = true;
};

class TokenAuthenticator final : public Authenticator {
 public:
  // Every pointer must outlive this object. `fallback` (may be null) is
  // asked when a call carries no authorization metadata (the development
  // identity, when enabled). Thread-safe.
  TokenAuthenticator(Directory* directory, const TokenKeyRing* keys, Clock* clock,
                     TokenAuthenticatorOptions options, Authenticator* fallback = nullptr)
      : directory_(directory), keys_(keys), clock_(clock), options_(options), fallback_(fallback) {}

  absl::StatusOr<Principal> Authenticate(const CallMetadata& metadata) override;

 private:
  Directory* directory_;
  const TokenKeyRing* keys_;
  Clock* clock_;
  TokenAuthenticatorOptions options_;
  Authenticator* fallback_;
};

}  // namespace crmsync::server::auth

#endif  // CRMSYNC_SERVER_AUTH_TOKEN_AUTHENTICATOR_H_
