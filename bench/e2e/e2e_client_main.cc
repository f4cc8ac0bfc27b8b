// bench_e2e_client: one benchmark client process talking to crm-syncd with
// the generated gRPC stubs, started by bench_e2e (see client_modes.h).
//   bench_e2e_client push|pull|latency|streams --address HOST:PORT [--ca FILE] ...
#include <CLI/CLI.hpp>

#include "client_modes.h"
#include "line_protocol.h"

int main(int argc, char** argv) {
  using crmsync::bench::e2e::ClientArgs;
  using crmsync::bench::e2e::Fail;
  using crmsync::bench::e2e::ReadFileOrEmpty;
  using crmsync::bench::e2e::RunLatency;
  using crmsync::bench::e2e::RunPull;
  using crmsync::bench::e2e::RunPush;
  using crmsync::bench::e2e::RunStreams;
  CLI::App app{"One client process of the end-to-end benchmark (started by bench_e2e)",
               "bench_e2e_client"};
  app.require_subcommand(1);
  ClientArgs a;
  std::string ca_file, subscribe_address;
  app.add_option("--address", a.endpoint.address, "crm-syncd gRPC address")->required();
  app.add_option("--ca", ca_file, "PEM of the server's CA (TLS); none = plaintext");
  app.add_option("--tenant", a.tenant)->capture_default_str();
  app.add_option("--user", a.user, "username")->required();
  app.add_option("--password", a.password, "password")->required();
  app.add_option("--device", a.device, "device id (or id prefix)")->required();
  app.add_option("--owner-id", a.owner_id, "owner user id of created leads");
  app.add_option("--team", a.team)->capture_default_str();
  app.add_option("--series", a.series, "lead ids are lead-SERIES-INDEX");
  app.add_option("--timeout", a.timeout_s, "seconds every wait is bounded by")
      ->capture_default_str();
  app.add_option("--metrics-port", a.metrics_port, "crm-syncd metrics port");

  auto* push = app.add_subcommand("push", "create leads in batches");
  push->add_option("--records", a.records)->required();
  push->add_option("--batch", a.batch)->capture_default_str();
  push->add_flag("--wait-go", a.wait_go, "wait for 'go' on stdin before pushing");

  auto* pull = app.add_subcommand("pull", "bootstrap pull, then 1 % delta pulls");
  pull->add_option("--page-size", a.page_size)->capture_default_str();
  pull->add_option("--expect", a.expect, "records the bootstrap must return")->required();
  pull->add_option("--delta-count", a.delta_count)->capture_default_str();
  pull->add_option("--delta-rounds", a.delta_rounds)->capture_default_str();
  pull->add_option("--batch", a.batch)->capture_default_str();

  auto* latency = app.add_subcommand("latency", "push to Subscribe event latency");
  latency->add_option("--subscribe-address", subscribe_address,
                      "instance the listening device subscribes to (default: --address)");
  latency->add_option("--count", a.count)->required();
  latency->add_option("--interval-ms", a.interval_ms)->capture_default_str();

  auto* streams = app.add_subcommand("streams", "many idle Subscribe streams");
  streams->add_option("--count", a.count)->required();
  streams->add_option("--connections", a.connections, "TCP connections (0 = one per stream)")
      ->capture_default_str();
  streams
      ->add_option("--users-file", a.users_file,
                   "JSON list of the users owning the devices ({username, password, id})")
      ->required();
  CLI11_PARSE(app, argc, argv);

  if (!ca_file.empty()) {
    a.endpoint.ca_pem = ReadFileOrEmpty(ca_file);
    if (a.endpoint.ca_pem.empty()) return Fail("cannot read " + ca_file);
  }
  a.subscribe_endpoint = a.endpoint;
  if (!subscribe_address.empty()) a.subscribe_endpoint.address = subscribe_address;
  if (*push) return RunPush(a);
  if (*pull) return RunPull(a);
  if (*latency) return RunLatency(a);
  return RunStreams(a);
}
