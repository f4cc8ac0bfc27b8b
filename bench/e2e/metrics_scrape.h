// One scrape of crm-syncd's Prometheus endpoint (/metrics on its metrics
// port), for the server's own view of a call: the RPC duration histogram
// crmsync_rpc_duration_seconds{method=...} (time from the call's arrival
// to its status being sent) and the open-stream gauge crmsync_subscribers.
#ifndef CRMSYNC_BENCH_E2E_METRICS_SCRAPE_H_
#define CRMSYNC_BENCH_E2E_METRICS_SCRAPE_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace crmsync::bench::e2e {

inline constexpr char kPullMethod[] = "/crmsync.v1.SyncService/Pull";
inline constexpr char kPushMethod[] = "/crmsync.v1.SyncService/Push";

class MetricsSnapshot {
 public:
  // GETs http://127.0.0.1:<port>/metrics.
  static absl::StatusOr<MetricsSnapshot> Scrape(int port);

  // The value of a series written as in the exposition, e.g.
  // "crmsync_subscribers"; 0 when absent.
  double Get(const std::string& series) const;
  // Sum and count of the RPC duration histogram of `method`.
  double RpcSeconds(const std::string& method) const;
  double RpcCount(const std::string& method) const;

 private:
  std::map<std::string, double> values_;
};

}  // namespace crmsync::bench::e2e

#endif  // CRMSYNC_BENCH_E2E_METRICS_SCRAPE_H_
