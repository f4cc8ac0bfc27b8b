// Client SDK benchmarks: local write latency (local view + outbox in one
// durable transaction), and the nearby-coupon query.
// Run: ./build/bench/bench_client
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "crmsync/client/database.h"
#include "crmsync/client/repository.h"

namespace {

using namespace crmsync::client;  // NOLINT: benchmark file
namespace v1 = crmsync::v1;

class TempStore {
 public:
  explicit TempStore(const std::string& key) {
    char tmpl[] = "/tmp/crmsync-bench-XXXXXX";
    dir_ = mkdtemp(tmpl);
    DatabaseOptions o;
    o.path = dir_ + "/bench.db";
    o.key = key;
    o.device_id = "bench-device";
    o.user_id = "u-bench";
    db_ = *Database::Open(o);
  }
  ~TempStore() {
    db_.reset();
    (void)system(("rm -rf '" + dir_ + "'").c_str());
  }
  Database* db() { return db_.get(); }

 private:
  std::string dir_;
  std::unique_ptr<Database> db_;
};

void ReportPercentiles(benchmark::State& state, std::vector<double>* us) {
  if (us->empty()) return;
  std::sort(us->begin(), us->end());
  state.counters["p50_us"] = (*us)[us->size() / 2];
  state.counters["p99_us"] = (*us)[us->size() * 99 / 100];
}

// Arg 0: 1 = encrypted (SQLCipher), 0 = not. Each iteration updates a lead
// (a new outbox entry, committed with synchronous=FULL).
void BM_LocalUpdateWithOutbox(benchmark::State& state) {
  TempStore store(state.range(0) ? "bench-key" : "");
  Repository<v1::Lead> leads(store.db());
  v1::Lead lead;
  lead.set_id("lead-1");
  lead.set_last_name("Bench");
  lead.set_owner_user_id("u-bench");
  if (!leads.Create(lead).ok()) state.SkipWithError("create failed");
  std::vector<double> us;
  int64_t i = 0;
  for (auto _ : state) {
    lead.set_notes("note " + std::to_string(++i));
    const auto start = std::chrono::steady_clock::now();
    auto r = leads.Update(lead);
    const auto end = std::chrono::steady_clock::now();
    if (!r.ok()) state.SkipWithError("update failed");
    us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  ReportPercentiles(state, &us);
}
BENCHMARK(BM_LocalUpdateWithOutbox)
    ->Arg(0)
    ->Arg(1)
    ->Iterations(2000)
    ->Unit(benchmark::kMicrosecond);

// 10,000 coupons scattered over France; the query asks around Paris.
void BM_CouponsNear(benchmark::State& state) {
  TempStore store("bench-key");
  Repository<v1::Coupon> coupons(store.db());
  const int64_t now_s = 1'790'000'000;
  uint64_t x = 12345;
  for (int i = 0; i < 10000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    v1::Coupon c;
    c.set_id("coupon-" + std::to_string(i));
    c.set_title("Coupon " + std::to_string(i));
    c.set_active(true);
    c.mutable_valid_from()->set_seconds(now_s - 3600);
    c.mutable_valid_until()->set_seconds(now_s + 3600);
    auto* circle = c.mutable_geofence()->mutable_circle();
    circle->mutable_center()->set_latitude(43.0 + static_cast<double>(x >> 40) / (1 << 24) * 8.0);
    circle->mutable_center()->set_longitude(-1.0 + static_cast<double>((x >> 16) & 0xffffff) /
                                                       (1 << 24) * 8.0);
    circle->set_radius_m(2000);
    if (!coupons.Create(c).ok()) state.SkipWithError("create failed");
  }
  std::vector<double> us;
  size_t hits = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    auto r = store.db()->CouponsNear(48.8606, 2.3376, 3000, now_s * 1000);
    const auto end = std::chrono::steady_clock::now();
    if (!r.ok()) state.SkipWithError("query failed");
    hits = r->size();
    us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  state.counters["hits"] = static_cast<double>(hits);
  ReportPercentiles(state, &us);
}
BENCHMARK(BM_CouponsNear)->Iterations(500)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
