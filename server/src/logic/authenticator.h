// Turns a call's metadata into a Principal. The development implementation
// below trusts headers and exists only until token authentication is wired
// in; crm-syncd refuses to enable it outside development mode (loopback).
#ifndef CRMSYNC_SERVER_LOGIC_AUTHENTICATOR_H_
#define CRMSYNC_SERVER_LOGIC_AUTHENTICATOR_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "clock.h"
#include "principal.h"
#include "store/store.h"

namespace crmsync::server {

// Lower-case metadata keys to values, as received.
using CallMetadata = std::multimap<std::string, std::string>;

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // UNAUTHENTICATED if no usable identity, PERMISSION_DENIED (with a "wipe"
  // directive) for a revoked device. Thread-safe.
  virtual absl::StatusOr<Principal> Authenticate(const CallMetadata& metadata) = 0;
};

// Development identity: "x-crmsync-dev-tenant" (tenant slug),
// "x-crmsync-dev-user" (username), optional "x-crmsync-dev-device" (device id;
// registered to the user on first use). The user and device must be valid in
// the store, so roles, teams and revocation behave as in production.
class DevHeaderAuthenticator final : public Authenticator {
 public:
  // `store` and `clock` must outlive this object.
  DevHeaderAuthenticator(Directory* directory, Clock* clock)
      : directory_(directory), clock_(clock) {}
  absl::StatusOr<Principal> Authenticate(const CallMetadata& metadata) override;

 private:
  Directory* directory_;
  Clock* clock_;
};

// Refuses every call; used when no authentication mechanism is configured.
class RefuseAllAuthenticator final : public Authenticator {
 public:
  absl::StatusOr<Principal> Authenticate(const CallMetadata&) override {
    return absl::UnauthenticatedError(
        "this server accepts no sync credentials yet: start it with --dev-identity (loopback "
        "development only)");
  }
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_AUTHENTICATOR_H_
