// The local store: local-first writes, the outbox envelope, repositories
// and the queries a field app needs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "crmsync/client/database.h"
#include "crmsync/client/repository.h"
#include "crmsync/sync/geo.h"
#include "test_util.h"

namespace crmsync::client {
namespace {

using ::testing::SizeIs;

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    db_.reset();
    DatabaseOptions o;
    o.path = dir_.File("local.db");
    o.device_id = "phone-1";
    o.user_id = "u-alice";
    o.clock = &clock_;
    o.random = random_.get();
    auto db = Database::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
  }

  v1::Lead NewLead(const std::string& id, const std::string& last, v1::LeadStatus status) {
    v1::Lead l;
    l.set_id(id);
    l.set_first_name("Jeanne");
    l.set_last_name(last);
    l.set_status(status);
    l.set_owner_user_id("u-alice");
    return l;
  }

  testing::TempDir dir_;
  testing::ManualClock clock_;
  std::unique_ptr<Random> random_ = NewSeededRandom(7);
  std::unique_ptr<Database> db_;
};

TEST_F(LocalStoreTest, CreateIsVisibleAtOnceAndQueuesOneCreateMutation) {
  Repository<v1::Lead> leads(db_.get());
  auto created = leads.Create(NewLead("lead-1", "Leroy", v1::LEAD_STATUS_NEW));
  ASSERT_TRUE(created.ok()) << created.status();
  auto got = leads.Get("lead-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->last_name(), "Leroy");

  auto outbox = db_->Outbox();
  ASSERT_TRUE(outbox.ok());
  ASSERT_THAT(*outbox, SizeIs(1));
  const v1::Mutation& m = (*outbox)[0].mutation;
  EXPECT_EQ(m.client_seq(), 1);
  EXPECT_EQ(m.operation(), v1::OPERATION_UPSERT);
  EXPECT_EQ(m.base_version(), 0);
  EXPECT_FALSE(m.has_base_values());
  EXPECT_THAT(m.update_mask().paths(), ::testing::Contains("id"));
  EXPECT_EQ(m.hlc().node_id(), "phone-1");
  EXPECT_EQ(m.provenance().device_id(), "phone-1");
  EXPECT_EQ(m.provenance().author_user_id(), "u-alice");
  EXPECT_EQ(m.provenance().channel(), v1::CHANNEL_FIELD_APP);
}

// A redemption given without a mask carries every field it sets (it once
// went out empty, and the server refused it for a missing coupon id).
TEST_F(LocalStoreTest, RedemptionWithoutAMaskQueuesEveryFieldItSets) {
  LocalEdit edit;
  edit.ref.set_entity_type(v1::ENTITY_TYPE_REDEMPTION);
  edit.ref.set_id("red-1");
  edit.operation = v1::OPERATION_REDEEM;
  v1::Redemption* r = edit.values.mutable_redemption();
  r->set_id("red-1");
  r->set_coupon_id("coupon-1");
  r->set_store_id("store-1");
  r->set_status(v1::REDEMPTION_STATUS_PENDING);
  r->mutable_position()->set_latitude(48.86);
  ASSERT_TRUE(db_->Apply(edit).ok());
  auto outbox = db_->Outbox();
  ASSERT_TRUE(outbox.ok());
  ASSERT_THAT(*outbox, SizeIs(1));
  const v1::Mutation& m = (*outbox)[0].mutation;
  EXPECT_EQ(m.operation(), v1::OPERATION_REDEEM);
  EXPECT_EQ(m.values().redemption().coupon_id(), "coupon-1");
  EXPECT_EQ(m.values().redemption().store_id(), "store-1");
  EXPECT_EQ(m.values().redemption().position().latitude(), 48.86);
  EXPECT_THAT(m.update_mask().paths(), ::testing::IsSupersetOf({"id", "coupon_id", "store_id"}));
  // The same redemption again queues nothing more.
  ASSERT_TRUE(db_->Apply(edit).ok());
  EXPECT_EQ(*db_->PendingCount(), 1);
}

TEST_F(LocalStoreTest, UpdateQueuesOnlyChangedFieldsWithBaseValues) {
  Repository<v1::Lead> leads(db_.get());
  ASSERT_TRUE(leads.Create(NewLead("lead-1", "Leroy", v1::LEAD_STATUS_NEW)).ok());
  v1::Lead edit = *leads.Get("lead-1");
  edit.set_phone("+33 6 11");
  edit.set_last_name("Leroy-Martin");
  ASSERT_TRUE(leads.Update(edit).ok());
  auto outbox = *db_->Outbox();
  ASSERT_THAT(outbox, SizeIs(2));
  const v1::Mutation& m = outbox[1].mutation;
  EXPECT_EQ(m.client_seq(), 2);
  EXPECT_THAT(m.update_mask().paths(), ::testing::UnorderedElementsAre("last_name", "phone"));
  EXPECT_EQ(m.base_values().lead().last_name(), "Leroy");
  EXPECT_EQ(m.values().lead().last_name(), "Leroy-Martin");
  EXPECT_GT(sync::CompareHlc(m.hlc(), outbox[0].mutation.hlc()), 0);
  EXPECT_EQ(leads.Get("lead-1")->phone(), "+33 6 11");
}

TEST_F(LocalStoreTest, UnchangedUpdateQueuesNothing) {
  Repository<v1::Lead> leads(db_.get());
  ASSERT_TRUE(leads.Create(NewLead("lead-1", "Leroy", v1::LEAD_STATUS_NEW)).ok());
  ASSERT_TRUE(leads.Update(*leads.Get("lead-1")).ok());
  EXPECT_EQ(*db_->PendingCount(), 1);
}

TEST_F(LocalStoreTest, DeleteHidesTheRecordAndQueuesADelete) {
  Repository<v1::Lead> leads(db_.get());
  ASSERT_TRUE(leads.Create(NewLead("lead-1", "Leroy", v1::LEAD_STATUS_NEW)).ok());
  ASSERT_TRUE(leads.Delete("lead-1").ok());
  EXPECT_EQ(leads.Get("lead-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(*leads.List(), SizeIs(0));
  auto outbox = *db_->Outbox();
  ASSERT_THAT(outbox, SizeIs(2));
  EXPECT_EQ(outbox[1].mutation.operation(), v1::OPERATION_DELETE);
  EXPECT_EQ(leads.Delete("lead-1").code(), absl::StatusCode::kNotFound);
}

TEST_F(LocalStoreTest, ErrorsAreValues) {
  Repository<v1::Lead> leads(db_.get());
  ASSERT_TRUE(leads.Create(NewLead("lead-1", "Leroy", v1::LEAD_STATUS_NEW)).ok());
  EXPECT_EQ(leads.Create(NewLead("lead-1", "Again", v1::LEAD_STATUS_NEW)).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(leads.Update(NewLead("missing", "X", v1::LEAD_STATUS_NEW)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(db_->Create(v1::Record()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*db_->PendingCount(), 1);
}

TEST_F(LocalStoreTest, EmptyIdGetsAUuidV7AndClientSeqSurvivesReopen) {
  Repository<v1::Lead> leads(db_.get());
  auto created = leads.Create(NewLead("", "Leroy", v1::LEAD_STATUS_NEW));
  ASSERT_TRUE(created.ok());
  EXPECT_THAT(created->id(), ::testing::MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-.*"));
  Reopen();
  EXPECT_EQ(db_->device_id(), "phone-1");
  Repository<v1::Lead> again(db_.get());
  ASSERT_TRUE(again.Create(NewLead("lead-3", "C", v1::LEAD_STATUS_NEW)).ok());
  auto outbox = *db_->Outbox();
  ASSERT_THAT(outbox, SizeIs(2));
  EXPECT_EQ(outbox[1].mutation.client_seq(), 2);
}

TEST_F(LocalStoreTest, MyOpenLeadsSkipsClosedAndOthersLeads) {
  Repository<v1::Lead> leads(db_.get());
  ASSERT_TRUE(leads.Create(NewLead("l1", "Adam", v1::LEAD_STATUS_NEW)).ok());
  ASSERT_TRUE(leads.Create(NewLead("l2", "Bern", v1::LEAD_STATUS_CONVERTED)).ok());
  ASSERT_TRUE(leads.Create(NewLead("l3", "Carl", v1::LEAD_STATUS_QUALIFIED)).ok());
  v1::Lead other = NewLead("l4", "Dora", v1::LEAD_STATUS_NEW);
  other.set_owner_user_id("u-bob");
  ASSERT_TRUE(leads.Create(other).ok());
  auto open = Repository<v1::Lead>::Entities(*db_->MyOpenLeads());
  ASSERT_THAT(open, SizeIs(2));
  EXPECT_EQ(open[0].id(), "l1");
  EXPECT_EQ(open[1].id(), "l3");
}

TEST_F(LocalStoreTest, OpportunitiesOfAnAccount) {
  Repository<v1::Opportunity> opps(db_.get());
  for (auto [id, acc] : {std::pair{"o1", "acc-1"}, {"o2", "acc-2"}, {"o3", "acc-1"}}) {
    v1::Opportunity o;
    o.set_id(id);
    o.set_account_id(acc);
    o.set_name(std::string("Deal ") + id);
    ASSERT_TRUE(opps.Create(o).ok());
  }
  auto found = Repository<v1::Opportunity>::Entities(*db_->OpportunitiesOfAccount("acc-1"));
  ASSERT_THAT(found, SizeIs(2));
  EXPECT_EQ(found[0].id(), "o1");
  EXPECT_EQ(found[1].id(), "o3");
}

TEST_F(LocalStoreTest, TodaysCalendar) {
  Repository<v1::CalendarEvent> cal(db_.get());
  const int64_t day = 1'790'035'200;  // a UTC midnight
  auto add = [&](const char* id, int64_t start) {
    v1::CalendarEvent e;
    e.set_id(id);
    e.set_title(id);
    e.mutable_starts_at()->set_seconds(start);
    e.mutable_ends_at()->set_seconds(start + 3600);
    ASSERT_TRUE(cal.Create(e).ok());
  };
  add("yesterday", day - 7200);
  add("morning", day + 9 * 3600);
  add("evening", day + 18 * 3600);
  add("tomorrow", day + 86400 + 60);
  auto today =
      Repository<v1::CalendarEvent>::Entities(*db_->TodaysCalendar((day + 12 * 3600) * 1000));
  ASSERT_THAT(today, SizeIs(2));
  EXPECT_EQ(today[0].id(), "morning");
  EXPECT_EQ(today[1].id(), "evening");
}

TEST_F(LocalStoreTest, FullTextSearchOverNamesAndNotesFollowsEdits) {
  Repository<v1::Lead> leads(db_.get());
  v1::Lead l = NewLead("l1", "Leroy", v1::LEAD_STATUS_NEW);
  l.set_notes("wants a new oven before winter");
  ASSERT_TRUE(leads.Create(l).ok());
  ASSERT_TRUE(leads.Create(NewLead("l2", "Moreau", v1::LEAD_STATUS_NEW)).ok());
  EXPECT_THAT(*db_->Search("oven"), SizeIs(1));
  EXPECT_THAT(*db_->Search("moreau"), SizeIs(1));
  EXPECT_THAT(*db_->Search("jeanne"), SizeIs(2));
  l.set_notes("bought a fridge");
  ASSERT_TRUE(leads.Update(l).ok());
  EXPECT_THAT(*db_->Search("oven"), SizeIs(0));
  EXPECT_THAT(*db_->Search("fridg*"), SizeIs(1));
  ASSERT_TRUE(leads.Delete("l2").ok());
  EXPECT_THAT(*db_->Search("moreau"), SizeIs(0));
}

TEST_F(LocalStoreTest, CouponsNearAPositionUseTheGeofenceAndValidity) {
  Repository<v1::Coupon> coupons(db_.get());
  const int64_t now_s = clock_.NowMs() / 1000;
  auto add = [&](const char* id, double lat, double lon, double radius, bool active,
                 int64_t until) {
    v1::Coupon c;
    c.set_id(id);
    c.set_title(id);
    c.set_active(active);
    c.mutable_valid_from()->set_seconds(now_s - 60);
    c.mutable_valid_until()->set_seconds(until);
    auto* circle = c.mutable_geofence()->mutable_circle();
    circle->mutable_center()->set_latitude(lat);
    circle->mutable_center()->set_longitude(lon);
    circle->set_radius_m(radius);
    ASSERT_TRUE(coupons.Create(c).ok());
  };
  add("paris-center", 48.8566, 2.3522, 5000, true, now_s + 3600);
  add("paris-small", 48.8566, 2.3522, 100, true, now_s + 3600);  // 2 km away: too far
  add("lyon", 45.7578, 4.8320, 5000, true, now_s + 3600);
  add("expired", 48.8606, 2.3376, 5000, true, now_s - 1);
  add("inactive", 48.8606, 2.3376, 5000, false, now_s + 3600);
  // The Louvre, ~1.2 km from the Paris centre point.
  auto near =
      Repository<v1::Coupon>::Entities(*db_->CouponsNear(48.8606, 2.3376, 0, clock_.NowMs()));
  ASSERT_THAT(near, SizeIs(1));
  EXPECT_EQ(near[0].id(), "paris-center");
}

// The indexed query against a brute-force scan with the shared rules,
// over circles and polygons, inactive, expired and exhausted coupons.
TEST_F(LocalStoreTest, CouponsNearMatchABruteForceScan) {
  Repository<v1::Coupon> coupons(db_.get());
  const int64_t now_ms = clock_.NowMs();
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<v1::Coupon> all;
  for (int i = 0; i < 300; ++i) {
    v1::Coupon c;
    c.set_id("c" + std::to_string(i));
    c.set_active(i % 9 != 0);
    c.mutable_valid_until()->set_seconds(now_ms / 1000 + (i % 10 == 0 ? -5 : 3600));
    if (i % 12 == 0) {
      c.set_max_redemptions_total(1);
      c.set_redemption_count(1);
    }
    const double lat = 48.85 + 0.2 * (unit(rng) - 0.5), lon = 2.35 + 0.3 * (unit(rng) - 0.5);
    if (i % 3 == 0) {
      const double h = 0.001 + 0.01 * unit(rng);
      for (auto [dy, dx] : {std::pair{-h, -h}, {-h, h}, {h, 0.0}}) {
        v1::GeoPoint* v = c.mutable_geofence()->mutable_polygon()->add_vertices();
        v->set_latitude(lat + dy);
        v->set_longitude(lon + dx);
      }
    } else {
      auto* circle = c.mutable_geofence()->mutable_circle();
      circle->mutable_center()->set_latitude(lat);
      circle->mutable_center()->set_longitude(lon);
      circle->set_radius_m(50 + 2500 * unit(rng));
    }
    ASSERT_TRUE(coupons.Create(c).ok());
    all.push_back(c);
  }
  // An edit that moves a fence must move it in the index too.
  all[1].mutable_geofence()->mutable_circle()->mutable_center()->set_latitude(45.76);
  ASSERT_TRUE(coupons.Update(all[1]).ok());
  int hits = 0;
  for (int q = 0; q < 200; ++q) {
    const double lat = 48.85 + 0.25 * (unit(rng) - 0.5), lon = 2.35 + 0.35 * (unit(rng) - 0.5);
    const double radius = q % 3 == 0 ? 0 : 3000 * unit(rng);
    v1::GeoPoint at;
    at.set_latitude(lat);
    at.set_longitude(lon);
    std::set<std::string> brute, indexed;
    for (const v1::Coupon& c : all) {
      if (sync::geo::CouponNear(c, at, radius) && sync::geo::CouponRedeemableAt(c, now_ms)) {
        brute.insert(c.id());
      }
    }
    auto near = db_->CouponsNear(lat, lon, radius, now_ms);
    ASSERT_TRUE(near.ok()) << near.status();
    double last = 0;
    for (const auto& s : *near) {
      indexed.insert(s.ref().id());
      const double d = sync::geo::DistanceToGeofenceM(s.data().coupon().geofence(), at);
      EXPECT_GE(d, last) << "nearest first";
      last = d;
    }
    ASSERT_EQ(brute, indexed) << "query " << q;
    hits += !brute.empty();
  }
  EXPECT_GT(hits, 50);
  EXPECT_EQ(db_->CouponsNear(91, 0, 0, now_ms).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace crmsync::client
