// "Which coupons are valid here?" over N coupons (default 100,000): the
// server's indexed query (FindCouponsNear, what ListCoupons runs) on both
// stores and the device SDK's indexed query (Database::CouponsNear), each
// next to a brute-force scan of every coupon measured in the same run, and
// a check that all of them return the same coupons for every query point.
//
//   bench_coupons [--coupons N] [--queries Q] [--stores sqlite,postgres]
//
// Coupons: circles of 300 m to 3 km (a quarter are polygons) scattered over
// an 8 x 8 degree box of France, a tenth inactive or expired. Queries: points
// around the box's cities, half with a radius of 0 (the coupon must contain
// the point), half within 0-5 km. Prints a Markdown table.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "crmsync/client/database.h"
#include "crmsync/sync/change.h"
#include "crmsync/sync/geo.h"
#include "database_sync.h"
#include "logic/coupon_index.h"
#include "pg_cluster.h"
#include "store/store.h"

namespace crmsync::bench {
namespace {

namespace v1 = ::crmsync::v1;
namespace geo = ::crmsync::sync::geo;
using Clock = std::chrono::steady_clock;
constexpr char kTenant[] = "t-bench";
constexpr int64_t kNowMs = 1'800'000'000'000;

double Micros(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

struct Query {
  v1::GeoPoint at;
  double radius_m = 0;
};

struct Timing {
  double p50_us = 0, p99_us = 0;
};

Timing Percentiles(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]};
}

std::vector<v1::RecordState> MakeCoupons(int n) {
  std::mt19937_64 rng(2026);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<v1::RecordState> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    v1::RecordState s;
    const std::string id = "coupon-" + std::to_string(i);
    s.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_COUPON);
    s.mutable_ref()->set_id(id);
    s.set_version(i + 1);
    s.set_created_version(i + 1);
    v1::Coupon* c = s.mutable_data()->mutable_coupon();
    c->set_id(id);
    c->set_code("CODE" + std::to_string(i));
    c->set_title("Coupon " + std::to_string(i));
    c->set_active(i % 20 != 0);
    c->mutable_valid_from()->set_seconds(kNowMs / 1000 - 3600);
    c->mutable_valid_until()->set_seconds(kNowMs / 1000 + (i % 20 == 7 ? -60 : 3600));
    const double lat = 43.0 + 8.0 * unit(rng), lon = -1.0 + 8.0 * unit(rng);
    if (i % 4 == 0) {
      const double h = 0.003 + 0.02 * unit(rng);
      for (auto [dy, dx] : {std::pair{-h, -h}, {-h, h}, {h, h}, {h, -h}}) {
        v1::GeoPoint* v = c->mutable_geofence()->mutable_polygon()->add_vertices();
        v->set_latitude(lat + dy);
        v->set_longitude(lon + dx);
      }
    } else {
      auto* circle = c->mutable_geofence()->mutable_circle();
      circle->mutable_center()->set_latitude(lat);
      circle->mutable_center()->set_longitude(lon);
      circle->set_radius_m(300 + 2700 * unit(rng));
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<Query> MakeQueries(int n) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<Query> out;
  for (int i = 0; i < n; ++i) {
    Query q;
    q.at.set_latitude(43.0 + 8.0 * unit(rng));
    q.at.set_longitude(-1.0 + 8.0 * unit(rng));
    q.radius_m = i % 2 == 0 ? 0 : 5000 * unit(rng);
    out.push_back(q);
  }
  return out;
}

using Answer = std::vector<std::string>;  // sorted coupon ids

std::vector<Answer> BruteForce(const std::vector<v1::RecordState>& coupons,
                               const std::vector<Query>& queries, Timing* timing) {
  std::vector<Answer> answers;
  std::vector<double> us;
  for (const Query& q : queries) {
    const auto start = Clock::now();
    Answer a;
    for (const v1::RecordState& s : coupons) {
      const v1::Coupon& c = s.data().coupon();
      if (geo::CouponNear(c, q.at, q.radius_m) && geo::CouponRedeemableAt(c, kNowMs)) {
        a.push_back(c.id());
      }
    }
    us.push_back(Micros(start, Clock::now()));
    std::sort(a.begin(), a.end());
    answers.push_back(std::move(a));
  }
  *timing = Percentiles(us);
  return answers;
}

// Runs `query` for every point twice (the first round warms caches) and
// returns the second round's answers, sorted ids each, and its timing.
template <typename QueryFn>
absl::StatusOr<std::vector<Answer>> TimedAnswers(const std::vector<Query>& queries, QueryFn query,
                                                 Timing* timing) {
  std::vector<Answer> answers;
  std::vector<double> us;
  for (int round = 0; round < 2; ++round) {
    answers.clear();
    us.clear();
    for (const Query& q : queries) {
      const auto start = Clock::now();
      absl::StatusOr<std::vector<v1::RecordState>> found = query(q);
      us.push_back(Micros(start, Clock::now()));
      if (!found.ok()) return found.status();
      Answer a;
      for (const auto& s : *found) a.push_back(s.ref().id());
      std::sort(a.begin(), a.end());
      answers.push_back(std::move(a));
    }
  }
  *timing = Percentiles(us);
  return answers;
}

absl::StatusOr<std::vector<Answer>> ServerQueries(const std::string& spec,
                                                  const std::vector<v1::RecordState>& coupons,
                                                  const std::vector<Query>& queries,
                                                  Timing* timing) {
  auto store = server::OpenStore(spec);
  if (!store.ok()) return store.status();
  if (auto s = (*store)->Migrate(); !s.ok()) return s;
  // Records and their index keys, as the push path writes them, in batches.
  for (size_t from = 0; from < coupons.size(); from += 2000) {
    absl::Status s = (*store)->changes().Write(kTenant, [&](server::WriteTx& tx) -> absl::Status {
      for (size_t i = from; i < std::min(coupons.size(), from + 2000); ++i) {
        auto seq = tx.NextSeq();
        if (!seq.ok()) return seq.status();
        v1::RecordState c = coupons[i];
        c.set_version(*seq);
        c.set_created_version(*seq);
        if (auto w = tx.PutRecord(c, nullptr); !w.ok()) return w;
        if (auto w = server::UpdateRecordIndex(&tx, nullptr, c); !w.ok()) return w;
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  return TimedAnswers(
      queries,
      [&](const Query& q) {
        return server::FindCouponsNear(&(*store)->changes(), kTenant, q.at, q.radius_m, true,
                                       kNowMs);
      },
      timing);
}

absl::StatusOr<std::vector<Answer>> DeviceQueries(const std::string& dir,
                                                  const std::vector<v1::RecordState>& coupons,
                                                  const std::vector<Query>& queries,
                                                  Timing* timing) {
  client::DatabaseOptions o;
  o.path = dir + "/device.db";
  o.device_id = "dev-till";
  auto db = client::Database::Open(o);
  if (!db.ok()) return db.status();
  // The coupons arrive as a terminal's bootstrap does: pulled pages.
  client::Database::SyncAccess sync(db->get());
  for (size_t from = 0; from < coupons.size(); from += 1000) {
    v1::PullResponse page;
    for (size_t i = from; i < std::min(coupons.size(), from + 1000); ++i) {
      *page.add_changes() = sync::BuildChange(coupons[i], 0, /*full=*/true);
    }
    page.set_next_cursor("c1." + std::to_string(std::min(coupons.size(), from + 1000)));
    if (auto applied = sync.ApplyPullPage(page); !applied.ok()) return applied.status();
  }
  return TimedAnswers(
      queries,
      [&](const Query& q) {
        return (*db)->CouponsNear(q.at.latitude(), q.at.longitude(), q.radius_m, kNowMs);
      },
      timing);
}

int Mismatches(const std::vector<Answer>& a, const std::vector<Answer>& b) {
  int n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{
      "Coupons-at-a-point queries over many coupons: server (SQLite, PostgreSQL) and "
      "device SDK, each against a brute-force scan in the same run",
      "bench_coupons"};
  int coupons_n = 100000, queries_n = 400;
  std::string stores = "sqlite,postgres";
  app.add_option("--coupons", coupons_n, "Coupons stored")->capture_default_str();
  app.add_option("--queries", queries_n, "Query points")->capture_default_str();
  app.add_option("--stores", stores, "Server stores: sqlite, postgres")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const auto coupons = MakeCoupons(coupons_n);
  const auto queries = MakeQueries(queries_n);
  Timing brute_t;
  const auto truth = BruteForce(coupons, queries, &brute_t);
  size_t hits = 0;
  for (const auto& a : truth) hits += a.size();

  std::string dir = std::filesystem::temp_directory_path() / "crmsync-bench-XXXXXX";
  char* made = mkdtemp(dir.data());
  dir = made;
  int failures = 0;
  std::printf("%d coupons, %d queries, %.1f coupons per answer on average\n\n", coupons_n,
              queries_n, static_cast<double>(hits) / queries_n);
  std::printf(
      "| where | indexed p50 | indexed p99 | brute-force scan p50 | speed-up | answers "
      "equal to the scan |\n|---|---|---|---|---|---|\n");
  auto row = [&](const char* where, const absl::StatusOr<std::vector<Answer>>& got,
                 const Timing& t) {
    if (!got.ok()) {
      std::fprintf(stderr, "%s: %s\n", where, std::string(got.status().message()).c_str());
      ++failures;
      return;
    }
    const int bad = Mismatches(truth, *got);
    failures += bad > 0;
    std::printf("| %s | %.0f µs | %.0f µs | %.0f µs | %.0fx | %d / %d |\n", where, t.p50_us,
                t.p99_us, brute_t.p50_us, brute_t.p50_us / t.p50_us, queries_n - bad, queries_n);
  };
  {
    Timing t;
    row("device SDK (SQLite)", DeviceQueries(dir, coupons, queries, &t), t);
  }
  if (stores.find("sqlite") != std::string::npos) {
    Timing t;
    row("server, SQLite store", ServerQueries("sqlite:" + dir + "/server.db", coupons, queries, &t),
        t);
  }
  if (stores.find("postgres") != std::string::npos) {
    auto cluster = crmsync::testing::PgCluster::Start();
    if (!cluster.ok()) {
      std::fprintf(stderr, "postgres: %s\n", std::string(cluster.status().message()).c_str());
      ++failures;
    } else {
      auto schema = (*cluster)->NewSchema("bench_coupons");
      Timing t;
      if (!schema.ok()) {
        ++failures;
      } else {
        row("server, PostgreSQL store", ServerQueries("postgres:" + *schema, coupons, queries, &t),
            t);
      }
    }
  }
  std::filesystem::remove_all(dir);
  std::printf("\n(the brute-force scan runs over coupons already in memory: no storage cost)\n");
  return failures == 0 ? 0 : 1;
}

}  // namespace crmsync::bench

int main(int argc, char** argv) { return crmsync::bench::Main(argc, argv); }
