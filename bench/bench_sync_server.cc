// Push and pull throughput of the server's sync handlers on both stores,
// next to a raw libpqxx batched upsert of the same rows measured in the same
// run (so the ratio is meaningful on a noisy machine).
//
//   bench_sync_server [--records N] [--devices D] [--batch B] [--stores sqlite,postgres]
//
// PostgreSQL: a throwaway cluster is started (or CRMSYNC_TEST_PG_URI used).
// Prints a Markdown table.
#include <CLI/CLI.hpp>

#define PQXX_HAVE_OPTIONAL 1
#include <pqxx/pqxx>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "logic/clock.h"
#include "logic/hashing.h"
#include "logic/pull_handler.h"
#include "logic/push_handler.h"
#include "pg_cluster.h"
#include "store/store.h"
#include "version.h"

namespace crmsync::bench {
namespace {

namespace v1 = ::crmsync::v1;
using server::Principal;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

v1::Mutation LeadCreate(int device, int64_t seq, int index, int64_t now_ms) {
  v1::Mutation m;
  m.set_client_seq(seq);
  m.mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  std::string id = "lead-" + std::to_string(device) + "-" + std::to_string(index);
  m.mutable_record()->set_id(id);
  m.set_operation(v1::OPERATION_UPSERT);
  v1::Lead* l = m.mutable_values()->mutable_lead();
  l->set_id(id);
  // A different person per device and index (the server flags leads of
  // one person as likely duplicates, which is not what is measured).
  const int64_t person = int64_t{device} * 10'000'000 + index;
  l->set_first_name("First" + std::to_string(person));
  l->set_last_name("Last" + std::to_string(person));
  l->set_company("Company " + std::to_string(index % 997));
  l->set_email("lead" + std::to_string(person) + "@example.com");
  l->set_phone("+44 7" + std::to_string(100'000'000 + person % 900'000'000));
  l->set_status(v1::LEAD_STATUS_NEW);
  l->set_owner_user_id("rep");
  l->set_team_id("team");
  l->set_visibility(v1::VISIBILITY_TEAM);
  for (const char* f : {"id", "first_name", "last_name", "company", "email", "phone", "status",
                        "owner_user_id", "team_id", "visibility"}) {
    m.mutable_update_mask()->add_paths(f);
  }
  m.mutable_hlc()->set_wall_time_ms(now_ms);
  m.mutable_hlc()->set_logical(static_cast<uint32_t>(seq));
  m.mutable_hlc()->set_node_id("bench-" + std::to_string(device));
  m.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
  m.mutable_provenance()->set_device_id("bench-" + std::to_string(device));
  return m;
}

struct Figures {
  double push_per_s = 0;
  double pull_per_s = 0;
  double raw_per_s = 0;  // PostgreSQL only
};

absl::Status Seed(server::Store* store) {
  if (auto s = store->directory().PutTenant({"t-bench", "bench", "Bench"}); !s.ok()) return s;
  server::UserRow rep;
  rep.tenant_id = "t-bench";
  rep.user.set_id("rep");
  rep.user.set_username("rep");
  rep.user.set_role(v1::ROLE_SALES_REP);
  rep.user.set_team_id("team");
  return store->directory().PutUser(rep);
}

absl::StatusOr<Figures> RunStore(const std::string& spec, int records, int devices, int batch) {
  auto store = server::OpenStore(spec);
  if (!store.ok()) return store.status();
  if (auto s = (*store)->Migrate(); !s.ok()) return s;
  if (auto s = Seed(store->get()); !s.ok()) return s;
  server::SystemClock clock;
  sync::PolicyTable policies = sync::PolicyTable::Defaults();
  server::PushHandler push(&(*store)->changes(), &(*store)->directory(), &(*store)->audit(),
                           &policies, &clock, server::PushOptions{});
  server::PullHandler pull(&(*store)->changes(), &(*store)->directory(), &clock,
                           server::PullOptions{});

  Figures f;
  const int per_device = records / devices;
  auto start = Clock::now();
  for (int d = 0; d < devices; ++d) {
    Principal who{"t-bench", "rep", v1::ROLE_SALES_REP, "team", "", "bench-" + std::to_string(d)};
    server::DeviceRow row;
    row.tenant_id = "t-bench";
    row.device.set_id(who.device_id);
    row.device.set_user_id("rep");
    row.device.set_status(v1::DEVICE_STATUS_ACTIVE);
    if (auto s = (*store)->directory().PutDevice(row); !s.ok()) return s;
    int64_t seq = 0;
    for (int i = 0; i < per_device; i += batch) {
      v1::PushRequest req;
      req.mutable_client()->set_protocol_version(kMaxProtocolVersion);
      for (int j = i; j < std::min(per_device, i + batch); ++j) {
        *req.add_mutations() = LeadCreate(d, ++seq, j, clock.NowMs());
      }
      v1::PushResponse resp;
      if (auto s = push.Push(who, req, &resp); !s.ok()) return s;
    }
  }
  f.push_per_s = per_device * devices / Seconds(start, Clock::now());

  Principal reader{"t-bench", "rep", v1::ROLE_SALES_REP, "team", "", ""};
  start = Clock::now();
  std::string cursor;
  int64_t pulled = 0;
  for (int page = 0; page < 100000; ++page) {
    v1::PullRequest req;
    req.mutable_client()->set_protocol_version(kMaxProtocolVersion);
    req.set_cursor(cursor);
    req.set_page_size(1000);
    v1::PullResponse resp;
    if (auto s = pull.Pull(reader, req, &resp); !s.ok()) return s;
    pulled += resp.changes_size();
    cursor = resp.next_cursor();
    if (!resp.has_more()) break;
  }
  f.pull_per_s = pulled / Seconds(start, Clock::now());
  if (pulled != per_device * devices) {
    return absl::InternalError("bootstrap returned " + std::to_string(pulled) + " of " +
                               std::to_string(per_device * devices) + " records");
  }
  return f;
}

// The same rows written straight through libpqxx: one upsert per row of the
// serialized RecordState in batches of `batch` per transaction, no merge,
// no exactly-once bookkeeping, no change feed.
absl::StatusOr<double> RawPostgres(const std::string& conninfo, int records, int batch) {
  try {
    pqxx::connection conn(conninfo);
    {
      pqxx::work tx(conn);
      tx.exec0(
          "CREATE TABLE raw_records (tenant_id text, entity_type int, record_id text, "
          "version bigint, state bytea, PRIMARY KEY (tenant_id, entity_type, record_id))");
      tx.commit();
    }
    conn.prepare("upsert",
                 "INSERT INTO raw_records VALUES ($1, $2, $3, $4, $5) ON CONFLICT "
                 "(tenant_id, entity_type, record_id) DO UPDATE SET version = EXCLUDED.version, "
                 "state = EXCLUDED.state");
    auto start = Clock::now();
    int64_t version = 0;
    for (int i = 0; i < records; i += batch) {
      pqxx::work tx(conn);
      for (int j = i; j < std::min(records, i + batch); ++j) {
        v1::Mutation m = LeadCreate(0, j + 1, j, 0);
        v1::RecordState state;
        *state.mutable_ref() = m.record();
        *state.mutable_data() = m.values();
        state.set_version(++version);
        std::string bytes = state.SerializeAsString();
        pqxx::binarystring blob(bytes.data(), bytes.size());
        tx.exec_prepared("upsert", "t-bench", static_cast<int>(m.record().entity_type()),
                         m.record().id(), version, blob);
      }
      tx.commit();
    }
    return records / Seconds(start, Clock::now());
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("raw libpqxx: ") + e.what());
  }
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{
      "Push/pull throughput of crm-syncd's handlers on SQLite and PostgreSQL, next to a "
      "raw libpqxx batched upsert of the same rows",
      "bench_sync_server"};
  int records = 100000, devices = 4, batch = 500;
  std::string stores = "sqlite,postgres";
  app.add_option("--records", records, "Records pushed then bootstrapped")->capture_default_str();
  app.add_option("--devices", devices, "Pushing devices")->capture_default_str();
  app.add_option("--batch", batch, "Mutations per push")->capture_default_str();
  app.add_option("--stores", stores, "Comma-separated: sqlite, postgres")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::printf(
      "| store | push (mutations/s) | bootstrap pull (records/s) | raw libpqxx upsert "
      "(rows/s) | push / raw |\n|---|---|---|---|---|\n");
  if (stores.find("sqlite") != std::string::npos) {
    std::string dir = std::filesystem::temp_directory_path() / "crmsync-bench-XXXXXX";
    char* made = mkdtemp(dir.data());
    auto f = RunStore(std::string("sqlite:") + made + "/bench.db", records, devices, batch);
    std::filesystem::remove_all(made);
    if (!f.ok()) {
      std::fprintf(stderr, "sqlite: %s\n", std::string(f.status().message()).c_str());
      return 1;
    }
    std::printf("| SQLite | %.0f | %.0f | — | — |\n", f->push_per_s, f->pull_per_s);
  }
  if (stores.find("postgres") != std::string::npos) {
    auto cluster = crmsync::testing::PgCluster::Start();
    if (!cluster.ok()) {
      std::fprintf(stderr, "postgres: %s\n", std::string(cluster.status().message()).c_str());
      return 1;
    }
    auto sync_schema = (*cluster)->NewSchema("bench_sync");
    auto raw_schema = (*cluster)->NewSchema("bench_raw");
    if (!sync_schema.ok() || !raw_schema.ok()) return 1;
    auto raw = RawPostgres(*raw_schema, records, batch);
    auto f = RunStore("postgres:" + *sync_schema, records, devices, batch);
    if (!f.ok() || !raw.ok()) {
      std::fprintf(stderr, "postgres: %s %s\n", std::string(f.status().message()).c_str(),
                   std::string(raw.status().message()).c_str());
      return 1;
    }
    std::printf("| PostgreSQL | %.0f | %.0f | %.0f | %.0f %% |\n", f->push_per_s, f->pull_per_s,
                *raw, 100.0 * f->push_per_s / *raw);
  }
  return 0;
}

}  // namespace crmsync::bench

int main(int argc, char** argv) { return crmsync::bench::Main(argc, argv); }
