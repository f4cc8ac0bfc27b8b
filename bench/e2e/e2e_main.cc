// bench_e2e: performance as a user gets it. Starts real processes — a
// throwaway PostgreSQL cluster, crm-syncd on SQLite and on PostgreSQL (TLS,
// bearer tokens, every other setting at its default), and client processes
// (bench_e2e_client with the generated gRPC stubs, bench_e2e_device with the
// client SDK) — and prints one Markdown table of the figures, the raw
// PostgreSQL baseline beside them. Usually run through bench/e2e/run.sh;
// docs/benchmarks-e2e.md explains each figure.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "e2e_report.h"
#include "e2e_store_run.h"
#include "line_protocol.h"
#include "pg_cluster.h"
#include "raw_postgres.h"
#include "server_process.h"

namespace {

namespace e2e = ::crmsync::bench::e2e;
using nlohmann::json;

std::set<std::string> SplitList(const std::string& text) {
  std::set<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.insert(item);
  }
  return out;
}

std::string LoadAverage() {
  std::string text = e2e::ReadFileOrEmpty("/proc/loadavg");
  return text.substr(0, text.find(' ', text.find(' ', text.find(' ') + 1) + 1));
}

std::string OwnDirectory() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : exe.parent_path().string();
}

bool HasError(const json& j) {
  if (j.is_object()) {
    if (j.contains("error")) return true;
    for (const auto& [k, v] : j.items()) {
      if (HasError(v)) return true;
    }
  }
  if (j.is_array()) {
    for (const auto& v : j) {
      if (HasError(v)) return true;
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "End-to-end benchmark of crm-syncd: real server processes on SQLite and PostgreSQL, "
      "client processes over gRPC (TLS + bearer tokens), the raw PostgreSQL baseline beside. "
      "Prints a Markdown table.",
      "bench_e2e"};
  e2e::RunOptions o;
  bool quick = false, plaintext = false, keep = false;
  int64_t records = 0;
  int streams = 0, delta_rounds = 0, latency_pushes = 0;
  std::string out_json, out_md, work_dir, stores = "sqlite,postgres",
                                          phases = "push1,push4,pull,sdk,latency,streams";
  app.add_flag("--quick", quick,
               "smoke-test sizes: 10,000 records, 2,000 streams, 3 delta rounds, 100 pushes");
  app.add_option("--records", records, "leads pushed and bootstrapped (default 100,000)");
  app.add_option("--batch", o.batch, "mutations per Push")->capture_default_str();
  app.add_option("--page-size", o.page_size, "changes per Pull page of the bootstrap")
      ->capture_default_str();
  app.add_option("--delta-rounds", delta_rounds, "delta pulls of 1 % (default 5)");
  app.add_option("--latency-pushes", latency_pushes, "pushes timed to their event (default 200)");
  app.add_option("--latency-interval-ms", o.latency_interval_ms, "pause between those pushes")
      ->capture_default_str();
  app.add_option("--streams", streams, "idle Subscribe streams (default 10,000)");
  app.add_option("--stream-connections", o.stream_connections,
                 "TCP connections carrying the streams (0 = one per stream, as devices)")
      ->capture_default_str();
  app.add_option("--stream-users", o.stream_users,
                 "users (one team) owning the stream devices (0 = one per 100 streams)")
      ->capture_default_str();
  app.add_option("--idle-seconds", o.idle_seconds, "streams stay idle this long before RSS is read")
      ->capture_default_str();
  app.add_option("--stores", stores, "comma-separated: sqlite, postgres")->capture_default_str();
  app.add_option("--phases", phases, "comma-separated: push1, push4, pull, sdk, latency, streams")
      ->capture_default_str();
  app.add_option("--phase-timeout", o.phase_timeout_s, "seconds each phase may take")
      ->capture_default_str();
  app.add_option("--server-arg", o.server_args, "extra crm-syncd flag (repeatable)")
      ->allow_extra_args(false);
  app.add_flag("--plaintext", plaintext, "serve without TLS (--dev-insecure); tokens still");
  app.add_option("--out", out_json, "write every figure as JSON to this file");
  app.add_option("--markdown", out_md, "write the table to this file too");
  app.add_option("--work-dir", work_dir, "scratch directory (default: a new one under $TMPDIR)");
  app.add_flag("--keep", keep, "keep the scratch directory (logs) after the run");
  CLI11_PARSE(app, argc, argv);

  o.records = records > 0 ? records : quick ? 10'000 : 100'000;
  o.streams = streams > 0 ? streams : quick ? 2'000 : 10'000;
  o.delta_rounds = delta_rounds > 0 ? delta_rounds : quick ? 3 : 5;
  o.latency_pushes = latency_pushes > 0 ? latency_pushes : quick ? 100 : 200;
  o.phases = SplitList(phases);
  const std::set<std::string> store_set = SplitList(stores);

  const bool own_work_dir = work_dir.empty();
  if (own_work_dir) work_dir = crmsync::testing::MakeTempDir("crmsync-e2e-");
  std::filesystem::create_directories(work_dir);
  e2e::RunContext ctx;
  ctx.options = o;
  ctx.work_dir = work_dir;
  ctx.client_bin = OwnDirectory() + "/bench_e2e_client";
  ctx.device_bin = OwnDirectory() + "/bench_e2e_device";
  for (const std::string& bin : {ctx.client_bin, ctx.device_bin}) {
    if (access(bin.c_str(), X_OK) != 0) {
      std::fprintf(stderr, "bench_e2e: %s is missing: build it next to bench_e2e\n", bin.c_str());
      return 2;
    }
  }
  auto material = e2e::MakeServerMaterial(work_dir + "/certs", plaintext);
  if (!material.ok()) {
    std::fprintf(stderr, "bench_e2e: %s\n", std::string(material.status().message()).c_str());
    return 1;
  }
  ctx.material = *material;

  json results = {
      {"config",
       {{"records", o.records},
        {"batch", o.batch},
        {"page_size", o.page_size},
        {"delta_rounds", o.delta_rounds},
        {"latency_pushes", o.latency_pushes},
        {"streams", o.streams},
        {"stream_connections", o.stream_connections},
        {"stream_users", o.stream_users},
        {"quick", quick},
        {"server_args", o.server_args},
        {"auth", plaintext ? "plaintext, bearer access tokens"
                           : "TLS (development CA), bearer access tokens bound to "
                             "registered devices"}}},
      {"machine",
       {{"cpus", std::thread::hardware_concurrency()}, {"load_average_before", LoadAverage()}}},
      {"stores", json::object()}};

  if (store_set.count("sqlite")) {
    std::filesystem::create_directories(work_dir + "/sqlite");
    results["stores"]["sqlite"] =
        e2e::RunStore(ctx, "sqlite", "sqlite:" + work_dir + "/sqlite/crmsync.db", false);
  }
  if (store_set.count("postgres")) {
    auto cluster = crmsync::testing::PgCluster::Start();
    if (!cluster.ok()) {
      results["stores"]["postgres"] = {{"error", "PostgreSQL: " + cluster.status().ToString()}};
    } else {
      std::fprintf(stderr, "[postgres] raw baseline ...\n");
      auto raw_schema = (*cluster)->NewSchema("bench_raw");
      auto raw = raw_schema.ok() ? e2e::RawUpsertBaseline(*raw_schema, o.records, o.batch)
                                 : absl::StatusOr<json>(raw_schema.status());
      results["raw_postgres"] = raw.ok() ? *raw : json{{"error", raw.status().ToString()}};
      auto schema = (*cluster)->NewSchema("bench_sync");
      results["stores"]["postgres"] =
          schema.ok() ? e2e::RunStore(ctx, "postgres", "postgres:" + *schema, true)
                      : json{{"error", schema.status().ToString()}};
    }
  }
  results["machine"]["load_average_after"] = LoadAverage();

  const std::string table = e2e::RenderMarkdown(results);
  std::printf("%s", table.c_str());
  if (!out_json.empty()) std::ofstream(out_json) << results.dump(2) << "\n";
  if (!out_md.empty()) std::ofstream(out_md) << table;
  const bool failed = HasError(results);
  if (own_work_dir) {
    if (keep || failed) {
      std::fprintf(stderr, "bench_e2e: logs in %s\n", work_dir.c_str());
    } else {
      crmsync::testing::RemoveTree(work_dir);
    }
  }
  if (failed) {
    std::fprintf(stderr,
                 "bench_e2e: some figures could not be measured (see \"error\" in the "
                 "JSON and the logs)\n");
    return 1;
  }
  return 0;
}
