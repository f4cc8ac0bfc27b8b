// The modes of bench_e2e_client, one process per simulated device (or, for
// idle streams, per crowd of devices). Each signs in like a real device
// (client_session.h), prints {"event": "ready"} once set up, and its
// figures as {"event": "result", ...}. docs/benchmarks-e2e.md says what
// each one measures.
#ifndef CRMSYNC_BENCH_E2E_CLIENT_MODES_H_
#define CRMSYNC_BENCH_E2E_CLIENT_MODES_H_

#include <cstdint>
#include <string>

#include "client_session.h"

namespace crmsync::bench::e2e {

struct ClientArgs {
  // Server and identity.
  Endpoint endpoint;
  std::string tenant = "demo";
  std::string user;
  std::string password;
  std::string device;
  // Scope keys of created leads: owner user id and team.
  std::string owner_id;
  std::string team = "team-bench";
  // Lead ids are "lead-<series>-<index>".
  std::string series;

  // push: leads created, mutations per Push; wait for "go" before pushing.
  int64_t records = 0;
  int batch = 500;
  bool wait_go = false;

  // pull: page size of the bootstrap, leads expected, 1 % edits.
  int page_size = 500;
  int64_t expect = 0;
  int delta_count = 0;
  int delta_rounds = 0;
  // crm-syncd's metrics port (server-side time, open streams).
  int metrics_port = 0;

  // latency: where the subscriber listens (may be another instance), how
  // many pushes, pause between them.
  Endpoint subscribe_endpoint;
  int count = 0;
  int interval_ms = 20;

  // streams: TCP connections for the streams (0 = one per stream), and
  // the users owning the devices (a JSON file: [{"username", "password",
  // "id"}, ...]; devices are dealt out to them in turn).
  int connections = 0;
  std::string users_file;

  // Every wait of the mode is bounded by this.
  int timeout_s = 600;
};

// Creates `records` leads in Push batches of `batch`; result: mutations/s.
int RunPush(const ClientArgs& args);
// Bootstrap pull (records/s), then `delta_rounds` times: another device
// edits `delta_count` of the records, and the pull that fetches them is
// timed end to end and by the server's RPC histogram.
int RunPull(const ClientArgs& args);
// `count` single-lead pushes on `endpoint`; time until a Subscribe stream on
// `subscribe_endpoint` announces each one.
int RunLatency(const ClientArgs& args);
// Registers `count` devices of the users in `users_file` (one team), opens
// one idle Subscribe stream per device on "go", reports when all are live,
// times one team-visible change reaching all of them on "fanout", closes
// them on "close".
int RunStreams(const ClientArgs& args);

}  // namespace crmsync::bench::e2e

#endif  // CRMSYNC_BENCH_E2E_CLIENT_MODES_H_
