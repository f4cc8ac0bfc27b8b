// bench_e2e_device: a new device's first sync through the client SDK
// (Database + SyncEngine over the gRPC transport, token sign-in), into a
// plain or SQLCipher-encrypted local store. Started by bench_e2e; prints
// {"event": "ready"} once signed in, then {"event": "result", ...}.
#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
#include <vector>

#include "crmsync/client/database.h"
#include "crmsync/client/sync_engine.h"
#include "crmsync/client/transport.h"
#include "line_protocol.h"

namespace {

namespace client = ::crmsync::client;
using crmsync::bench::e2e::Emit;
using crmsync::bench::e2e::Fail;

// Full sync cycles allowed to reach the expected record count (one cycle
// pulls at most the SDK's page budget).
constexpr int kMaxCycles = 10;

int64_t FileBytes(const std::string& path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A device bootstrapping through the client SDK (started by bench_e2e)",
               "bench_e2e_device"};
  std::string address, ca_file, tenant = "demo", user, password, device, db_path, key;
  int64_t expect = 0;
  app.add_option("--address", address, "crm-syncd gRPC address")->required();
  app.add_option("--ca", ca_file, "PEM of the server's CA (TLS); none = plaintext");
  app.add_option("--tenant", tenant)->capture_default_str();
  app.add_option("--user", user)->required();
  app.add_option("--password", password)->required();
  app.add_option("--device", device)->required();
  app.add_option("--db", db_path, "local store file (must not exist)")->required();
  app.add_option("--key", key, "encryption key (SQLCipher); none = plain");
  app.add_option("--expect", expect, "records the bootstrap must bring")->required();
  CLI11_PARSE(app, argc, argv);

  std::string ca_pem;
  if (!ca_file.empty()) {
    ca_pem = crmsync::bench::e2e::ReadFileOrEmpty(ca_file);
    if (ca_pem.empty()) return Fail("cannot read " + ca_file);
  }
  client::DatabaseOptions o;
  o.path = db_path;
  o.key = key;
  o.device_id = device;
  auto db = client::Database::Open(o);
  if (!db.ok()) return Fail("Database::Open: " + std::string(db.status().message()));

  client::TokenCredentialsOptions c;
  c.address = address;
  c.ca_pem = ca_pem;
  c.tenant = tenant;
  c.username = user;
  c.password = password;
  c.device_id = device;
  auto credentials = client::MakeTokenCredentials(c);
  // Sign in before the clock starts: the figure is the bootstrap.
  std::vector<std::pair<std::string, std::string>> metadata;
  if (auto s = credentials->Metadata(&metadata); !s.ok()) {
    return Fail("sign-in: " + std::string(s.message()));
  }
  client::GrpcTransportOptions t;
  t.address = address;
  t.ca_pem = ca_pem;
  t.credentials = credentials;
  t.call_timeout = std::chrono::seconds(120);
  client::SyncEngine engine(db->get(), client::MakeGrpcTransport(t), client::SyncOptions{});
  Emit({{"event", "ready"}});

  const auto start = std::chrono::steady_clock::now();
  int64_t pulled = 0;
  int cycles = 0;
  while (cycles < kMaxCycles && pulled < expect) {
    absl::Status s = engine.SyncOnce();
    ++cycles;
    if (!s.ok()) return Fail("SyncOnce: " + std::string(s.message()));
    pulled += engine.Progress().pulled;
  }
  const double seconds = crmsync::bench::e2e::Seconds(start, std::chrono::steady_clock::now());
  const client::SyncProgress progress = engine.Progress();
  auto leads = (*db)->List(crmsync::v1::ENTITY_TYPE_LEAD);
  if (!leads.ok()) return Fail("List: " + std::string(leads.status().message()));
  if (static_cast<int64_t>(leads->size()) < expect) {
    return Fail("the store holds " + std::to_string(leads->size()) + " leads, expected " +
                std::to_string(expect));
  }
  Emit({{"event", "result"},
        {"records", pulled},
        {"leads_in_store", leads->size()},
        {"seconds", seconds},
        {"per_second", static_cast<double>(pulled) / seconds},
        {"cycles", cycles},
        {"encrypted", !key.empty()},
        {"checksum_mismatch", progress.checksum_mismatch},
        {"store_bytes", FileBytes(db_path) + FileBytes(db_path + "-wal")}});
  return 0;
}
