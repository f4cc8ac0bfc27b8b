// Sign-in credentials of the demo tenant (README, "Demo"). DEMO ONLY: the
// passwords and the till's API key are published in the README.
#ifndef CRMSYNC_SERVER_AUTH_DEMO_CREDENTIALS_H_
#define CRMSYNC_SERVER_AUTH_DEMO_CREDENTIALS_H_

#include "absl/status/status.h"
#include "auth/crypto.h"
#include "auth/password.h"
#include "logic/clock.h"
#include "store/store.h"

namespace crmsync::server::auth {

// The demo till's API key (key id "demo-till").
inline constexpr char kDemoTillApiKey[] = "crmk.demo-till.demo-till-secret-not-for-production";

// Gives every demo user without a password "<username>-demo-password" and
// creates the till's API key if missing, in the tenant with slug `slug`.
// No-op without that tenant.
absl::Status EnsureDemoCredentials(Store* store, Clock* clock, SecureRandom* random,
                                   const PasswordParams& password,
                                   const std::string& slug = "demo");

}  // namespace crmsync::server::auth

#endif  // CRMSYNC_SERVER_AUTH_DEMO_CREDENTIALS_H_
