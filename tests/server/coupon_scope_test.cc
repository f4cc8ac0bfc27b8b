// Coupons on the map (logic/coupon_index.h) through the push and pull
// handlers, on both stores: a geofence puts the stores inside it in scope,
// stores moving in and out, expiry, the one-off index build, and the geo
// query compared with a brute-force scan.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "crmsync/sync/geo.h"
#include "handler_fixture.h"
#include "logic/coupon_index.h"

namespace crmsync::server::testing {
namespace {

namespace geo = ::crmsync::sync::geo;
using CouponScopeTest = HandlerTest;

constexpr double kParisLat = 48.8566, kParisLon = 2.3522;

v1::Record FenceCoupon(const std::string& id, double lat, double lon, double radius_m) {
  v1::Record r;
  v1::Coupon* c = r.mutable_coupon();
  c->set_id(id);
  c->set_code(id + "-CODE");
  c->set_active(true);
  c->set_percent_off_bp(500);
  c->mutable_valid_from()->set_seconds(kStartMs / 1000 - 3600);
  c->mutable_valid_until()->set_seconds(kStartMs / 1000 + 3600);
  c->mutable_geofence()->mutable_circle()->mutable_center()->set_latitude(lat);
  c->mutable_geofence()->mutable_circle()->mutable_center()->set_longitude(lon);
  c->mutable_geofence()->mutable_circle()->set_radius_m(radius_m);
  return r;
}

v1::Record StoreAt(const std::string& id, double lat, double lon) {
  v1::Record r;
  r.mutable_store()->set_id(id);
  r.mutable_store()->set_name("Store " + id);
  r.mutable_store()->mutable_location()->set_latitude(lat);
  r.mutable_store()->mutable_location()->set_longitude(lon);
  return r;
}

Principal TillOf(const std::string& store_id) {
  return Principal{kTenant, "till", v1::ROLE_STORE_TERMINAL, "", store_id, "dev-till"};
}

// What a terminal's replica holds after applying `changes` to `held`.
void Apply(const std::vector<v1::Change>& changes, std::set<std::string>* held) {
  for (const v1::Change& c : changes) {
    if (c.record().entity_type() != v1::ENTITY_TYPE_COUPON) continue;
    if (c.kind() == v1::CHANGE_KIND_LEFT_SCOPE || c.kind() == v1::CHANGE_KIND_TOMBSTONE) {
      held->erase(c.record().id());
    } else {
      held->insert(c.record().id());
    }
  }
}

TEST_P(CouponScopeTest, GeofenceContainingAStorePutsTheCouponInItsTerminalsScope) {
  Device admin("dev-admin", "admin");
  PushOk(Admin(), {admin.Create(StoreAt("store-louvre", 48.8606, 2.3376), kStartMs),
                   admin.Create(StoreAt("store-lyon", 45.76, 4.84), kStartMs)});
  PushOk(Admin(), {admin.Create(FenceCoupon("c-paris", kParisLat, kParisLon, 3000), kStartMs)});
  std::string louvre_cursor, lyon_cursor;
  std::set<std::string> louvre, lyon;
  Apply(PullAll(TillOf("store-louvre"), &louvre_cursor), &louvre);
  Apply(PullAll(TillOf("store-lyon"), &lyon_cursor), &lyon);
  EXPECT_THAT(louvre, ::testing::ElementsAre("c-paris"));
  EXPECT_TRUE(lyon.empty());
}

TEST_P(CouponScopeTest, StoresMovingInAndOutOfAFenceMoveTheCouponWithThem) {
  Device admin("dev-admin", "admin");
  PushOk(Admin(), {admin.Create(FenceCoupon("c-paris", kParisLat, kParisLon, 3000), kStartMs)});
  std::string cursor;
  std::set<std::string> held;
  Apply(PullAll(TillOf("store-new"), &cursor), &held);
  EXPECT_TRUE(held.empty());

  // A store opening inside the fence receives the coupon.
  auto opened = PushOk(Admin(), {admin.Create(StoreAt("store-new", 48.85, 2.35), kStartMs)});
  Apply(PullAll(TillOf("store-new"), &cursor), &held);
  EXPECT_THAT(held, ::testing::ElementsAre("c-paris"));

  // Moving it to Lyon takes the coupon away (a left-scope notice).
  v1::RecordState store = opened.results(0).record();
  auto moved = PushOk(Admin(), {admin.Update(store, StoreAt("store-new", 45.76, 4.84), {"location"},
                                             kStartMs + 1000)});
  ASSERT_EQ(moved.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  auto changes = PullAll(TillOf("store-new"), &cursor);
  Apply(changes, &held);
  EXPECT_TRUE(held.empty());
  bool left = false;
  for (const auto& c : changes) left |= c.kind() == v1::CHANGE_KIND_LEFT_SCOPE;
  EXPECT_TRUE(left);

  // And back: the whole coupon again.
  PushOk(Admin(), {admin.Update(moved.results(0).record(), StoreAt("store-new", 48.86, 2.34),
                                {"location"}, kStartMs + 2000)});
  changes = PullAll(TillOf("store-new"), &cursor);
  Apply(changes, &held);
  EXPECT_THAT(held, ::testing::ElementsAre("c-paris"));
  for (const auto& c : changes) {
    if (c.record().id() == "c-paris") {
      EXPECT_EQ(c.kind(), v1::CHANGE_KIND_UPSERT);
      EXPECT_EQ(c.values().coupon().code(), "c-paris-CODE") << "sent whole, not as a delta";
    }
  }
}

TEST_P(CouponScopeTest, ExpiredCouponsLeaveTerminalScopeThroughTheSweep) {
  Device admin("dev-admin", "admin");
  PushOk(Admin(), {admin.Create(StoreAt("store-louvre", 48.8606, 2.3376), kStartMs)});
  v1::Record soon = FenceCoupon("c-soon", kParisLat, kParisLon, 3000);
  soon.mutable_coupon()->mutable_valid_until()->set_seconds(kStartMs / 1000 + 60);
  v1::Record later = FenceCoupon("c-later", kParisLat, kParisLon, 3000);
  v1::Record endless = FenceCoupon("c-endless", kParisLat, kParisLon, 3000);
  endless.mutable_coupon()->clear_valid_until();
  PushOk(Admin(), {admin.Create(soon, kStartMs), admin.Create(later, kStartMs),
                   admin.Create(endless, kStartMs)});
  std::string cursor;
  std::set<std::string> held;
  Apply(PullAll(TillOf("store-louvre"), &cursor), &held);
  EXPECT_EQ(held.size(), 3u);

  int64_t last_seq = 0;
  auto none = ExpireCoupons(&store_->changes(), kTenant, kStartMs + 59'000, 100, &last_seq);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0);
  auto seq_before = store_->changes().LatestSeq(kTenant);

  auto one = ExpireCoupons(&store_->changes(), kTenant, kStartMs + 61'000, 100, &last_seq);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(*one, 1);
  EXPECT_EQ(last_seq, *seq_before + 1);
  auto changes = PullAll(TillOf("store-louvre"), &cursor);
  Apply(changes, &held);
  EXPECT_THAT(held, ::testing::UnorderedElementsAre("c-later", "c-endless"));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind(), v1::CHANGE_KIND_LEFT_SCOPE);

  // Idempotent: nothing more is due; the coupon itself is unchanged.
  auto again = ExpireCoupons(&store_->changes(), kTenant, kStartMs + 62'000, 100, &last_seq);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
  EXPECT_EQ(*store_->changes().LatestSeq(kTenant), last_seq);
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_COUPON);
  ref.set_id("c-soon");
  auto stored = store_->changes().GetRecord(kTenant, ref);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->data().coupon().code(), "c-soon-CODE");
  EXPECT_TRUE((*stored)->scope().store_ids().empty());

  // Two hours on, c-later is due too; a coupon without an end never is.
  auto later_due = ExpireCoupons(&store_->changes(), kTenant, kStartMs + 7200'000, 100, &last_seq);
  ASSERT_TRUE(later_due.ok());
  EXPECT_EQ(*later_due, 1);
  Apply(PullAll(TillOf("store-louvre"), &cursor), &held);
  EXPECT_THAT(held, ::testing::ElementsAre("c-endless"));
}

TEST_P(CouponScopeTest, IndexBuildCoversDataWrittenBeforeTheIndexExisted) {
  // Written straight into the store, as a server before the index did.
  ASSERT_TRUE(
      store_->changes()
          .Write(kTenant,
                 [&](WriteTx& tx) -> absl::Status {
                   for (auto [type, data] :
                        {std::pair{v1::ENTITY_TYPE_STORE, StoreAt("store-old", 48.85, 2.35)},
                         std::pair{v1::ENTITY_TYPE_COUPON,
                                   FenceCoupon("c-old", kParisLat, kParisLon, 3000)}}) {
                     auto seq = tx.NextSeq();
                     if (!seq.ok()) return seq.status();
                     v1::RecordState s;
                     s.mutable_ref()->set_entity_type(type);
                     s.mutable_ref()->set_id(type == v1::ENTITY_TYPE_STORE ? "store-old" : "c-old");
                     *s.mutable_data() = data;
                     s.set_version(*seq);
                     if (auto w = tx.PutRecord(s, nullptr); !w.ok()) return w;
                   }
                   return absl::OkStatus();
                 })
          .ok());
  v1::GeoPoint at;
  at.set_latitude(kParisLat);
  at.set_longitude(kParisLon);
  auto before = FindCouponsNear(&store_->changes(), kTenant, at, 0, false, kStartMs);
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->empty());

  ASSERT_TRUE(EnsureCouponIndex(&store_->changes(), kTenant).ok());
  auto after = FindCouponsNear(&store_->changes(), kTenant, at, 0, false, kStartMs);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 1u);
  EXPECT_THAT((*after)[0].scope().store_ids(), ::testing::ElementsAre("store-old"));
  const int64_t seq = *store_->changes().LatestSeq(kTenant);
  ASSERT_TRUE(EnsureCouponIndex(&store_->changes(), kTenant).ok());
  EXPECT_EQ(*store_->changes().LatestSeq(kTenant), seq) << "the second build does nothing";
}

// The server's geo answer against a brute-force scan of every coupon, with
// deactivated, exhausted, expired and fence-less coupons in the mix.
TEST_P(CouponScopeTest, CouponsNearMatchBruteForce) {
  std::mt19937_64 rng(41);
  std::uniform_real_distribution<double> unit(0, 1);
  Device admin("dev-admin", "admin");
  std::vector<v1::Mutation> batch;
  for (int i = 0; i < 400; ++i) {
    v1::Record r = FenceCoupon("c" + std::to_string(i), kParisLat + 0.2 * (unit(rng) - 0.5),
                               kParisLon + 0.3 * (unit(rng) - 0.5), 50 + 2500 * unit(rng));
    v1::Coupon* c = r.mutable_coupon();
    if (i % 7 == 0) c->set_active(false);
    if (i % 11 == 0) c->mutable_valid_until()->set_seconds(kStartMs / 1000 - 10);
    if (i % 13 == 0) c->clear_geofence();
    if (i % 4 == 1) {
      // A polygon: a small square.
      c->clear_geofence();
      const double lat = kParisLat + 0.2 * (unit(rng) - 0.5),
                   lon = kParisLon + 0.3 * (unit(rng) - 0.5), h = 0.002 + 0.01 * unit(rng);
      for (auto [dy, dx] : {std::pair{-h, -h}, {-h, h}, {h, h}, {h, -h}}) {
        v1::GeoPoint* v = c->mutable_geofence()->mutable_polygon()->add_vertices();
        v->set_latitude(lat + dy);
        v->set_longitude(lon + dx);
      }
    }
    batch.push_back(admin.Create(r, kStartMs));
  }
  auto pushed = PushOk(Admin(), batch);
  std::vector<v1::Coupon> all;
  for (const auto& r : pushed.results()) {
    ASSERT_EQ(r.outcome(), v1::MUTATION_OUTCOME_APPLIED) << r.message();
    all.push_back(r.record().data().coupon());
  }
  int hits = 0;
  for (int q = 0; q < 120; ++q) {
    v1::GeoPoint at;
    at.set_latitude(kParisLat + 0.25 * (unit(rng) - 0.5));
    at.set_longitude(kParisLon + 0.35 * (unit(rng) - 0.5));
    const double radius = q % 3 == 0 ? 0 : 3000 * unit(rng);
    const bool redeemable = q % 2 == 0;
    std::set<std::string> brute, served;
    for (const v1::Coupon& c : all) {
      if (geo::CouponNear(c, at, radius) && (!redeemable || geo::CouponRedeemableAt(c, kStartMs))) {
        brute.insert(c.id());
      }
    }
    auto near = FindCouponsNear(&store_->changes(), kTenant, at, radius, redeemable, kStartMs);
    ASSERT_TRUE(near.ok()) << near.status();
    for (const auto& s : *near) served.insert(s.ref().id());
    ASSERT_EQ(brute, served) << "query " << q;
    hits += !brute.empty();
  }
  EXPECT_GT(hits, 40);
}

INSTANTIATE_TEST_SUITE_P(Stores, CouponScopeTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace crmsync::server::testing
