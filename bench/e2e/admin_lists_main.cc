// bench_admin_lists: AdminService list and count calls over gRPC against a
// real crm-syncd on a tenant of many records (1,000,000 by default), on the
// embedded store and on a throwaway PostgreSQL, with the latency of each
// call (first call, p50, p99) and, in the same run, how long one walk of the
// tenant's change feed takes (what these calls cost when they scanned it).
//
// The tenant is written straight into the store before crm-syncd starts
// (write transactions of 2,000 records, as the push path stores them):
// leads, contacts and accounts, with conflicts (1 %, a tenth of them open),
// stores and coupons spread through the feed, and devices of 100 users.
// --check verifies the answers (every store and coupon listed once over the
// pages, the open-conflict counts) and exits non-zero when one is wrong.
//
// Run: ./build/bench/e2e/bench_admin_lists [--records 1000000] [--calls 200]
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "client_session.h"
#include "crmsync/v1/admin.grpc.pb.h"
#include "e2e_setup.h"
#include "pg_cluster.h"
#include "server_process.h"
#include "store/store.h"

namespace crmsync::bench::e2e {
namespace {

using SteadyClock = std::chrono::steady_clock;

// The demo tenant crm-syncd creates (--demo-tenant): sign-in name "demo".
constexpr char kTenant[] = "t-demo";
constexpr char kTenantName[] = "demo";
constexpr int kUsers = 100;
constexpr int kDevices = 1000;
constexpr int kBatch = 2000;

struct Shape {
  int64_t records = 1'000'000;
  // Per 10,000 records.
  int conflicts_per_10k = 100;
  int stores_per_10k = 5;
  int coupons_per_10k = 50;
};

struct Expected {
  int64_t stores = 0;
  int64_t coupons = 0;
  int64_t open_conflicts = 0;
  std::map<std::string, int64_t> open_by_user;
};

std::string UserId(int64_t i) { return "u-rep-" + std::to_string(i % kUsers); }

v1::RecordState Base(v1::EntityType type, const std::string& id, int64_t seq,
                     const std::string& owner) {
  v1::RecordState s;
  s.mutable_ref()->set_entity_type(type);
  s.mutable_ref()->set_id(id);
  s.set_version(seq);
  s.set_created_version(seq);
  s.mutable_scope()->set_owner_user_id(owner);
  s.mutable_scope()->set_team_id("team-bench");
  return s;
}

// Field states as a device's edit leaves them, one per written path.
void Stamp(v1::RecordState* s, const std::vector<std::string>& paths) {
  for (const std::string& path : paths) {
    v1::FieldState& f = (*s->mutable_fields())[path];
    f.set_version(s->version());
    f.mutable_hlc()->set_wall_time_ms(1'780'000'000'000 + s->version());
    f.mutable_hlc()->set_node_id("dev-bench");
    f.mutable_provenance()->set_author_user_id(s->scope().owner_user_id());
    f.mutable_provenance()->set_device_id("dev-bench");
    f.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
  }
}

v1::RecordState Crm(int64_t i, int64_t seq) {
  const std::string owner = UserId(i);
  const std::string n = std::to_string(i);
  switch (i % 10) {
    case 0: {
      v1::RecordState s = Base(v1::ENTITY_TYPE_ACCOUNT, "acc-" + n, seq, owner);
      v1::Account* a = s.mutable_data()->mutable_account();
      a->set_id("acc-" + n);
      a->set_name("Account " + n + " GmbH");
      a->set_owner_user_id(owner);
      a->set_team_id("team-bench");
      Stamp(&s, {"name", "owner_user_id", "team_id"});
      return s;
    }
    case 1:
    case 2: {
      v1::RecordState s = Base(v1::ENTITY_TYPE_CONTACT, "con-" + n, seq, owner);
      v1::Contact* c = s.mutable_data()->mutable_contact();
      c->set_id("con-" + n);
      c->set_first_name("Ada");
      c->set_last_name("Contact " + n);
      c->set_email("contact" + n + "@example.com");
      c->set_owner_user_id(owner);
      c->set_team_id("team-bench");
      Stamp(&s, {"first_name", "last_name", "email", "owner_user_id", "team_id"});
      return s;
    }
    default: {
      v1::RecordState s = Base(v1::ENTITY_TYPE_LEAD, "lead-" + n, seq, owner);
      v1::Lead* l = s.mutable_data()->mutable_lead();
      l->set_id("lead-" + n);
      l->set_first_name("Grace");
      l->set_last_name("Lead " + n);
      l->set_company("Company " + n);
      l->set_email("lead" + n + "@example.com");
      l->set_phone("+3361234" + n);
      l->set_owner_user_id(owner);
      l->set_team_id("team-bench");
      l->set_notes("Met at the trade fair; wants a quote for the spring range.");
      Stamp(&s, {"first_name", "last_name", "company", "email", "phone", "owner_user_id", "team_id",
                 "notes"});
      return s;
    }
  }
}

v1::RecordState Conflict(int64_t i, int64_t seq, bool open) {
  const std::string owner = UserId(i);
  const std::string id = "cf-" + std::to_string(i);
  v1::RecordState s = Base(v1::ENTITY_TYPE_CONFLICT, id, seq, owner);
  v1::Conflict* c = s.mutable_data()->mutable_conflict();
  c->set_id(id);
  c->mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  c->mutable_record()->set_id("lead-" + std::to_string(i));
  c->set_field_path("phone");
  c->set_status(open ? v1::CONFLICT_STATUS_OPEN : v1::CONFLICT_STATUS_RESOLVED);
  c->mutable_server_value()->mutable_lead()->set_phone("+33600000001");
  c->mutable_client_value()->mutable_lead()->set_phone("+33600000002");
  c->set_owner_user_id(owner);
  Stamp(&s, {"status"});
  return s;
}

v1::RecordState StoreRecord(int64_t i, int64_t seq) {
  const std::string id = "store-" + std::to_string(i);
  v1::RecordState s = Base(v1::ENTITY_TYPE_STORE, id, seq, "");
  v1::Store* st = s.mutable_data()->mutable_store();
  st->set_id(id);
  st->set_name("Store " + std::to_string(i));
  st->mutable_location()->set_latitude(43.0 + static_cast<double>(i % 100) / 100.0);
  st->mutable_location()->set_longitude(5.0 + static_cast<double>(i % 37) / 10.0);
  st->set_time_zone("Europe/Paris");
  Stamp(&s, {"name", "location", "time_zone"});
  return s;
}

v1::RecordState CouponRecord(int64_t i, int64_t seq) {
  const std::string id = "coupon-" + std::to_string(i);
  v1::RecordState s = Base(v1::ENTITY_TYPE_COUPON, id, seq, "");
  v1::Coupon* c = s.mutable_data()->mutable_coupon();
  c->set_id(id);
  c->set_code("SPRING" + std::to_string(i));
  c->set_title("Spring offer " + std::to_string(i));
  c->set_active(true);
  Stamp(&s, {"code", "title", "active"});
  return s;
}

// Writes the tenant: records, with conflicts, stores and coupons spread
// through the feed; then the devices.
absl::Status Populate(server::Store* store, const Shape& shape) {
  if (auto s = store->Migrate(); !s.ok()) return s;
  const auto t0 = SteadyClock::now();
  int64_t conflicts = 0;
  for (int64_t from = 0; from < shape.records; from += kBatch) {
    const int64_t to = std::min<int64_t>(shape.records, from + kBatch);
    absl::Status s = store->changes().Write(kTenant, [&](server::WriteTx& tx) -> absl::Status {
      int64_t made = conflicts;
      for (int64_t i = from; i < to; ++i) {
        std::vector<v1::RecordState> rows;
        rows.push_back(Crm(i, 0));
        if (i % 10'000 < shape.conflicts_per_10k) {
          rows.push_back(Conflict(i, 0, /*open=*/made % 10 == 0));
          ++made;
        }
        if ((i + 5'000) % 10'000 < shape.stores_per_10k) rows.push_back(StoreRecord(i, 0));
        if ((i + 2'500) % 10'000 < shape.coupons_per_10k) rows.push_back(CouponRecord(i, 0));
        for (v1::RecordState& row : rows) {
          auto seq = tx.NextSeq();
          if (!seq.ok()) return seq.status();
          row.set_version(*seq);
          row.set_created_version(*seq);
          for (auto& [path, field] : *row.mutable_fields()) field.set_version(*seq);
          if (auto w = tx.PutRecord(row, nullptr); !w.ok()) return w;
        }
      }
      conflicts = made;
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  for (int d = 0; d < kDevices; ++d) {
    server::DeviceRow row;
    row.tenant_id = kTenant;
    row.device.set_id("dev-bench-" + std::to_string(d));
    row.device.set_user_id(UserId(d));
    row.device.set_status(v1::DEVICE_STATUS_ACTIVE);
    if (auto s = store->directory().PutDevice(row); !s.ok()) return s;
  }
  std::fprintf(stderr, "  populated %lld records in %.1f s\n",
               static_cast<long long>(shape.records),
               std::chrono::duration<double>(SteadyClock::now() - t0).count());
  return absl::OkStatus();
}

// One walk of the whole feed in pages of 1,000 rows: what each of the
// measured calls did before they read from indexes. It also counts what
// the answers must show (the demo tenant's own records included).
absl::StatusOr<double> FeedWalkMs(server::Store* store, Expected* expected) {
  const auto t0 = SteadyClock::now();
  int64_t position = 0;
  while (true) {
    auto rows = store->changes().ReadSince(kTenant, position, 1000);
    if (!rows.ok()) return rows.status();
    for (const server::RecordRow& row : *rows) {
      const v1::RecordState& s = row.state;
      position = s.version();
      if (s.deleted()) continue;
      switch (s.ref().entity_type()) {
        case v1::ENTITY_TYPE_STORE: ++expected->stores; break;
        case v1::ENTITY_TYPE_COUPON: ++expected->coupons; break;
        case v1::ENTITY_TYPE_CONFLICT:
          if (s.data().conflict().status() == v1::CONFLICT_STATUS_OPEN) {
            ++expected->open_conflicts;
            ++expected->open_by_user[s.data().conflict().owner_user_id()];
          }
          break;
        default: break;
      }
    }
    if (rows->size() < 1000) break;
  }
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
}

struct CallFigures {
  double first_ms = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

class AdminClient {
 public:
  AdminClient(std::shared_ptr<grpc::Channel> channel, std::string token)
      : stub_(v1::AdminService::NewStub(channel)), token_(std::move(token)) {}

  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (v1::AdminService::Stub::*method)(grpc::ClientContext*, const Req&,
                                                                   Resp*),
                    const Req& req, Resp* resp) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token_);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    return (stub_.get()->*method)(&ctx, req, resp);
  }

 private:
  std::unique_ptr<v1::AdminService::Stub> stub_;
  std::string token_;
};

// Times `call` (one RPC; false on failure) `calls` times after a first call.
template <typename Fn>
absl::StatusOr<CallFigures> Time(int calls, Fn call) {
  CallFigures f;
  std::vector<double> ms;
  for (int i = 0; i <= calls; ++i) {
    const auto t0 = SteadyClock::now();
    grpc::Status s = call();
    const double took = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
    if (!s.ok()) return absl::InternalError(s.error_message());
    if (i == 0) {
      f.first_ms = took;
    } else {
      ms.push_back(took);
    }
  }
  std::sort(ms.begin(), ms.end());
  if (!ms.empty()) {
    f.p50_ms = ms[ms.size() / 2];
    f.p99_ms = ms[std::min(ms.size() - 1, static_cast<size_t>(ms.size() * 0.99))];
  }
  return f;
}

// The ids a list call returns over all its pages.
template <typename Req, typename Resp, typename IdsOf>
absl::StatusOr<std::vector<std::string>> ListAll(
    AdminClient& client,
    grpc::Status (v1::AdminService::Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
    Req req, IdsOf ids_of) {
  std::vector<std::string> ids;
  while (true) {
    Resp page;
    grpc::Status s = client.Call(method, req, &page);
    if (!s.ok()) return absl::InternalError(s.error_message());
    ids_of(page, &ids);
    if (page.next_page_token().empty()) return ids;
    req.set_page_token(page.next_page_token());
  }
}

// `ids` must hold `expected` distinct ids, each once.
void CheckListedOnce(const std::string& call, const std::vector<std::string>& ids, int64_t expected,
                     std::vector<std::string>* wrong) {
  const std::set<std::string> distinct(ids.begin(), ids.end());
  if (static_cast<int64_t>(ids.size()) != expected ||
      static_cast<int64_t>(distinct.size()) != expected) {
    wrong->push_back(call + " listed " + std::to_string(ids.size()) + " (" +
                     std::to_string(distinct.size()) + " distinct), expected " +
                     std::to_string(expected));
  }
}

struct StoreRun {
  std::map<std::string, CallFigures> calls;
  double feed_walk_ms = 0;
  std::vector<std::string> wrong;
};

absl::StatusOr<StoreRun> RunStore(const std::string& spec, const std::string& dir,
                                  const ServerMaterial& material, const Shape& shape, int calls,
                                  bool check) {
  StoreRun run;
  // The demo tenant and its admin first (crm-syncd creates them), then the
  // records, with crm-syncd stopped, then crm-syncd again to measure.
  {
    testing::ServerProcess server;
    std::string error;
    if (!server.Start(SyncdArgs(material, spec, /*demo_tenant=*/true, {}), &error)) {
      return absl::InternalError("crm-syncd did not start: " + error);
    }
    server.Stop(SIGTERM);
  }
  Expected expected;
  {
    auto store = server::OpenStore(spec);
    if (!store.ok()) return store.status();
    if (auto s = Populate(store->get(), shape); !s.ok()) return s;
    auto walk = FeedWalkMs(store->get(), &expected);
    if (!walk.ok()) return walk.status();
    run.feed_walk_ms = *walk;
  }
  testing::ServerProcess server;
  std::string error;
  // Latency, not the per-caller rate limit (50 calls/s by default), is
  // measured: the limit is off for this instance.
  if (!server.Start(
          SyncdArgs(material, spec, /*demo_tenant=*/false, {"--rate-limit-per-second", "0"}),
          &error, std::chrono::seconds(120))) {
    return absl::InternalError("crm-syncd did not start: " + error);
  }
  auto channel = MakeChannel(EndpointOf(material, server.port()));
  auto admin = UserSession::SignIn(channel, kTenantName, "admin", "admin-demo-password");
  if (!admin.ok()) return admin.status();
  AdminClient client(channel, admin->token());
  using Stub = v1::AdminService::Stub;

  auto record = [&](const std::string& name, absl::StatusOr<CallFigures> f) -> absl::Status {
    if (!f.ok()) return absl::InternalError(name + ": " + std::string(f.status().message()));
    run.calls[name] = *f;
    std::fprintf(stderr, "  %-34s first %8.2f ms  p50 %7.2f ms  p99 %7.2f ms\n", name.c_str(),
                 f->first_ms, f->p50_ms, f->p99_ms);
    return absl::OkStatus();
  };
  v1::GetStatsResponse stats;
  if (auto s = record(
          "GetStats",
          Time(calls, [&] { return client.Call(&Stub::GetStats, v1::GetStatsRequest{}, &stats); }));
      !s.ok()) {
    return s;
  }
  v1::ListDevicesResponse devices;
  v1::ListDevicesRequest devices_req;
  devices_req.set_page_size(100);
  if (auto s = record(
          "ListDevices (pending conflicts)",
          Time(calls, [&] { return client.Call(&Stub::ListDevices, devices_req, &devices); }));
      !s.ok()) {
    return s;
  }
  v1::GetDeviceRequest device_req;
  device_req.set_device_id("dev-bench-7");
  v1::GetDeviceResponse device;
  if (auto s =
          record("GetDevice",
                 Time(calls, [&] { return client.Call(&Stub::GetDevice, device_req, &device); }));
      !s.ok()) {
    return s;
  }
  v1::ListConflictsResponse conflicts;
  v1::ListConflictsRequest conflicts_req;
  conflicts_req.set_page_size(50);
  if (auto s = record(
          "ListConflicts (open, 50)",
          Time(calls,
               [&] { return client.Call(&Stub::ListConflicts, conflicts_req, &conflicts); }));
      !s.ok()) {
    return s;
  }
  v1::ListStoresResponse stores;
  v1::ListStoresRequest stores_req;
  stores_req.set_page_size(100);
  if (auto s =
          record("ListStores (100)",
                 Time(calls, [&] { return client.Call(&Stub::ListStores, stores_req, &stores); }));
      !s.ok()) {
    return s;
  }
  v1::ListCouponsResponse coupons;
  v1::ListCouponsRequest coupons_req;
  coupons_req.set_page_size(100);
  coupons_req.set_include_inactive(true);
  if (auto s = record(
          "ListCoupons (100)",
          Time(calls, [&] { return client.Call(&Stub::ListCoupons, coupons_req, &coupons); }));
      !s.ok()) {
    return s;
  }

  if (check) {
    auto wrong = [&](const std::string& what) { run.wrong.push_back(what); };
    if (stats.open_conflicts() != expected.open_conflicts) {
      wrong("GetStats.open_conflicts " + std::to_string(stats.open_conflicts()) + ", expected " +
            std::to_string(expected.open_conflicts));
    }
    const int64_t want =
        expected.open_by_user.count(UserId(7)) ? expected.open_by_user[UserId(7)] : 0;
    if (device.device().pending_conflicts() != want) {
      wrong("GetDevice.pending_conflicts " + std::to_string(device.device().pending_conflicts()) +
            ", expected " + std::to_string(want));
    }
    for (const v1::Conflict& c : conflicts.conflicts()) {
      if (c.status() != v1::CONFLICT_STATUS_OPEN) wrong("ListConflicts returned a closed one");
    }
    // Every store and coupon exactly once over the pages.
    auto stores_listed = ListAll(client, &Stub::ListStores, stores_req,
                                 [](const v1::ListStoresResponse& page, auto* ids) {
                                   for (const v1::Store& st : page.stores())
                                     ids->push_back(st.id());
                                 });
    if (!stores_listed.ok()) return stores_listed.status();
    CheckListedOnce("ListStores", *stores_listed, expected.stores, &run.wrong);
    auto coupons_listed = ListAll(client, &Stub::ListCoupons, coupons_req,
                                  [](const v1::ListCouponsResponse& page, auto* ids) {
                                    for (const v1::Coupon& c : page.coupons())
                                      ids->push_back(c.id());
                                  });
    if (!coupons_listed.ok()) return coupons_listed.status();
    CheckListedOnce("ListCoupons", *coupons_listed, expected.coupons, &run.wrong);
  }
  server.Stop(SIGTERM);
  return run;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "AdminService list and count calls over gRPC against a real crm-syncd on a tenant of many "
      "records, on SQLite and on a throwaway PostgreSQL"};
  Shape shape;
  int calls = 200;
  std::string stores = "sqlite,postgres";
  bool check = false;
  app.add_option("--records", shape.records, "CRM records in the tenant")
      ->check(CLI::Range(int64_t{1000}, int64_t{100'000'000}));
  app.add_option("--calls", calls, "Timed calls of each RPC (after a first, timed apart)")
      ->check(CLI::Range(1, 100'000));
  app.add_option("--stores", stores, "Stores to run: sqlite, postgres or both (comma-separated)");
  app.add_flag("--check", check, "Verify the answers; exit 1 when one is wrong");
  CLI11_PARSE(app, argc, argv);

  const std::string dir = testing::MakeTempDir("bench-admin");
  auto material = MakeServerMaterial(dir, /*plaintext=*/false);
  if (!material.ok()) {
    std::fprintf(stderr, "%s\n", std::string(material.status().message()).c_str());
    return 1;
  }
  std::printf(
      "AdminService calls over gRPC (TLS), tenant of %lld records "
      "(%d conflicts, %d stores, %d coupons per 10,000), %d devices; %d timed calls each\n",
      static_cast<long long>(shape.records), shape.conflicts_per_10k, shape.stores_per_10k,
      shape.coupons_per_10k, kDevices, calls);
  std::printf(
      "\n| call | store | first call (ms) | p50 (ms) | p99 (ms) |\n|---|---|---|---|---|\n");
  int failures = 0;
  std::vector<std::string> walks;
  auto report = [&](const std::string& name, const absl::StatusOr<StoreRun>& run) {
    if (!run.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), std::string(run.status().message()).c_str());
      ++failures;
      return;
    }
    for (const auto& [call, f] : run->calls) {
      std::printf("| %s | %s | %.2f | %.2f | %.2f |\n", call.c_str(), name.c_str(), f.first_ms,
                  f.p50_ms, f.p99_ms);
    }
    char walk[160];
    std::snprintf(walk, sizeof(walk), "%s: one walk of the whole feed (in-process) %.0f ms",
                  name.c_str(), run->feed_walk_ms);
    walks.push_back(walk);
    for (const std::string& w : run->wrong) {
      std::fprintf(stderr, "%s: WRONG: %s\n", name.c_str(), w.c_str());
      ++failures;
    }
  };
  if (stores.find("sqlite") != std::string::npos) {
    std::fprintf(stderr, "SQLite:\n");
    report("SQLite", RunStore("sqlite:" + dir + "/admin.db", dir, *material, shape, calls, check));
  }
  if (stores.find("postgres") != std::string::npos) {
    std::fprintf(stderr, "PostgreSQL:\n");
    auto cluster = testing::PgCluster::Start();
    if (!cluster.ok()) {
      std::fprintf(stderr, "postgres: %s\n", std::string(cluster.status().message()).c_str());
      ++failures;
    } else {
      auto schema = (*cluster)->NewSchema("bench_admin");
      if (!schema.ok()) {
        std::fprintf(stderr, "postgres: %s\n", std::string(schema.status().message()).c_str());
        ++failures;
      } else {
        report("PostgreSQL", RunStore("postgres:" + *schema, dir, *material, shape, calls, check));
      }
    }
  }
  std::printf("\n");
  for (const std::string& w : walks) std::printf("%s\n", w.c_str());
  testing::RemoveTree(dir);
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace crmsync::bench::e2e

int main(int argc, char** argv) { return crmsync::bench::e2e::Main(argc, argv); }
