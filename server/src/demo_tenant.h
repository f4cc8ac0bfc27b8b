// The demo tenant used by the README's quick start: users of each role, a
// team, two stores, and sample CRM and loyalty records.
#ifndef CRMSYNC_SERVER_DEMO_TENANT_H_
#define CRMSYNC_SERVER_DEMO_TENANT_H_

#include <string>

#include "absl/status/status.h"
#include "logic/clock.h"
#include "logic/push_handler.h"
#include "store/store.h"

namespace crmsync::server {

inline constexpr char kDemoTenantSlug[] = "demo";

// The slug of demo tenant `number` (from 1): "demo", "demo-2", "demo-3" ...
std::string DemoTenantSlug(int number);

// Creates demo tenant `number` unless a tenant with its slug exists (id
// "t-" + slug). Records are written as ordinary mutations through `push`,
// so they carry versions and provenance like any other. Returns OK if
// created or already present.
absl::Status EnsureDemoTenant(Store* store, PushHandler* push, Clock* clock, int number = 1);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_DEMO_TENANT_H_
