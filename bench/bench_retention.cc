// A year of field work through the server's push path, with the clock
// advanced a day at a time, on SQLite and PostgreSQL: how many rows the
// exactly-once log (applied_mutations), the claim counters (claims) and
// the applied floors hold over time, once with bounded storage (devices
// acknowledge the results they stored, the pruner runs daily) and once
// without (no acknowledgements, no pruner: what the tables held before).
// docs/storage.md, "Bounded storage", has the numbers.
//
//   bench_retention [--days 365] [--devices 20] [--edits 20] [--tills 2]
//                   [--redemptions 10] [--customers 200] [--retention-days 30]
//                   [--stores sqlite,postgres] [--report-every 30] [--check]
//
// The world: `devices` sales devices each push one batch of `edits` lead
// edits a day (creating five leads first) and then pull up to date; every
// 30 days a tenth of them is retired (never heard from again) and replaced
// by new ones; `tills` store terminals redeem `redemptions` coupons a day
// for random customers among `customers`; an admin device creates a coupon
// every week, valid 14 days, limited to 3 redemptions per customer.
// --check exits 1 unless the pruned tables stay within their bound (every
// active device's last batch; the counters of the coupons that can still
// matter) and below the unpruned ones.
#include <sqlite3.h>
#include <CLI/CLI.hpp>

#define PQXX_HAVE_OPTIONAL 1
#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "crmsync/sync/policy_table.h"
#include "logic/clock.h"
#include "logic/pruner.h"
#include "logic/push_handler.h"
#include "pg_cluster.h"
#include "store/store.h"
#include "version.h"

namespace crmsync::bench {
namespace {

namespace v1 = ::crmsync::v1;
using server::Principal;
using SteadyClock = std::chrono::steady_clock;

constexpr char kTenant[] = "t-bench";
constexpr int64_t kStartMs = 1'800'000'000'000;
constexpr int64_t kDayMs = 24LL * 3600 * 1000;
constexpr int kLeadsPerDevice = 5;
constexpr int kCouponValidDays = 14;
constexpr int kCouponEveryDays = 7;

struct Options {
  int days = 365;
  int devices = 20;
  int edits = 20;
  int tills = 2;
  int redemptions = 10;
  int customers = 200;
  int retention_days = 30;
  int report_every = 30;
  std::string stores = "sqlite,postgres";
  bool check = false;
};

struct Counts {
  int64_t applied = 0;
  int64_t claims = 0;
  int64_t floors = 0;
  int64_t records = 0;
};

// One device as the SDK would drive it: client_seq, and the results it has
// stored (everything before its pending batch).
struct Dev {
  std::string id;
  Principal who;
  int64_t seq = 0;
  int64_t acked = 0;
  std::vector<v1::RecordState> leads;
};

// Row counts read straight from the database (the store roles have no
// such call: this is the benchmark looking at the tables).
class Counter {
 public:
  virtual ~Counter() = default;
  virtual Counts Read() = 0;
};

class SqliteCounter final : public Counter {
 public:
  explicit SqliteCounter(const std::string& path) {
    sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr);
  }
  ~SqliteCounter() override { sqlite3_close(db_); }
  Counts Read() override {
    return {Count("applied_mutations"), Count("claims"), Count("applied_floors"), Count("records")};
  }

 private:
  int64_t Count(const std::string& table) {
    sqlite3_stmt* st = nullptr;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db_, ("SELECT count(*) FROM " + table).c_str(), -1, &st, nullptr) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
  }
  sqlite3* db_ = nullptr;
};

class PgCounter final : public Counter {
 public:
  explicit PgCounter(const std::string& conninfo) : conn_(conninfo) {}
  Counts Read() override {
    pqxx::work w(conn_);
    auto count = [&](const char* table) {
      return w.exec1(std::string("SELECT count(*) FROM ") + table)[0].as<int64_t>();
    };
    Counts c{count("applied_mutations"), count("claims"), count("applied_floors"),
             count("records")};
    w.commit();
    return c;
  }

 private:
  pqxx::connection conn_;
};

v1::Mutation Base(Dev* d, const v1::RecordRef& ref, int64_t now_ms) {
  v1::Mutation m;
  m.set_client_seq(++d->seq);
  *m.mutable_record() = ref;
  m.set_operation(v1::OPERATION_UPSERT);
  m.mutable_hlc()->set_wall_time_ms(now_ms);
  m.mutable_hlc()->set_node_id(d->id);
  m.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
  m.mutable_provenance()->set_precision(v1::PRECISION_REPORTED);
  m.mutable_provenance()->set_author_user_id(d->who.user_id);
  m.mutable_provenance()->set_device_id(d->id);
  return m;
}

v1::Mutation CreateLead(Dev* d, int n, int64_t now_ms) {
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_LEAD);
  ref.set_id(d->id + "-lead-" + std::to_string(n));
  v1::Mutation m = Base(d, ref, now_ms);
  v1::Lead* l = m.mutable_values()->mutable_lead();
  l->set_id(ref.id());
  l->set_first_name("Lead");
  l->set_last_name(std::to_string(n));
  l->set_owner_user_id(d->who.user_id);
  l->set_team_id(d->who.team_id);
  for (const char* p : {"id", "first_name", "last_name", "owner_user_id", "team_id"}) {
    m.mutable_update_mask()->add_paths(p);
  }
  return m;
}

v1::Mutation EditLead(Dev* d, const v1::RecordState& base, const std::string& phone,
                      int64_t now_ms) {
  v1::Mutation m = Base(d, base.ref(), now_ms);
  m.mutable_values()->mutable_lead()->set_id(base.ref().id());
  m.mutable_values()->mutable_lead()->set_phone(phone);
  m.mutable_update_mask()->add_paths("phone");
  m.set_base_version(base.version());
  m.mutable_base_values()->mutable_lead()->set_phone(base.data().lead().phone());
  return m;
}

v1::Mutation CreateCoupon(Dev* d, int week, int64_t now_ms) {
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_COUPON);
  ref.set_id("coupon-w" + std::to_string(week));
  v1::Mutation m = Base(d, ref, now_ms);
  v1::Coupon* c = m.mutable_values()->mutable_coupon();
  c->set_id(ref.id());
  c->set_code("W" + std::to_string(week));
  c->set_active(true);
  c->set_percent_off_bp(1000);
  c->mutable_valid_from()->set_seconds(now_ms / 1000);
  c->mutable_valid_until()->set_seconds(now_ms / 1000 + kCouponValidDays * kDayMs / 1000);
  c->add_store_ids("store-1");
  c->set_max_redemptions_per_customer(3);
  for (const char* p : {"id", "code", "active", "percent_off_bp", "valid_from", "valid_until",
                        "store_ids", "max_redemptions_per_customer"}) {
    m.mutable_update_mask()->add_paths(p);
  }
  return m;
}

v1::Mutation Redeem(Dev* d, const std::string& coupon, const std::string& customer,
                    int64_t now_ms) {
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_REDEMPTION);
  ref.set_id(d->id + "-r" + std::to_string(d->seq + 1));
  v1::Mutation m = Base(d, ref, now_ms);
  m.set_operation(v1::OPERATION_REDEEM);
  v1::Redemption* r = m.mutable_values()->mutable_redemption();
  r->set_id(ref.id());
  r->set_coupon_id(coupon);
  r->set_store_id(d->who.store_id);
  r->set_device_id(d->id);
  r->set_loyalty_account_id(customer);
  r->set_status(v1::REDEMPTION_STATUS_PENDING);
  r->mutable_redeemed_at()->set_seconds(now_ms / 1000);
  for (const char* p : {"id", "coupon_id", "store_id", "device_id", "loyalty_account_id", "status",
                        "redeemed_at"}) {
    m.mutable_update_mask()->add_paths(p);
  }
  return m;
}

class Run {
 public:
  Run(const Options& o, bool prune, server::Store* store)
      : o_(o), prune_(prune), store_(store), clock_(kStartMs), rng_(2026) {
    server::PushOptions push_options;
    push_options.retention_ms = o_.retention_days * kDayMs;
    push_ =
        std::make_unique<server::PushHandler>(&store_->changes(), &store_->directory(),
                                              &store_->audit(), &policies_, &clock_, push_options);
  }

  absl::Status Setup() {
    if (auto s = store_->directory().PutTenant({kTenant, "bench", "Bench"}); !s.ok()) return s;
    for (auto [id, role, store] : std::vector<std::tuple<std::string, v1::Role, std::string>>{
             {"rep", v1::ROLE_SALES_REP, ""},
             {"admin", v1::ROLE_ADMIN, ""},
             {"till", v1::ROLE_STORE_TERMINAL, "store-1"}}) {
      server::UserRow u;
      u.tenant_id = kTenant;
      u.user.set_id(id);
      u.user.set_username(id);
      u.user.set_role(role);
      u.user.set_team_id(role == v1::ROLE_SALES_REP ? "north" : "");
      u.user.set_store_id(store);
      if (auto s = store_->directory().PutUser(u); !s.ok()) return s;
    }
    auto admin = NewDevice("dev-admin", "admin", v1::ROLE_ADMIN, "", "");
    if (!admin.ok()) return admin.status();
    admin_ = *admin;
    for (int i = 0; i < o_.devices; ++i) {
      auto d = NewDevice("dev-" + std::to_string(next_device_++), "rep", v1::ROLE_SALES_REP,
                         "north", "");
      if (!d.ok()) return d.status();
      reps_.push_back(*d);
    }
    for (int i = 0; i < o_.tills; ++i) {
      auto d =
          NewDevice("till-" + std::to_string(i), "till", v1::ROLE_STORE_TERMINAL, "", "store-1");
      if (!d.ok()) return d.status();
      tills_.push_back(*d);
    }
    return absl::OkStatus();
  }

  // Simulates `day` (0-based).
  absl::Status Day(int day) {
    const int64_t now = kStartMs + day * kDayMs;
    clock_.Set(now);
    if (day > 0 && day % 30 == 0) {
      // A tenth of the devices is retired (lost, replaced) and never heard of again.
      for (int i = 0; i < std::max(1, o_.devices / 10); ++i) {
        const size_t victim = rng_() % reps_.size();
        auto d = NewDevice("dev-" + std::to_string(next_device_++), "rep", v1::ROLE_SALES_REP,
                           "north", "");
        if (!d.ok()) return d.status();
        reps_[victim] = *d;
      }
    }
    if (day % kCouponEveryDays == 0) {
      const int week = day / kCouponEveryDays;
      if (auto s = Push(&admin_, {CreateCoupon(&admin_, week, now)}, nullptr); !s.ok()) return s;
      coupons_.push_back({"coupon-w" + std::to_string(week), now + kCouponValidDays * kDayMs});
    }
    for (Dev& d : reps_) {
      std::vector<v1::Mutation> batch;
      int created = static_cast<int>(d.leads.size());
      for (int e = 0; e < o_.edits; ++e) {
        if (created < kLeadsPerDevice) {
          batch.push_back(CreateLead(&d, created++, now));
        } else if (d.leads.empty()) {
          break;  // its leads are created in this batch: edits start tomorrow
        } else {
          const v1::RecordState& lead = d.leads[static_cast<size_t>(e) % d.leads.size()];
          batch.push_back(EditLead(&d, lead, "+33 6 " + std::to_string(rng_() % 100000000), now));
        }
      }
      if (auto s = Push(&d, batch, &d.leads); !s.ok()) return s;
    }
    std::vector<std::string> valid;
    for (const auto& [id, until] : coupons_) {
      if (until >= now) valid.push_back(id);
    }
    for (Dev& t : tills_) {
      std::vector<v1::Mutation> batch;
      for (int r = 0; r < o_.redemptions && !valid.empty(); ++r) {
        batch.push_back(Redeem(&t, valid[rng_() % valid.size()],
                               "card-" + std::to_string(rng_() % o_.customers), now));
      }
      if (auto s = Push(&t, batch, nullptr); !s.ok()) return s;
    }
    if (prune_) {
      const auto started = SteadyClock::now();
      auto report = server::PruneTenant(&store_->changes(), &store_->directory(), kTenant, now,
                                        o_.retention_days * kDayMs);
      if (!report.ok()) return report.status();
      prune_seconds_ += std::chrono::duration<double>(SteadyClock::now() - started).count();
    }
    return absl::OkStatus();
  }

  double prune_seconds() const { return prune_seconds_; }

 private:
  absl::StatusOr<Dev> NewDevice(const std::string& id, const std::string& user, v1::Role role,
                                const std::string& team, const std::string& store) {
    server::DeviceRow row;
    row.tenant_id = kTenant;
    row.device.set_id(id);
    row.device.set_user_id(user);
    row.device.set_status(v1::DEVICE_STATUS_ACTIVE);
    row.device.mutable_registered_at()->set_seconds(clock_.NowMs() / 1000);
    if (auto s = store_->directory().PutDevice(row); !s.ok()) return s;
    Dev d;
    d.id = id;
    d.who = Principal{kTenant, user, role, team, store, id};
    return d;
  }

  // Pushes as the SDK does (acknowledging every result stored so far, in
  // the pruned run), keeps the returned records, then pulls up to date.
  absl::Status Push(Dev* d, const std::vector<v1::Mutation>& batch,
                    std::vector<v1::RecordState>* keep) {
    if (batch.empty()) return absl::OkStatus();
    v1::PushRequest request;
    request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
    if (prune_) request.set_results_acked_through(d->acked);
    for (const auto& m : batch) *request.add_mutations() = m;
    v1::PushResponse response;
    if (auto s = push_->Push(d->who, request, &response); !s.ok()) return s;
    d->acked = batch.back().client_seq();
    if (keep != nullptr) {
      for (const auto& r : response.results()) {
        if (!r.has_record()) continue;
        auto it = std::find_if(keep->begin(), keep->end(), [&](const v1::RecordState& s) {
          return s.ref().id() == r.record().ref().id();
        });
        if (it == keep->end()) {
          keep->push_back(r.record());
        } else {
          *it = r.record();
        }
      }
    }
    // A caught-up pull, as far as retention is concerned: the position.
    auto latest = store_->changes().LatestSeq(kTenant);
    if (!latest.ok()) return latest.status();
    return store_->directory().TouchDevice(kTenant, d->id, clock_.NowMs(), *latest);
  }

  const Options& o_;
  const bool prune_;
  server::Store* store_;
  server::ManualClock clock_;
  std::mt19937_64 rng_;
  sync::PolicyTable policies_ = sync::PolicyTable::Defaults();
  std::unique_ptr<server::PushHandler> push_;
  Dev admin_;
  std::vector<Dev> reps_;
  std::vector<Dev> tills_;
  std::vector<std::pair<std::string, int64_t>> coupons_;  // id, valid until
  int next_device_ = 0;
  double prune_seconds_ = 0;
};

struct Series {
  std::vector<std::pair<int, Counts>> rows;
  double seconds = 0;
  double prune_seconds = 0;
};

// One year (o.days) on one fresh database.
absl::StatusOr<Series> Simulate(const Options& o, bool prune, const std::string& spec,
                                const std::function<std::unique_ptr<Counter>()>& make_counter) {
  auto store = server::OpenStore(spec);
  if (!store.ok()) return store.status();
  if (auto s = (*store)->Migrate(); !s.ok()) return s;
  std::unique_ptr<Counter> counter = make_counter();
  Run run(o, prune, store->get());
  if (auto s = run.Setup(); !s.ok()) return s;
  Series series;
  const auto started = SteadyClock::now();
  for (int day = 0; day < o.days; ++day) {
    if (auto s = run.Day(day); !s.ok()) return s;
    if ((day + 1) % o.report_every == 0 || day + 1 == o.days) {
      series.rows.emplace_back(day + 1, counter->Read());
    }
  }
  series.seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
  series.prune_seconds = run.prune_seconds();
  return series;
}

// What the pruned tables may hold at most: each active device's last batch
// (every device acknowledges the batch before) plus the retired devices
// still within the retention; the counters of the coupons that can still
// matter (valid, or ended less than the retention ago), each a total and
// one per customer.
int64_t AppliedBound(const Options& o) {
  const int64_t retired_in_retention =
      int64_t{std::max(1, o.devices / 10)} * (o.retention_days / 30 + 2);
  return (o.devices + retired_in_retention) * o.edits + int64_t{o.tills} * o.redemptions + 1;
}
int64_t ClaimsBound(const Options& o) {
  const int64_t live_coupons =
      (kCouponValidDays + o.retention_days) / kCouponEveryDays + 2;  // +1 at each end
  return live_coupons * (o.customers + 1);
}

int Report(const Options& o, const std::string& name, const Series& pruned,
           const Series& unpruned) {
  std::printf(
      "\n### %s: %d days, %d sales devices x %d edits/day, %d tills x %d redemptions/day\n\n",
      name.c_str(), o.days, o.devices, o.edits, o.tills, o.redemptions);
  std::printf(
      "| day | applied_mutations, pruned | applied_mutations, not pruned | claims, pruned | "
      "claims, not pruned | applied_floors | records |\n|---:|---:|---:|---:|---:|---:|---:|\n");
  int64_t max_applied = 0, max_claims = 0;
  for (size_t i = 0; i < pruned.rows.size(); ++i) {
    const Counts& p = pruned.rows[i].second;
    const Counts& u = unpruned.rows[i].second;
    max_applied = std::max(max_applied, p.applied);
    max_claims = std::max(max_claims, p.claims);
    std::printf("| %d | %lld | %lld | %lld | %lld | %lld | %lld |\n", pruned.rows[i].first,
                static_cast<long long>(p.applied), static_cast<long long>(u.applied),
                static_cast<long long>(p.claims), static_cast<long long>(u.claims),
                static_cast<long long>(p.floors), static_cast<long long>(p.records));
  }
  std::printf(
      "\nrun time: %.1f s pruned (of which the daily pruner %.2f s, %.1f ms a day), %.1f s not "
      "pruned\n",
      pruned.seconds, pruned.prune_seconds, 1000 * pruned.prune_seconds / o.days, unpruned.seconds);
  std::printf("bounds: applied_mutations <= %lld, claims <= %lld\n",
              static_cast<long long>(AppliedBound(o)), static_cast<long long>(ClaimsBound(o)));
  if (!o.check) return 0;
  int failures = 0;
  const Counts& last_p = pruned.rows.back().second;
  const Counts& last_u = unpruned.rows.back().second;
  if (max_applied > AppliedBound(o)) {
    std::fprintf(stderr, "FAIL %s: applied_mutations reached %lld, bound %lld\n", name.c_str(),
                 static_cast<long long>(max_applied), static_cast<long long>(AppliedBound(o)));
    ++failures;
  }
  if (max_claims > ClaimsBound(o)) {
    std::fprintf(stderr, "FAIL %s: claims reached %lld, bound %lld\n", name.c_str(),
                 static_cast<long long>(max_claims), static_cast<long long>(ClaimsBound(o)));
    ++failures;
  }
  if (last_p.applied >= last_u.applied || last_p.records != last_u.records) {
    std::fprintf(stderr, "FAIL %s: pruning kept %lld results of %lld, records %lld vs %lld\n",
                 name.c_str(), static_cast<long long>(last_p.applied),
                 static_cast<long long>(last_u.applied), static_cast<long long>(last_p.records),
                 static_cast<long long>(last_u.records));
    ++failures;
  }
  return failures;
}

int Main(int argc, char** argv) {
  Options o;
  CLI::App app("A year of field work: bounded exactly-once log and claim counters");
  app.add_option("--days", o.days)->check(CLI::Range(1, 3650));
  app.add_option("--devices", o.devices)->check(CLI::Range(1, 1000));
  app.add_option("--edits", o.edits, "lead edits per device per day")->check(CLI::Range(1, 500));
  app.add_option("--tills", o.tills)->check(CLI::Range(0, 100));
  app.add_option("--redemptions", o.redemptions, "per till per day")->check(CLI::Range(0, 500));
  app.add_option("--customers", o.customers)->check(CLI::Range(1, 100000));
  app.add_option("--retention-days", o.retention_days)->check(CLI::Range(1, 365));
  app.add_option("--report-every", o.report_every, "days between rows")->check(CLI::Range(1, 3650));
  app.add_option("--stores", o.stores, "sqlite,postgres");
  app.add_flag("--check", o.check, "exit 1 unless the pruned tables stay within their bounds");
  CLI11_PARSE(app, argc, argv);

  int failures = 0;
  auto fail = [&](const std::string& what, const absl::Status& s) {
    std::fprintf(stderr, "%s: %s\n", what.c_str(), std::string(s.message()).c_str());
    ++failures;
  };
  if (o.stores.find("sqlite") != std::string::npos) {
    char tmpl[] = "/tmp/crmsync-bench-retention-XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    std::vector<Series> runs;
    for (bool prune : {true, false}) {
      const std::string path = dir + (prune ? "/pruned.db" : "/unpruned.db");
      auto s = Simulate(o, prune, "sqlite:" + path,
                        [&] { return std::make_unique<SqliteCounter>(path); });
      if (!s.ok()) {
        fail("sqlite", s.status());
        break;
      }
      runs.push_back(std::move(*s));
    }
    if (runs.size() == 2) failures += Report(o, "SQLite store", runs[0], runs[1]);
    std::filesystem::remove_all(dir);
  }
  if (o.stores.find("postgres") != std::string::npos) {
    auto cluster = crmsync::testing::PgCluster::Start();
    if (!cluster.ok()) {
      fail("postgres", cluster.status());
    } else {
      std::vector<Series> runs;
      for (bool prune : {true, false}) {
        auto schema = (*cluster)->NewSchema(prune ? "retention_pruned" : "retention_unpruned");
        if (!schema.ok()) {
          fail("postgres", schema.status());
          break;
        }
        auto s = Simulate(o, prune, "postgres:" + *schema,
                          [&] { return std::make_unique<PgCounter>(*schema); });
        if (!s.ok()) {
          fail("postgres", s.status());
          break;
        }
        runs.push_back(std::move(*s));
      }
      if (runs.size() == 2) failures += Report(o, "PostgreSQL store", runs[0], runs[1]);
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace crmsync::bench

int main(int argc, char** argv) { return crmsync::bench::Main(argc, argv); }
