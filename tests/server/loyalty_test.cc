// Coupon redemption arbitration and loyalty points through the push
// handler, on both stores.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "crmsync/sync/geo.h"
#include "handler_fixture.h"
#include "logic/pruner.h"
#include "version.h"

namespace crmsync::server::testing {
namespace {

using LoyaltyTest = HandlerTest;

constexpr double kParisLat = 48.8566, kParisLon = 2.3522;

v1::Record CouponRecord(const std::string& id, int64_t max_total, int64_t max_per_customer) {
  v1::Record r;
  v1::Coupon* c = r.mutable_coupon();
  c->set_id(id);
  c->set_code(id + "-CODE");
  c->set_active(true);
  c->set_percent_off_bp(1000);
  c->mutable_valid_from()->set_seconds(kStartMs / 1000 - 3600);
  c->mutable_valid_until()->set_seconds(kStartMs / 1000 + 24 * 3600);
  c->mutable_geofence()->mutable_circle()->mutable_center()->set_latitude(kParisLat);
  c->mutable_geofence()->mutable_circle()->mutable_center()->set_longitude(kParisLon);
  c->mutable_geofence()->mutable_circle()->set_radius_m(2000);
  c->add_store_ids("store-1");
  c->set_max_redemptions_total(max_total);
  c->set_max_redemptions_per_customer(max_per_customer);
  return r;
}

class Till {
 public:
  Till(const std::string& device, std::string store)
      : device_(device, "till"), store_(std::move(store)) {}

  v1::Mutation Redeem(const std::string& redemption_id, const std::string& coupon_id,
                      const std::string& customer, double lat, double lon, double accuracy_m) {
    v1::Record r;
    v1::Redemption* red = r.mutable_redemption();
    red->set_id(redemption_id);
    red->set_coupon_id(coupon_id);
    red->set_store_id(store_);
    red->set_device_id(device_.id());
    red->set_loyalty_account_id(customer);
    red->set_status(v1::REDEMPTION_STATUS_PENDING);
    red->mutable_redeemed_at()->set_seconds(kStartMs / 1000);
    red->mutable_position()->set_latitude(lat);
    red->mutable_position()->set_longitude(lon);
    red->set_position_accuracy_m(accuracy_m);
    v1::Mutation m = device_.Create(r, kStartMs);
    m.set_operation(v1::OPERATION_REDEEM);
    return m;
  }

 private:
  Device device_;
  std::string store_;
};

Principal TerminalOn(const std::string& device) {
  return Principal{kTenant, "till", v1::ROLE_STORE_TERMINAL, "", "store-1", device};
}

TEST_P(LoyaltyTest, TwoTerminalsRedeemingAOneTimeCouponOfflineExactlyOneWins) {
  Device admin("dev-admin", "admin");
  PushOk(Admin(), {admin.Create(CouponRecord("c-once", 1, 0), kStartMs)});
  DeviceRow second;
  second.tenant_id = kTenant;
  second.device.set_id("dev-till-2");
  second.device.set_user_id("till");
  second.device.set_status(v1::DEVICE_STATUS_ACTIVE);
  ASSERT_TRUE(store_->directory().PutDevice(second).ok());

  Till a("dev-till", "store-1"), b("dev-till-2", "store-1");
  auto first =
      PushOk(TerminalOn("dev-till"), {a.Redeem("red-a", "c-once", "", kParisLat, kParisLon, 10)});
  auto late =
      PushOk(TerminalOn("dev-till-2"), {b.Redeem("red-b", "c-once", "", kParisLat, kParisLon, 10)});
  EXPECT_EQ(first.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED) << first.results(0).message();
  EXPECT_EQ(first.results(0).record().data().redemption().status(), v1::REDEMPTION_STATUS_ACCEPTED);
  EXPECT_EQ(late.results(0).outcome(), v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(late.results(0).reject_reason(), v1::REJECT_REASON_COUPON_EXHAUSTED);
  EXPECT_THAT(late.results(0).message(), ::testing::HasSubstr("limit of 1"));
  EXPECT_EQ(late.results(0).record().data().redemption().status(), v1::REDEMPTION_STATUS_REJECTED);

  v1::RecordRef coupon;
  coupon.set_entity_type(v1::ENTITY_TYPE_COUPON);
  coupon.set_id("c-once");
  auto stored = store_->changes().GetRecord(kTenant, coupon);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->data().coupon().redemption_count(), 1);
  EXPECT_FALSE((*stored)->data().coupon().active()) << "an exhausted coupon is deactivated";
}

TEST_P(LoyaltyTest, ExhaustedCouponLeavesTheTerminalsScope) {
  Device admin("dev-admin", "admin");
  PushOk(Admin(), {admin.Create(CouponRecord("c-once", 1, 0), kStartMs)});
  std::string cursor;
  auto before = PullAll(TerminalOn("dev-till"), &cursor);
  ASSERT_EQ(before.size(), 1u);
  Till a("dev-till", "store-1");
  PushOk(TerminalOn("dev-till"), {a.Redeem("red-a", "c-once", "", kParisLat, kParisLon, 10)});
  auto after = PullAll(TerminalOn("dev-till"), &cursor);
  bool left = false, got_redemption = false;
  for (const auto& c : after) {
    if (c.record().id() == "c-once") left = c.kind() == v1::CHANGE_KIND_LEFT_SCOPE;
    if (c.record().id() == "red-a") got_redemption = true;
  }
  EXPECT_TRUE(left);
  EXPECT_TRUE(got_redemption) << "a terminal receives its own redemptions";
}

TEST_P(LoyaltyTest, PerCustomerLimitAndGeofenceAndValidityAreEnforced) {
  Device admin("dev-admin", "admin");
  PushOk(Admin(), {admin.Create(CouponRecord("c-multi", 0, 1), kStartMs)});
  Till a("dev-till", "store-lyon");  // not a named store: only the geofence counts
  Principal till = TerminalOn("dev-till");
  till.store_id = "store-lyon";
  auto resp =
      PushOk(till, {a.Redeem("r1", "c-multi", "card-1", kParisLat, kParisLon, 10),
                    a.Redeem("r2", "c-multi", "card-1", kParisLat, kParisLon, 10),
                    a.Redeem("r3", "c-multi", "card-2", 45.76, 4.83, 50),
                    a.Redeem("r4", "c-multi", "card-3", kParisLat + 0.0185, kParisLon, 100)});
  EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED) << resp.results(0).message();
  EXPECT_EQ(resp.results(1).reject_reason(), v1::REJECT_REASON_CUSTOMER_LIMIT);
  EXPECT_EQ(resp.results(2).reject_reason(), v1::REJECT_REASON_OUTSIDE_GEOFENCE);
  // ~2057 m from the centre of a 2000 m fence: inside once the 100 m GPS
  // accuracy is allowed for.
  EXPECT_EQ(resp.results(3).outcome(), v1::MUTATION_OUTCOME_APPLIED) << resp.results(3).message();

  clock_.Advance(48LL * 3600 * 1000);
  v1::Mutation late = a.Redeem("r5", "c-multi", "card-9", kParisLat, kParisLon, 10);
  late.mutable_values()->mutable_redemption()->mutable_redeemed_at()->set_seconds(clock_.NowMs() /
                                                                                  1000);
  auto expired = PushOk(till, {late});
  EXPECT_EQ(expired.results(0).reject_reason(), v1::REJECT_REASON_COUPON_EXPIRED);
}

TEST_P(LoyaltyTest, OfflineRedemptionMadeWhileValidIsAcceptedWhenSyncedLate) {
  Device admin("dev-admin", "admin");
  PushOk(Admin(), {admin.Create(CouponRecord("c-multi", 0, 0), kStartMs)});
  clock_.Advance(48LL * 3600 * 1000);  // the uplink was down for two days
  Till a("dev-till", "store-1");
  auto resp =
      PushOk(TerminalOn("dev-till"), {a.Redeem("r1", "c-multi", "", kParisLat, kParisLon, 10)});
  EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED) << resp.results(0).message();
}

TEST_P(LoyaltyTest, TerminalCannotRedeemForAnotherStoreOrDevice) {
  Device admin("dev-admin", "admin");
  PushOk(Admin(), {admin.Create(CouponRecord("c", 0, 0), kStartMs)});
  Till other_store("dev-till", "store-9");
  auto resp =
      PushOk(TerminalOn("dev-till"), {other_store.Redeem("r1", "c", "", kParisLat, kParisLon, 10)});
  EXPECT_EQ(resp.results(0).reject_reason(), v1::REJECT_REASON_VALIDATION);
}

TEST_P(LoyaltyTest, ConcurrentTerminalsNeverRedeemPastTheLimitAndLosersAreToldWhy) {
  constexpr int kTerminals = 6, kCoupons = 5, kLimit = 3;
  Device admin("dev-admin", "admin");
  std::vector<v1::Mutation> coupons;
  for (int c = 0; c < kCoupons; ++c) {
    coupons.push_back(admin.Create(CouponRecord("c-" + std::to_string(c), kLimit, 0), kStartMs));
  }
  PushOk(Admin(), coupons);
  for (int t = 0; t < kTerminals; ++t) {
    DeviceRow row;
    row.tenant_id = kTenant;
    row.device.set_id("rt-" + std::to_string(t));
    row.device.set_user_id("till");
    row.device.set_status(v1::DEVICE_STATUS_ACTIVE);
    ASSERT_TRUE(store_->directory().PutDevice(row).ok());
  }
  // Every terminal redeemed every coupon while offline; they all sync at once.
  std::vector<std::vector<v1::MutationResult>> results(kTerminals);
  std::vector<std::thread> threads;
  for (int t = 0; t < kTerminals; ++t) {
    threads.emplace_back([&, t] {
      std::string dev = "rt-" + std::to_string(t);
      Till till(dev, "store-1");
      for (int c = 0; c < kCoupons; ++c) {
        v1::PushResponse resp;
        auto status = Push(TerminalOn(dev),
                           {till.Redeem(dev + "-r" + std::to_string(c), "c-" + std::to_string(c),
                                        "", kParisLat, kParisLon, 5)},
                           &resp);
        ASSERT_TRUE(status.ok()) << status;
        results[t].push_back(resp.results(0));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int c = 0; c < kCoupons; ++c) {
    int accepted = 0;
    for (int t = 0; t < kTerminals; ++t) {
      const v1::MutationResult& r = results[t][c];
      if (r.outcome() == v1::MUTATION_OUTCOME_APPLIED) {
        ++accepted;
      } else {
        EXPECT_EQ(r.reject_reason(), v1::REJECT_REASON_COUPON_EXHAUSTED) << r.message();
        EXPECT_FALSE(r.message().empty());
      }
    }
    EXPECT_EQ(accepted, kLimit) << "coupon c-" << c;
    v1::RecordRef ref;
    ref.set_entity_type(v1::ENTITY_TYPE_COUPON);
    ref.set_id("c-" + std::to_string(c));
    EXPECT_EQ((*store_->changes().GetRecord(kTenant, ref))->data().coupon().redemption_count(),
              kLimit);
  }
}

v1::Record Card(const std::string& id, int64_t points) {
  v1::Record r;
  r.mutable_loyalty_account()->set_id(id);
  r.mutable_loyalty_account()->set_card_number("4000-" + id);
  r.mutable_loyalty_account()->set_home_store_id("store-1");
  r.mutable_loyalty_account()->set_points_balance(points);
  return r;
}

v1::Mutation Points(Device& d, const v1::RecordState& card, int64_t delta) {
  v1::Record values;
  values.mutable_loyalty_account()->set_points_balance(delta);
  v1::Mutation m = d.Update(card, values, {"points_balance"}, kStartMs);
  m.set_operation(v1::OPERATION_INCREMENT);
  m.clear_base_values();
  return m;
}

TEST_P(LoyaltyTest, PointsFromManyOfflineTerminalsSumExactlyAndNeverGoNegative) {
  Device admin("dev-admin", "admin");
  auto created = PushOk(Admin(), {admin.Create(Card("card-1", 100), kStartMs)});
  const v1::RecordState card = created.results(0).record();
  std::vector<Device> tills;
  for (int i = 0; i < 4; ++i) {
    std::string id = "till-" + std::to_string(i);
    DeviceRow row;
    row.tenant_id = kTenant;
    row.device.set_id(id);
    row.device.set_user_id("till");
    row.device.set_status(v1::DEVICE_STATUS_ACTIVE);
    ASSERT_TRUE(store_->directory().PutDevice(row).ok());
    tills.emplace_back(id, "till");
  }
  // Seeded, so a failure replays; every till works from the same stale copy.
  std::mt19937_64 rng(20261123);
  int64_t expected = 100;
  int accepted = 0, refused = 0;
  for (int round = 0; round < 60; ++round) {
    int t = static_cast<int>(rng() % tills.size());
    int64_t delta = static_cast<int64_t>(rng() % 61) - 35;  // debits a bit more likely
    const v1::Mutation m = Points(tills[t], card, delta);
    auto resp = PushOk(TerminalOn(tills[t].id()), {m});
    // Every result names its mutation (the SDK matches them by client_seq).
    ASSERT_EQ(resp.results(0).client_seq(), m.client_seq());
    if (resp.results(0).outcome() == v1::MUTATION_OUTCOME_REJECTED) {
      ASSERT_EQ(resp.results(0).reject_reason(), v1::REJECT_REASON_INSUFFICIENT_BALANCE);
      ASSERT_LT(expected + delta, 0);
      ++refused;
    } else {
      expected += delta;
      ++accepted;
    }
    ASSERT_GE(expected, 0);
  }
  auto stored = store_->changes().GetRecord(kTenant, card.ref());
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->data().loyalty_account().points_balance(), expected);
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0) << "the seed should exercise the never-negative rule";
}

int64_t Balance(Store* store, const std::string& card) {
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_LOYALTY_ACCOUNT);
  ref.set_id(card);
  auto stored = store->changes().GetRecord(kTenant, ref);
  EXPECT_TRUE(stored.ok() && stored->has_value());
  return stored.ok() && stored->has_value() ? (*stored)->data().loyalty_account().points_balance()
                                            : -1;
}

TEST_P(LoyaltyTest, BonusPointsCouponCreditsTheCardExactlyOnceAndEveryTillSeesIt) {
  Device admin("dev-admin", "admin");
  v1::Record bonus = CouponRecord("c-bonus", 2, 0);
  bonus.mutable_coupon()->set_bonus_points(50);
  PushOk(Admin(), {admin.Create(bonus, kStartMs), admin.Create(Card("card-1", 100), kStartMs)});
  std::string other_till;
  PullAll(TerminalOn("dev-till"), &other_till);

  Till a("dev-till", "store-1");
  const v1::Mutation redeem = a.Redeem("r1", "c-bonus", "card-1", kParisLat, kParisLon, 10);
  auto resp = PushOk(TerminalOn("dev-till"), {redeem});
  ASSERT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED) << resp.results(0).message();
  EXPECT_EQ(Balance(store_.get(), "card-1"), 150);
  // The reply was lost: the retry returns the same result, credits nothing.
  auto retry = PushOk(TerminalOn("dev-till"), {redeem});
  EXPECT_EQ(retry.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(Balance(store_.get(), "card-1"), 150);
  // Another till holding the card receives the new balance.
  bool seen = false;
  for (const auto& c : PullAll(TerminalOn("dev-till"), &other_till)) {
    if (c.record().id() == "card-1") {
      seen = true;
      EXPECT_EQ(c.values().loyalty_account().points_balance(), 150);
    }
  }
  EXPECT_TRUE(seen);
  // Rejected redemptions credit nothing: past the limit, without a card,
  // with an unknown card.
  auto second = PushOk(TerminalOn("dev-till"),
                       {a.Redeem("r2", "c-bonus", "card-1", kParisLat, kParisLon, 10)});
  ASSERT_EQ(second.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(Balance(store_.get(), "card-1"), 200);
  auto refused = PushOk(TerminalOn("dev-till"),
                        {a.Redeem("r3", "c-bonus", "card-1", kParisLat, kParisLon, 10)});
  EXPECT_EQ(refused.results(0).reject_reason(), v1::REJECT_REASON_COUPON_EXHAUSTED);
  EXPECT_EQ(Balance(store_.get(), "card-1"), 200);
}

// A contact's loyalty card, the redemptions made with it and its points
// are on the contact's timeline, for those who may read retail records (the
// sales reps hold none).
TEST_P(LoyaltyTest, ACardItsRedemptionsAndItsPointsAreOnTheContactsTimeline) {
  store_->changes().SetFieldHistoryDepth(5);
  Device admin("dev-admin", "admin");
  v1::Record contact;
  contact.mutable_contact()->set_id("c-1");
  contact.mutable_contact()->set_last_name("Curie");
  contact.mutable_contact()->set_owner_user_id("alice");
  v1::Record bonus = CouponRecord("c-bonus", 5, 0);
  bonus.mutable_coupon()->set_bonus_points(50);
  v1::Record card = Card("card-1", 100);
  card.mutable_loyalty_account()->set_contact_id("c-1");
  v1::Record other = Card("card-2", 7);  // nobody's
  PushOk(Admin(), {admin.Create(contact, kStartMs), admin.Create(bonus, kStartMs),
                   admin.Create(card, kStartMs), admin.Create(other, kStartMs)});
  Till till("dev-till", "store-1");
  auto redeemed = PushOk(TerminalOn("dev-till"),
                         {till.Redeem("r1", "c-bonus", "card-1", kParisLat, kParisLon, 10),
                          till.Redeem("r2", "c-bonus", "card-2", kParisLat, kParisLon, 10)});
  ASSERT_EQ(redeemed.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED)
      << redeemed.results(0).message();

  v1::GetTimelineRequest req;
  req.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  req.mutable_record()->set_entity_type(v1::ENTITY_TYPE_CONTACT);
  req.mutable_record()->set_id("c-1");
  v1::GetTimelineResponse everything;
  ASSERT_TRUE(pull_->GetTimeline(Admin(), req, &everything).ok());
  std::vector<std::string> records;
  std::vector<int64_t> balances;
  for (const v1::TimelineItem& item : everything.items()) {
    if (item.has_points_balance()) {
      EXPECT_EQ(item.record().ref().id(), "card-1");
      balances.push_back(item.points_balance());
    } else {
      records.push_back(item.record().ref().id());
    }
  }
  EXPECT_THAT(records, ::testing::UnorderedElementsAre("card-1", "r1"));
  EXPECT_EQ(balances, (std::vector<int64_t>{150, 100})) << "newest first: the coupon's 50 points";

  // Alice owns the contact but reads no retail records.
  v1::GetTimelineResponse alice;
  ASSERT_TRUE(pull_->GetTimeline(Rep("alice", "dev-alice"), req, &alice).ok());
  EXPECT_EQ(alice.items_size(), 0);

  // The contact merged into another: the card follows the survivor.
  v1::Record survivor = contact;
  survivor.mutable_contact()->set_id("c-0");
  PushOk(Admin(), {admin.Create(survivor, kStartMs)});
  v1::RecordRef c0;
  c0.set_entity_type(v1::ENTITY_TYPE_CONTACT);
  c0.set_id("c-0");
  auto kept = store_->changes().GetRecord(kTenant, c0);
  ASSERT_TRUE(kept.ok() && *kept);
  v1::Mutation merge = admin.Delete(**kept, kStartMs);
  merge.set_operation(v1::OPERATION_MERGE);
  merge.mutable_merge()->set_merged_record_id("c-1");
  auto merged = PushOk(Admin(), {merge});
  ASSERT_NE(merged.results(0).outcome(), v1::MUTATION_OUTCOME_REJECTED)
      << merged.results(0).message();
  v1::RecordRef card_ref;
  card_ref.set_entity_type(v1::ENTITY_TYPE_LOYALTY_ACCOUNT);
  card_ref.set_id("card-1");
  auto moved = store_->changes().GetRecord(kTenant, card_ref);
  ASSERT_TRUE(moved.ok() && *moved);
  EXPECT_EQ((*moved)->data().loyalty_account().contact_id(), "c-0");
  EXPECT_EQ((*moved)->data().loyalty_account().points_balance(), 150) << "points untouched";
  *req.mutable_record() = c0;
  v1::GetTimelineResponse after;
  ASSERT_TRUE(pull_->GetTimeline(Admin(), req, &after).ok());
  bool has_redemption = false;
  for (const v1::TimelineItem& item : after.items()) {
    has_redemption |= item.record().ref().id() == "r1";
  }
  EXPECT_TRUE(has_redemption);
}

TEST_P(LoyaltyTest, BonusPointsCouponNeedsAKnownCardAndUsesNoRedemptionWithout) {
  Device admin("dev-admin", "admin");
  v1::Record bonus = CouponRecord("c-bonus", 1, 0);
  bonus.mutable_coupon()->set_bonus_points(50);
  PushOk(Admin(), {admin.Create(bonus, kStartMs)});
  Till a("dev-till", "store-1");
  auto resp = PushOk(TerminalOn("dev-till"),
                     {a.Redeem("r1", "c-bonus", "", kParisLat, kParisLon, 10),
                      a.Redeem("r2", "c-bonus", "card-404", kParisLat, kParisLon, 10)});
  EXPECT_EQ(resp.results(0).reject_reason(), v1::REJECT_REASON_VALIDATION);
  EXPECT_THAT(resp.results(0).message(), ::testing::HasSubstr("loyalty card"));
  EXPECT_EQ(resp.results(1).reject_reason(), v1::REJECT_REASON_NOT_FOUND);
  // Neither used the one-time coupon up: a redemption with a card works.
  PushOk(Admin(), {admin.Create(Card("card-1", 0), kStartMs)});
  auto ok = PushOk(TerminalOn("dev-till"),
                   {a.Redeem("r3", "c-bonus", "card-1", kParisLat, kParisLon, 10)});
  EXPECT_EQ(ok.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED) << ok.results(0).message();
  EXPECT_EQ(Balance(store_.get(), "card-1"), 50);
}

TEST(GeoTest, DistancesMatchKnownValues) {
  v1::GeoPoint paris, lyon;
  paris.set_latitude(48.8566);
  paris.set_longitude(2.3522);
  lyon.set_latitude(45.7640);
  lyon.set_longitude(4.8357);
  EXPECT_NEAR(sync::geo::DistanceM(paris, lyon), 391500, 1500);
  v1::Geofence square;
  for (auto [lat, lon] : std::vector<std::pair<double, double>>{
           {48.85, 2.34}, {48.85, 2.36}, {48.87, 2.36}, {48.87, 2.34}}) {
    auto* v = square.mutable_polygon()->add_vertices();
    v->set_latitude(lat);
    v->set_longitude(lon);
  }
  EXPECT_EQ(sync::geo::DistanceToGeofenceM(square, paris), 0.0);
  v1::GeoPoint east;
  east.set_latitude(48.86);
  east.set_longitude(2.37);
  EXPECT_NEAR(sync::geo::DistanceToGeofenceM(square, east), 732, 10);  // 0.01 deg of longitude
  EXPECT_FALSE(sync::geo::ValidPoint([] {
    v1::GeoPoint p;
    p.set_latitude(91);
    return p;
  }()));
}

// ---- Bounded storage: coupon counters (loyalty.h, CouponCountersPrunable) ----

constexpr int64_t kRetentionMs = 30LL * 24 * 3600 * 1000;

int64_t ClaimOf(Store* store, const std::string& key) {
  int64_t value = -1;
  EXPECT_TRUE(store->changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           auto v = tx.GetClaim(key);
                           if (!v.ok()) return v.status();
                           value = *v;
                           return absl::OkStatus();
                         })
                  .ok());
  return value;
}

TEST_P(LoyaltyTest, CountersOfACouponEndedLongerAgoThanTheRetentionArePrunedAndItIsRefused) {
  Device admin("dev-admin", "admin");
  v1::Record live = CouponRecord("c-live", 5, 2);
  live.mutable_coupon()->mutable_valid_until()->set_seconds(kStartMs / 1000 + 400LL * 24 * 3600);
  PushOk(Admin(),
         {admin.Create(CouponRecord("c-old", 5, 2), kStartMs), admin.Create(live, kStartMs)});
  Till a("dev-till", "store-1");
  auto redeemed = PushOk(TerminalOn("dev-till"),
                         {a.Redeem("r1", "c-old", "card-1", kParisLat, kParisLon, 10),
                          a.Redeem("r2", "c-live", "card-1", kParisLat, kParisLon, 10)});
  ASSERT_EQ(redeemed.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  ASSERT_EQ(redeemed.results(1).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  // Claims that are not coupon counters: never pruned.
  ASSERT_TRUE(store_->changes()
                  .Write(kTenant,
                         [](WriteTx& tx) -> absl::Status {
                           if (auto s = tx.AddToClaim("admin-console-seq", 7); !s.ok()) {
                             return s.status();
                           }
                           return tx.AddToClaim("index-built:coupons-v1", 1).status();
                         })
                  .ok());

  // Within the retention after its end, a late offline redemption still counts.
  clock_.Advance(24LL * 3600 * 1000 + kRetentionMs - 1000);
  auto report =
      PruneTenant(&store_->changes(), &store_->directory(), kTenant, clock_.NowMs(), kRetentionMs);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->claims_removed, 0);
  auto late =
      PushOk(TerminalOn("dev-till"), {a.Redeem("r3", "c-old", "card-2", kParisLat, kParisLon, 10)});
  EXPECT_EQ(late.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED) << late.results(0).message();

  // Past it: refused as expired whatever the till's clock says, and its
  // counters go.
  clock_.Advance(2000);
  auto too_late =
      PushOk(TerminalOn("dev-till"), {a.Redeem("r4", "c-old", "card-1", kParisLat, kParisLon, 10)});
  EXPECT_EQ(too_late.results(0).reject_reason(), v1::REJECT_REASON_COUPON_EXPIRED);
  EXPECT_THAT(too_late.results(0).message(), ::testing::HasSubstr("retention"));
  report =
      PruneTenant(&store_->changes(), &store_->directory(), kTenant, clock_.NowMs(), kRetentionMs);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->claims_removed, 3);  // total, card-1, card-2
  EXPECT_EQ(ClaimOf(store_.get(), "coupon:c-old"), 0);
  EXPECT_EQ(ClaimOf(store_.get(), "coupon:c-old:customer:card-1"), 0);
  EXPECT_EQ(ClaimOf(store_.get(), "coupon:c-live"), 1);
  EXPECT_EQ(ClaimOf(store_.get(), "coupon:c-live:customer:card-1"), 1);
  EXPECT_EQ(ClaimOf(store_.get(), "admin-console-seq"), 7);
  EXPECT_EQ(ClaimOf(store_.get(), "index-built:coupons-v1"), 1);
  auto after =
      PushOk(TerminalOn("dev-till"), {a.Redeem("r5", "c-old", "card-1", kParisLat, kParisLon, 10)});
  EXPECT_EQ(after.results(0).reject_reason(), v1::REJECT_REASON_COUPON_EXPIRED);
}

TEST_P(LoyaltyTest, DeletedCouponsCountersGoOnceItsTombstoneIsPastTheHorizon) {
  Device admin("dev-admin", "admin");
  auto created = PushOk(Admin(), {admin.Create(CouponRecord("c-gone", 5, 0), kStartMs)});
  Till a("dev-till", "store-1");
  PushOk(TerminalOn("dev-till"), {a.Redeem("r1", "c-gone", "", kParisLat, kParisLon, 10)});
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_COUPON);
  ref.set_id("c-gone");
  auto coupon = store_->changes().GetRecord(kTenant, ref);
  ASSERT_TRUE(coupon.ok() && coupon->has_value());
  const int64_t before_delete = *store_->changes().LatestSeq(kTenant);
  auto deleted = PushOk(Admin(), {admin.Delete(**coupon, kStartMs + 1)});
  ASSERT_EQ(deleted.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED)
      << deleted.results(0).message();

  // A device that has not seen the deletion holds the horizon back (the
  // admin's device, which pushed, has seen everything).
  const int64_t latest = *store_->changes().LatestSeq(kTenant);
  ASSERT_TRUE(store_->directory().TouchDevice(kTenant, "dev-admin", clock_.NowMs(), latest).ok());
  ASSERT_TRUE(
      store_->directory().TouchDevice(kTenant, "dev-till", clock_.NowMs(), before_delete).ok());
  auto report =
      PruneTenant(&store_->changes(), &store_->directory(), kTenant, clock_.NowMs(), kRetentionMs);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->claims_removed, 0);
  EXPECT_EQ(ClaimOf(store_.get(), "coupon:c-gone"), 1);

  ASSERT_TRUE(store_->directory().TouchDevice(kTenant, "dev-till", clock_.NowMs(), latest).ok());
  report =
      PruneTenant(&store_->changes(), &store_->directory(), kTenant, clock_.NowMs(), kRetentionMs);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->claims_removed, 1);
  EXPECT_EQ(ClaimOf(store_.get(), "coupon:c-gone"), 0);
}

TEST_P(LoyaltyTest, ACouponsOwnCountKeepsItsLimitWhenItsCounterWasPruned) {
  Device admin("dev-admin", "admin");
  PushOk(Admin(), {admin.Create(CouponRecord("c-three", 3, 0), kStartMs)});
  Till a("dev-till", "store-1");
  PushOk(TerminalOn("dev-till"), {a.Redeem("r1", "c-three", "", kParisLat, kParisLon, 10)});
  // As if pruned (and the coupon then extended by an admin).
  ASSERT_TRUE(
      store_->changes()
          .Write(kTenant, [](WriteTx& tx) { return tx.DeleteClaims({"coupon:c-three"}).status(); })
          .ok());
  auto resp =
      PushOk(TerminalOn("dev-till"), {a.Redeem("r2", "c-three", "", kParisLat, kParisLon, 10),
                                      a.Redeem("r3", "c-three", "", kParisLat, kParisLon, 10),
                                      a.Redeem("r4", "c-three", "", kParisLat, kParisLon, 10)});
  EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(resp.results(1).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(resp.results(2).reject_reason(), v1::REJECT_REASON_COUPON_EXHAUSTED)
      << resp.results(2).message();
  EXPECT_EQ(ClaimOf(store_.get(), "coupon:c-three"), 3);
}

INSTANTIATE_TEST_SUITE_P(Stores, LoyaltyTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace crmsync::server::testing
