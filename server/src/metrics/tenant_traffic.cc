#include "metrics/tenant_traffic.h"

namespace crmsync::server {

void TenantTraffic::AddPush(const std::string& tenant_id, const TrafficCounts& outcomes) {
  absl::MutexLock lock(&mu_);
  TrafficCounts& t = by_tenant_[tenant_id];
  t.pushes += 1;
  t.applied += outcomes.applied;
  t.merged += outcomes.merged;
  t.conflict += outcomes.conflict;
  t.rejected += outcomes.rejected;
}

void TenantTraffic::AddPull(const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  by_tenant_[tenant_id].pulls += 1;
}

TrafficCounts TenantTraffic::Get(const std::string& tenant_id) const {
  absl::MutexLock lock(&mu_);
  auto it = by_tenant_.find(tenant_id);
  return it == by_tenant_.end() ? TrafficCounts{} : it->second;
}

}  // namespace crmsync::server
