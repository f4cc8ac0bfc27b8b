#include "metrics_scrape.h"

#include <httplib.h>

#include <cstdlib>
#include <sstream>

namespace crmsync::bench::e2e {
namespace {

std::string MethodSeries(const std::string& suffix, const std::string& method) {
  return "crmsync_rpc_duration_seconds_" + suffix + "{method=\"" + method + "\"}";
}

}  // namespace

absl::StatusOr<MetricsSnapshot> MetricsSnapshot::Scrape(int port) {
  httplib::Client http("127.0.0.1", port);
  http.set_connection_timeout(5);
  http.set_read_timeout(10);
  auto res = http.Get("/metrics");
  if (!res || res->status != 200) {
    return absl::UnavailableError("cannot scrape /metrics on port " + std::to_string(port));
  }
  MetricsSnapshot snapshot;
  std::istringstream lines(res->body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    snapshot.values_[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return snapshot;
}

double MetricsSnapshot::Get(const std::string& series) const {
  auto it = values_.find(series);
  return it == values_.end() ? 0 : it->second;
}

double MetricsSnapshot::RpcSeconds(const std::string& method) const {
  return Get(MethodSeries("sum", method));
}

double MetricsSnapshot::RpcCount(const std::string& method) const {
  return Get(MethodSeries("count", method));
}

}  // namespace crmsync::bench::e2e
