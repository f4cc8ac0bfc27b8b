// One store's share of the end-to-end benchmark: starts crm-syncd on it,
// creates the benchmark users, then runs each phase with client processes
// and returns the figures.
#ifndef CRMSYNC_BENCH_E2E_E2E_STORE_RUN_H_
#define CRMSYNC_BENCH_E2E_E2E_STORE_RUN_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "e2e_setup.h"
#include "nlohmann/json.hpp"

namespace crmsync::bench::e2e {

struct RunOptions {
  // Leads pushed by the one-device phase (and, split four ways, by the
  // four-device phase); the bootstrap pulls these back.
  int64_t records = 100'000;
  int batch = 500;
  int page_size = 500;
  // Delta pulls: each edits records / 100 leads first.
  int delta_rounds = 5;
  int latency_pushes = 200;
  int latency_interval_ms = 20;
  int streams = 10'000;
  // TCP connections for the streams (0 = one per stream, like devices).
  int stream_connections = 0;
  // Users (one team) owning the stream devices; 0 = one per 100 devices.
  int stream_users = 0;
  // Seconds the idle streams stay open before crm-syncd's RSS is read.
  int idle_seconds = 5;
  // push1, push4, pull, sdk, latency, streams.
  std::set<std::string> phases;
  int phase_timeout_s = 1200;
  // Extra crm-syncd flags, after the defaults.
  std::vector<std::string> server_args;
};

struct RunContext {
  RunOptions options;
  ServerMaterial material;
  // Scratch space (device stores, logs).
  std::string work_dir;
  std::string client_bin;
  std::string device_bin;
};

// Runs the phases on `store_spec` ("sqlite:PATH" or "postgres:CONNINFO");
// `store_name` labels logs. A phase that fails gets {"error": ...} and the
// others still run. `two_instances`: propagation is measured across two
// crm-syncd processes on the store (PostgreSQL).
nlohmann::json RunStore(const RunContext& ctx, const std::string& store_name,
                        const std::string& store_spec, bool two_instances);

}  // namespace crmsync::bench::e2e

#endif  // CRMSYNC_BENCH_E2E_E2E_STORE_RUN_H_
