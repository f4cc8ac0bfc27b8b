// Sync traffic counted per tenant since this process started: what
// AdminService.GetStats reports and `crmctl watch` turns into rates. Kept
// apart from the Prometheus registry, whose series are process-wide: one
// tenant's admin must not see another tenant's activity. Thread-safe.
#ifndef CRMSYNC_SERVER_METRICS_TENANT_TRAFFIC_H_
#define CRMSYNC_SERVER_METRICS_TENANT_TRAFFIC_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace crmsync::server {

struct TrafficCounts {
  int64_t pushes = 0;  // committed Push batches
  int64_t pulls = 0;   // Pull pages served
  int64_t applied = 0;
  int64_t merged = 0;
  int64_t conflict = 0;
  int64_t rejected = 0;
};

class TenantTraffic {
 public:
  // A committed push and its mutations' outcomes.
  void AddPush(const std::string& tenant_id, const TrafficCounts& outcomes);
  void AddPull(const std::string& tenant_id);
  TrafficCounts Get(const std::string& tenant_id) const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, TrafficCounts> by_tenant_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_METRICS_TENANT_TRAFFIC_H_
