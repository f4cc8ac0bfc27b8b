// AdminService logic on both stores: conflicts (list, show, resolve),
// stores and coupons, admin-only and tenant isolation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "admin/admin_handler.h"
#include "auth/audit_log.h"
#include "handler_fixture.h"
#include "version.h"

namespace crmsync::server::testing {
namespace {

class AdminHandlerTest : public HandlerTest {
 protected:
  void SetUp() override {
    HandlerTest::SetUp();
    if (HasFatalFailure()) return;
    audit_ = std::make_unique<auth::AuditLog>(&store_->audit(), &clock_);
    admin_ = NewHandler();
  }
  void TearDown() override {
    admin_.reset();
    audit_.reset();
    HandlerTest::TearDown();
  }
  std::unique_ptr<AdminHandler> NewHandler() {
    return std::make_unique<AdminHandler>(store_.get(), &clock_, nullptr, audit_.get(), push_.get(),
                                          AdminHandler::Info{}, nullptr);
  }

  // An opportunity of alice's with an open manual conflict on its amount:
  // alice wrote 2000, bob 3000 from the same base. Returns the conflict id.
  std::string OpenAmountConflict(const std::string& opp_id = "opp-1") {
    v1::Record opp;
    opp.mutable_opportunity()->set_id(opp_id);
    opp.mutable_opportunity()->set_name("Oven");
    opp.mutable_opportunity()->mutable_amount()->set_currency_code("EUR");
    opp.mutable_opportunity()->mutable_amount()->set_amount_minor(1000);
    opp.mutable_opportunity()->set_owner_user_id("alice");
    opp.mutable_opportunity()->set_team_id("north");
    opp.mutable_opportunity()->set_visibility(v1::VISIBILITY_TEAM);
    clock_.Advance(10);
    auto created = PushOk(Rep("alice", "dev-alice"), {alice_.Create(opp, clock_.NowMs())});
    const v1::RecordState base = created.results(0).record();
    v1::Record a, b;
    a.mutable_opportunity()->mutable_amount()->set_currency_code("EUR");
    a.mutable_opportunity()->mutable_amount()->set_amount_minor(2000);
    b.mutable_opportunity()->mutable_amount()->set_currency_code("EUR");
    b.mutable_opportunity()->mutable_amount()->set_amount_minor(3000);
    PushOk(Rep("alice", "dev-alice"), {alice_.Update(base, a, {"amount"}, clock_.NowMs() + 1)});
    auto resp =
        PushOk(Rep("bob", "dev-bob"), {bob_.Update(base, b, {"amount"}, clock_.NowMs() + 2)});
    EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_CONFLICT);
    return resp.results(0).conflict_ids_size() > 0 ? resp.results(0).conflict_ids(0) : "";
  }

  int64_t Amount(const v1::RecordState& s) {
    return s.data().opportunity().amount().amount_minor();
  }

  std::vector<std::string> OpenConflictIds(const v1::ListConflictsRequest& req = {}) {
    v1::ListConflictsResponse resp;
    absl::Status s = admin_->ListConflicts(Admin(), req, &resp);
    EXPECT_TRUE(s.ok()) << s;
    std::vector<std::string> ids;
    for (const auto& c : resp.conflicts()) ids.push_back(c.id());
    return ids;
  }

  // Device.pending_conflicts as ListDevices and GetDevice report it.
  int64_t PendingConflicts(const std::string& device) {
    v1::ListDevicesResponse list;
    EXPECT_TRUE(admin_->ListDevices(Admin(), {}, &list).ok());
    int64_t listed = -1;
    for (const auto& d : list.devices()) {
      if (d.id() == device) listed = d.pending_conflicts();
    }
    v1::GetDeviceRequest req;
    req.set_device_id(device);
    v1::GetDeviceResponse one;
    EXPECT_TRUE(admin_->GetDevice(Admin(), req, &one).ok());
    EXPECT_EQ(one.device().pending_conflicts(), listed);
    return listed;
  }

  absl::Status Resolve(const std::string& id, v1::Resolution how, v1::ResolveConflictResponse* resp,
                       AdminHandler* handler = nullptr) {
    v1::ResolveConflictRequest req;
    req.set_conflict_id(id);
    req.set_resolution(how);
    return (handler ? handler : admin_.get())->ResolveConflict(Admin(), {"test"}, req, resp);
  }

  Device alice_{"dev-alice", "alice"};
  Device bob_{"dev-bob", "bob"};
  std::unique_ptr<auth::AuditLog> audit_;
  std::unique_ptr<AdminHandler> admin_;
};

TEST_P(AdminHandlerTest, TakeClientWritesTheClientValueAndResolvesTheConflict) {
  const std::string id = OpenAmountConflict();
  ASSERT_FALSE(id.empty());
  EXPECT_THAT(OpenConflictIds(), ::testing::ElementsAre(id));
  EXPECT_EQ(PendingConflicts("dev-alice-2"), 1) << "alice owns the record";
  EXPECT_EQ(PendingConflicts("dev-bob"), 0);

  v1::GetConflictRequest get;
  get.set_conflict_id(id);
  v1::GetConflictResponse shown;
  ASSERT_TRUE(admin_->GetConflict(Admin(), get, &shown).ok());
  EXPECT_EQ(shown.conflict().field_path(), "amount");
  EXPECT_EQ(Amount(shown.record()), 2000) << "the server value stays until resolved";

  v1::ResolveConflictResponse resolved;
  absl::Status s = Resolve(id, v1::RESOLUTION_TAKE_CLIENT, &resolved);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(resolved.conflict().status(), v1::CONFLICT_STATUS_RESOLVED);
  EXPECT_EQ(resolved.conflict().resolved_by_user_id(), "admin");
  EXPECT_EQ(Amount(resolved.record()), 3000);
  EXPECT_TRUE(OpenConflictIds().empty());
  EXPECT_EQ(PendingConflicts("dev-alice-2"), 0);

  v1::ListConflictsRequest closed;
  closed.set_status(v1::CONFLICT_STATUS_RESOLVED);
  EXPECT_THAT(OpenConflictIds(closed), ::testing::Contains(id));

  // The owner's devices receive the new amount and the settled conflict.
  std::string cursor;
  bool saw_amount = false, saw_settled = false;
  for (const auto& c : PullAll(Rep("alice", "dev-alice-2"), &cursor)) {
    if (c.record().id() == "opp-1")
      saw_amount = c.values().opportunity().amount().amount_minor() == 3000;
    if (c.record().id() == id) {
      saw_settled = c.values().conflict().status() == v1::CONFLICT_STATUS_RESOLVED;
    }
  }
  EXPECT_TRUE(saw_amount);
  EXPECT_TRUE(saw_settled);

  auto audit = store_->audit().ListAudit(kTenant, "conflict_resolved", 0, 0, 10, false);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].target, "conflict:" + id);
  EXPECT_EQ((*audit)[0].actor_user_id, "admin");

  // A closed conflict cannot be resolved again.
  v1::ResolveConflictResponse again;
  EXPECT_EQ(Resolve(id, v1::RESOLUTION_KEEP_SERVER, &again).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(AdminHandlerTest, KeepServerDismissesAndCustomWritesTheChosenValue) {
  const std::string first = OpenAmountConflict("opp-1");
  const std::string second = OpenAmountConflict("opp-2");
  v1::ResolveConflictResponse kept;
  ASSERT_TRUE(Resolve(first, v1::RESOLUTION_KEEP_SERVER, &kept).ok());
  EXPECT_EQ(kept.conflict().status(), v1::CONFLICT_STATUS_DISMISSED);
  EXPECT_EQ(Amount(kept.record()), 2000);

  v1::ResolveConflictRequest custom;
  custom.set_conflict_id(second);
  custom.set_resolution(v1::RESOLUTION_CUSTOM);
  custom.mutable_value()->mutable_opportunity()->mutable_amount()->set_currency_code("EUR");
  custom.mutable_value()->mutable_opportunity()->mutable_amount()->set_amount_minor(2500);
  v1::ResolveConflictResponse resp;
  absl::Status s = admin_->ResolveConflict(Admin(), {"test"}, custom, &resp);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(resp.conflict().status(), v1::CONFLICT_STATUS_RESOLVED);
  EXPECT_EQ(Amount(resp.record()), 2500);

  v1::ResolveConflictRequest empty;
  empty.set_conflict_id(OpenAmountConflict("opp-3"));
  empty.set_resolution(v1::RESOLUTION_CUSTOM);
  EXPECT_EQ(admin_->ResolveConflict(Admin(), {"test"}, empty, &resp).code(),
            absl::StatusCode::kInvalidArgument);
  empty.set_resolution(v1::RESOLUTION_UNSPECIFIED);
  EXPECT_EQ(admin_->ResolveConflict(Admin(), {"test"}, empty, &resp).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(AdminHandlerTest, UnknownConflictIsNotFoundAndFiltersApply) {
  const std::string id = OpenAmountConflict();
  v1::ResolveConflictResponse resp;
  EXPECT_EQ(Resolve("cf-nope", v1::RESOLUTION_TAKE_CLIENT, &resp).code(),
            absl::StatusCode::kNotFound);
  v1::GetConflictRequest get;
  get.set_conflict_id("cf-nope");
  v1::GetConflictResponse shown;
  EXPECT_EQ(admin_->GetConflict(Admin(), get, &shown).code(), absl::StatusCode::kNotFound);

  v1::ListConflictsRequest by_owner;
  by_owner.set_owner_user_id("alice");
  EXPECT_THAT(OpenConflictIds(by_owner), ::testing::ElementsAre(id));
  by_owner.set_owner_user_id("bob");
  EXPECT_TRUE(OpenConflictIds(by_owner).empty());
  v1::ListConflictsRequest by_record;
  by_record.mutable_record()->set_entity_type(v1::ENTITY_TYPE_OPPORTUNITY);
  by_record.mutable_record()->set_id("opp-other");
  EXPECT_TRUE(OpenConflictIds(by_record).empty());
}

TEST_P(AdminHandlerTest, OnlyAdminsOfTheSameTenant) {
  const std::string id = OpenAmountConflict();
  v1::ListConflictsResponse list;
  EXPECT_EQ(admin_->ListConflicts(Manager(), {}, &list).code(),
            absl::StatusCode::kPermissionDenied);
  v1::ResolveConflictRequest req;
  req.set_conflict_id(id);
  req.set_resolution(v1::RESOLUTION_TAKE_CLIENT);
  v1::ResolveConflictResponse resp;
  EXPECT_EQ(admin_->ResolveConflict(Rep("alice", "dev-alice"), {}, req, &resp).code(),
            absl::StatusCode::kPermissionDenied);

  ASSERT_TRUE(store_->directory().PutTenant({"t-other", "other", "Other"}).ok());
  Principal stranger{"t-other", "admin", v1::ROLE_ADMIN, "", "", ""};
  ASSERT_TRUE(admin_->ListConflicts(stranger, {}, &list).ok());
  EXPECT_EQ(list.conflicts_size(), 0);
  EXPECT_EQ(admin_->ResolveConflict(stranger, {}, req, &resp).code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(OpenConflictIds(), ::testing::ElementsAre(id)) << "untouched in its own tenant";
}

TEST_P(AdminHandlerTest, AdminDeviceSequenceContinuesAcrossHandlerInstances) {
  // Two handlers on one store stand for two server instances (or a restart).
  auto other = NewHandler();
  v1::ResolveConflictResponse resp;
  absl::Status s = Resolve(OpenAmountConflict("opp-1"), v1::RESOLUTION_TAKE_CLIENT, &resp);
  ASSERT_TRUE(s.ok()) << s;
  s = Resolve(OpenAmountConflict("opp-2"), v1::RESOLUTION_TAKE_CLIENT, &resp, other.get());
  ASSERT_TRUE(s.ok()) << s << " (a reused client_seq would be rejected)";
  EXPECT_EQ(Amount(resp.record()), 3000);
  auto claimed = [&] {
    int64_t n = -1;
    EXPECT_TRUE(store_->changes()
                    .Write(kTenant,
                           [&](WriteTx& tx) -> absl::Status {
                             auto v = tx.GetClaim(kAdminSeqClaim);
                             if (!v.ok()) return v.status();
                             n = *v;
                             return absl::OkStatus();
                           })
                    .ok());
    return n;
  }();
  EXPECT_EQ(claimed, 2);
  // The server's writer is not a device an operator must watch.
  v1::ListDevicesResponse devices;
  ASSERT_TRUE(admin_->ListDevices(Admin(), {}, &devices).ok());
  for (const auto& d : devices.devices()) EXPECT_NE(d.id(), kAdminDeviceId);
}

// The open-conflict counts (Device.pending_conflicts, GetStats) follow
// writes made through any handler (another instance) by reading on from
// where they were, and start over only when the feed cannot be read on.
TEST_P(AdminHandlerTest, OpenConflictCountsFollowTheFeedAndStartOverOnlyWhenTheyMust) {
  auto other = NewHandler();
  OpenConflicts counts(&store_->changes());
  auto open_in_stats = [&] {
    v1::GetStatsResponse stats;
    EXPECT_TRUE(admin_->GetStats(Admin(), {}, &stats).ok());
    return stats.open_conflicts();
  };
  EXPECT_EQ(open_in_stats(), 0);
  EXPECT_EQ(*counts.Total(kTenant), 0);
  const std::string first = OpenAmountConflict("opp-1");
  const std::string second = OpenAmountConflict("opp-2");
  EXPECT_EQ(open_in_stats(), 2);
  EXPECT_EQ(PendingConflicts("dev-alice-2"), 2);
  EXPECT_EQ(*counts.Total(kTenant), 2);
  EXPECT_EQ(counts.ByOwner(kTenant)->at("alice"), 2);

  v1::ResolveConflictResponse resp;
  ASSERT_TRUE(Resolve(first, v1::RESOLUTION_KEEP_SERVER, &resp, other.get()).ok());
  EXPECT_EQ(open_in_stats(), 1) << "resolved through another handler";
  EXPECT_EQ(PendingConflicts("dev-alice-2"), 1);
  EXPECT_EQ(*counts.Total(kTenant), 1);
  OpenAmountConflict("opp-3");
  EXPECT_EQ(*counts.Total(kTenant), 2);
  EXPECT_EQ(counts.rebuilds(), 0) << "read on, not read again";

  // A restored store (a new history) is read again from the start.
  ASSERT_TRUE(store_->changes().StartNewHistory(kTenant).ok());
  EXPECT_EQ(*counts.ByOwner(kTenant), (std::map<std::string, int64_t>{{"alice", 2}}));
  EXPECT_EQ(counts.rebuilds(), 1);
  ASSERT_TRUE(Resolve(second, v1::RESOLUTION_KEEP_SERVER, &resp).ok());
  EXPECT_EQ(*counts.Total(kTenant), 1);
  EXPECT_EQ(open_in_stats(), 1);
  EXPECT_EQ(counts.rebuilds(), 1);

  // Pruning up to where the view has read is no reason to start over;
  // pruning past it is (a tombstone it never read may be gone).
  PruneWithAlice2Silent();
  EXPECT_EQ(*counts.Total(kTenant), 1);
  EXPECT_EQ(counts.rebuilds(), 1);
  OpenAmountConflict("opp-4");
  PruneWithAlice2Silent();
  EXPECT_EQ(*counts.Total(kTenant), 2);
  EXPECT_EQ(counts.rebuilds(), 2);
}

TEST_P(AdminHandlerTest, StoresAreUpsertedAsSyncedRecords) {
  v1::UpsertStoreRequest req;
  req.mutable_store()->set_id("store-9");
  req.mutable_store()->set_name("Nice Massena");
  req.mutable_store()->mutable_location()->set_latitude(43.6975);
  req.mutable_store()->mutable_location()->set_longitude(7.2700);
  req.mutable_store()->set_time_zone("Europe/Paris");
  v1::UpsertStoreResponse resp;
  absl::Status s = admin_->UpsertStore(Admin(), {"test"}, req, &resp);
  ASSERT_TRUE(s.ok()) << s;
  req.mutable_store()->set_name("Nice Masséna");
  req.mutable_store()->clear_time_zone();
  s = admin_->UpsertStore(Admin(), {"test"}, req, &resp);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(resp.store().name(), "Nice Masséna");
  EXPECT_EQ(resp.store().time_zone(), "") << "an upsert replaces the store";

  v1::ListStoresResponse list;
  ASSERT_TRUE(admin_->ListStores(Admin(), {}, &list).ok());
  ASSERT_EQ(list.stores_size(), 1);
  EXPECT_EQ(list.stores(0).name(), "Nice Masséna");

  req.mutable_store()->set_name("");
  EXPECT_EQ(admin_->UpsertStore(Admin(), {}, req, &resp).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(admin_->UpsertStore(Manager(), {}, req, &resp).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_P(AdminHandlerTest, CouponsFilteredByDistanceAndActivity) {
  const int64_t now_s = clock_.NowMs() / 1000;
  v1::UpsertStoreRequest store;
  store.mutable_store()->set_id("store-lyon");
  store.mutable_store()->set_name("Lyon");
  store.mutable_store()->mutable_location()->set_latitude(45.7578);
  store.mutable_store()->mutable_location()->set_longitude(4.8320);
  v1::UpsertStoreResponse stored;
  ASSERT_TRUE(admin_->UpsertStore(Admin(), {}, store, &stored).ok());

  auto coupon = [&](const std::string& id) {
    v1::UpsertCouponRequest req;
    v1::Coupon* c = req.mutable_coupon();
    c->set_id(id);
    c->set_code(id + "-CODE");
    c->set_title(id);
    c->set_percent_off_bp(1000);
    c->mutable_valid_from()->set_seconds(now_s - 3600);
    c->mutable_valid_until()->set_seconds(now_s + 3600);
    c->set_active(true);
    return req;
  };
  v1::UpsertCouponResponse resp;
  auto paris = coupon("paris");  // a 5 km circle around central Paris
  paris.mutable_coupon()->mutable_geofence()->mutable_circle()->mutable_center()->set_latitude(
      48.8566);
  paris.mutable_coupon()->mutable_geofence()->mutable_circle()->mutable_center()->set_longitude(
      2.3522);
  paris.mutable_coupon()->mutable_geofence()->mutable_circle()->set_radius_m(5000);
  ASSERT_TRUE(admin_->UpsertCoupon(Admin(), {}, paris, &resp).ok());
  auto lyon = coupon("lyon");  // redeemable at the Lyon store
  lyon.mutable_coupon()->add_store_ids("store-lyon");
  ASSERT_TRUE(admin_->UpsertCoupon(Admin(), {}, lyon, &resp).ok());
  auto expired = coupon("expired");
  expired.mutable_coupon()->mutable_valid_until()->set_seconds(now_s - 60);
  absl::Status s = admin_->UpsertCoupon(Admin(), {}, expired, &resp);
  ASSERT_TRUE(s.ok()) << s;

  auto ids = [&](const v1::ListCouponsRequest& req) {
    v1::ListCouponsResponse list;
    absl::Status st = admin_->ListCoupons(Admin(), req, &list);
    EXPECT_TRUE(st.ok()) << st;
    std::vector<std::string> out;
    for (const auto& c : list.coupons()) out.push_back(c.id());
    return out;
  };
  using ::testing::UnorderedElementsAre;
  EXPECT_THAT(ids({}), UnorderedElementsAre("paris", "lyon"));
  v1::ListCouponsRequest all;
  all.set_include_inactive(true);
  EXPECT_THAT(ids(all), UnorderedElementsAre("paris", "lyon", "expired"));
  v1::ListCouponsRequest at_louvre;  // ~2 km from the circle's centre
  at_louvre.mutable_at()->set_latitude(48.8606);
  at_louvre.mutable_at()->set_longitude(2.3376);
  EXPECT_THAT(ids(at_louvre), UnorderedElementsAre("paris"));
  v1::ListCouponsRequest versailles;  // ~18 km from the centre, ~13 km from the edge
  versailles.mutable_at()->set_latitude(48.8049);
  versailles.mutable_at()->set_longitude(2.1204);
  EXPECT_TRUE(ids(versailles).empty());
  versailles.set_within_km(10);
  EXPECT_TRUE(ids(versailles).empty());
  versailles.set_within_km(15);
  EXPECT_THAT(ids(versailles), UnorderedElementsAre("paris"));
  v1::ListCouponsRequest near_lyon;
  near_lyon.mutable_at()->set_latitude(45.76);
  near_lyon.mutable_at()->set_longitude(4.84);
  near_lyon.set_within_km(2);
  // A coupon without a geofence is valid only at its named stores (its
  // terminals hold it); it has no area for a point query to find.
  EXPECT_TRUE(ids(near_lyon).empty());

  // Deactivating is a replace with active = false (a proto3 default).
  lyon.mutable_coupon()->set_active(false);
  s = admin_->UpsertCoupon(Admin(), {}, lyon, &resp);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_FALSE(resp.coupon().active());
  EXPECT_THAT(ids({}), UnorderedElementsAre("paris"));
}

TEST_P(AdminHandlerTest, DevicesShowTheirLastClientSeqProtocolAndSdkVersion) {
  v1::PushRequest push;
  push.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  push.mutable_client()->set_sdk_version("crmsync-client/9.8.7");
  *push.add_mutations() = alice_.Create(LeadRecord("lead-1", "alice", "J", "1"), clock_.NowMs());
  *push.add_mutations() = alice_.Create(LeadRecord("lead-2", "alice", "K", "2"), clock_.NowMs());
  const int64_t highest = push.mutations(1).client_seq();
  v1::PushResponse pushed;
  ASSERT_TRUE(push_->Push(Rep("alice", "dev-alice"), push, &pushed).ok());
  // A later pull (another SDK version) keeps the highest client_seq.
  v1::PullRequest pull;
  pull.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  pull.mutable_client()->set_sdk_version("crmsync-client/9.8.8");
  v1::PullResponse pulled;
  ASSERT_TRUE(pull_->Pull(Rep("alice", "dev-alice"), pull, &pulled).ok());

  v1::GetDeviceRequest get;
  get.set_device_id("dev-alice");
  v1::GetDeviceResponse got;
  ASSERT_TRUE(admin_->GetDevice(Admin(), get, &got).ok());
  EXPECT_EQ(got.device().last_client_seq(), highest);
  EXPECT_EQ(got.device().protocol_version(), kMaxProtocolVersion);
  EXPECT_EQ(got.device().sdk_version(), "crmsync-client/9.8.8");
  v1::ListDevicesResponse list;
  ASSERT_TRUE(admin_->ListDevices(Admin(), {}, &list).ok());
  bool found = false;
  for (const auto& d : list.devices()) {
    if (d.id() != "dev-alice") continue;
    found = true;
    EXPECT_EQ(d.last_client_seq(), highest);
    EXPECT_EQ(d.sdk_version(), "crmsync-client/9.8.8");
  }
  EXPECT_TRUE(found);
  // An SDK version that cannot be stored is refused before anything is.
  push.mutable_client()->set_sdk_version(std::string(200, 'x'));
  EXPECT_EQ(push_->Push(Rep("alice", "dev-alice"), push, &pushed).code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- erasure (docs/protocol.md, "Erasure") ----

v1::RecordRef LeadRef(const std::string& id) {
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_LEAD);
  ref.set_id(id);
  return ref;
}

TEST_P(AdminHandlerTest, ErasureReachesDevicesThatHeldTheRecordAsErasedAndNoOneElse) {
  auto created = PushOk(
      Rep("alice", "dev-alice"),
      {alice_.Create(LeadRecord("lead-p", "alice", "Zephyrine", "+33 6 11"), clock_.NowMs())});
  ASSERT_EQ(created.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  std::string tablet, bob;
  PullAll(Rep("alice", "dev-alice-2"), &tablet);  // holds the private lead
  PullAll(Rep("bob", "dev-bob"), &bob);           // cannot see it

  v1::EraseRecordRequest req;
  *req.mutable_record() = LeadRef("lead-p");
  req.set_reason("ticket 42");
  v1::EraseRecordResponse resp;
  ASSERT_TRUE(admin_->EraseRecord(Admin(), AdminContext{"test"}, req, &resp).ok());
  EXPECT_GT(resp.change_seq(), 0);

  auto tablet_changes = PullAll(Rep("alice", "dev-alice-2"), &tablet);
  ASSERT_EQ(tablet_changes.size(), 1u);
  EXPECT_EQ(tablet_changes[0].kind(), v1::CHANGE_KIND_ERASED);
  EXPECT_EQ(tablet_changes[0].record().id(), "lead-p");
  EXPECT_FALSE(tablet_changes[0].has_values()) << "an erasure notice carries no values";
  // The phone that created the lead and never pulled holds it from its push
  // result: it is told too.
  std::string phone;
  auto phone_changes = PullAll(Rep("alice", "dev-alice"), &phone);
  ASSERT_EQ(phone_changes.size(), 1u);
  EXPECT_EQ(phone_changes[0].kind(), v1::CHANGE_KIND_ERASED);
  // Devices that never held it hear nothing.
  EXPECT_TRUE(PullAll(Rep("bob", "dev-bob"), &bob).empty());
  std::string carol;
  EXPECT_TRUE(PullAll(Rep("carol", "dev-carol"), &carol).empty());
  // Nothing of the person is stored.
  auto stored = store_->changes().GetRecord(kTenant, LeadRef("lead-p"));
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->SerializeAsString().find("Zephyrine"), std::string::npos);
  EXPECT_EQ((*stored)->SerializeAsString().find("+33 6 11"), std::string::npos);
}

TEST_P(AdminHandlerTest, ErasureReachesATeammateWhoHeldTheLeadBeforeItWentPrivate) {
  auto created = PushOk(
      Rep("alice", "dev-alice"),
      {alice_.Create(LeadRecord("lead-p", "alice", "Zephyrine", "+33 6 11", v1::VISIBILITY_TEAM),
                     clock_.NowMs())});
  std::string bob;
  PullAll(Rep("bob", "dev-bob"), &bob);
  v1::Record hide;
  hide.mutable_lead()->set_visibility(v1::VISIBILITY_PRIVATE);
  clock_.Advance(10);
  PushOk(Rep("alice", "dev-alice"),
         {alice_.Update(created.results(0).record(), hide, {"visibility"}, clock_.NowMs())});
  v1::EraseRecordRequest req;
  *req.mutable_record() = LeadRef("lead-p");
  v1::EraseRecordResponse resp;
  ASSERT_TRUE(admin_->EraseRecord(Admin(), AdminContext{"test"}, req, &resp).ok());
  for (int page_size : {1, 0}) {
    std::string cursor = bob;
    auto changes = PullAll(Rep("bob", "dev-bob"), &cursor, page_size);
    ASSERT_EQ(changes.size(), 1u) << "page_size=" << page_size;
    EXPECT_EQ(changes[0].kind(), v1::CHANGE_KIND_ERASED) << "page_size=" << page_size;
  }
}

TEST_P(AdminHandlerTest, OfflineEditOfAnErasedRecordIsRejectedAndBringsNothingBack) {
  // Whatever the delete rule: here the rule would let an edit restore a
  // deleted record.
  policies_.set_delete_rule(sync::DeleteRule::kKeepUpdate);
  auto created = PushOk(
      Rep("alice", "dev-alice"),
      {alice_.Create(LeadRecord("lead-p", "alice", "Zephyrine", "+33 6 11"), clock_.NowMs())});
  v1::EraseRecordRequest req;
  *req.mutable_record() = LeadRef("lead-p");
  v1::EraseRecordResponse resp;
  ASSERT_TRUE(admin_->EraseRecord(Admin(), AdminContext{"test"}, req, &resp).ok());
  const int64_t latest = *store_->changes().LatestSeq(kTenant);

  v1::Record notes;
  notes.mutable_lead()->set_notes("Zephyrine's new address");
  clock_.Advance(10);
  auto edit = PushOk(
      Rep("alice", "dev-alice"),
      {alice_.Update(created.results(0).record(), notes, {"notes"}, clock_.NowMs()),
       alice_.Create(LeadRecord("lead-p", "alice", "Zephyrine", "+33 6 11"), clock_.NowMs())});
  for (const auto& r : edit.results()) {
    EXPECT_EQ(r.outcome(), v1::MUTATION_OUTCOME_REJECTED);
    EXPECT_EQ(r.reject_reason(), v1::REJECT_REASON_RECORD_DELETED);
    EXPECT_FALSE(r.has_record());
  }
  EXPECT_EQ(*store_->changes().LatestSeq(kTenant), latest) << "nothing written";
  auto stored = store_->changes().GetRecord(kTenant, LeadRef("lead-p"));
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_TRUE((*stored)->deleted());
  EXPECT_EQ((*stored)->SerializeAsString().find("Zephyrine"), std::string::npos);
}

// ---- lineage (docs/stewardship.md) ----

v1::GetFieldHistoryRequest HistoryOf(const std::string& id, const std::string& field = "") {
  v1::GetFieldHistoryRequest req;
  req.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  req.mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  req.mutable_record()->set_id(id);
  req.set_field(field);
  return req;
}

// "value@device" of each entry, newest first.
std::vector<std::string> Phones(const v1::GetFieldHistoryResponse& resp) {
  std::vector<std::string> out;
  for (const auto& e : resp.entries()) {
    out.push_back(e.value().lead().phone() + "@" + e.provenance().device_id() +
                  (e.current() ? "*" : ""));
  }
  return out;
}

TEST_P(AdminHandlerTest, FieldHistoryTellsWhereEachValueCameFromToThoseWhoMayReadIt) {
  store_->changes().SetFieldHistoryDepth(3);
  auto created =
      PushOk(Rep("alice", "dev-alice"),
             {alice_.Create(LeadRecord("lead-h", "alice", "Ana", "+33 1", v1::VISIBILITY_TEAM),
                            clock_.NowMs())});
  v1::RecordState state = created.results(0).record();
  for (const char* phone : {"+33 2", "+33 3", "+33 4"}) {
    clock_.Advance(10);
    v1::Record values;
    values.mutable_lead()->set_phone(phone);
    state =
        PushOk(Rep("alice", "dev-alice"), {alice_.Update(state, values, {"phone"}, clock_.NowMs())})
            .results(0)
            .record();
  }
  // Bob (same team) edits the phone too.
  clock_.Advance(10);
  v1::Record bobs;
  bobs.mutable_lead()->set_phone("+33 9");
  PushOk(Rep("bob", "dev-bob"), {bob_.Update(state, bobs, {"phone"}, clock_.NowMs())});

  v1::GetFieldHistoryResponse resp;
  ASSERT_TRUE(
      pull_->GetFieldHistory(Rep("alice", "dev-alice"), HistoryOf("lead-h", "phone"), &resp).ok());
  EXPECT_EQ(resp.depth(), 3);
  EXPECT_THAT(Phones(resp),
              ::testing::ElementsAre("+33 9@dev-bob*", "+33 4@dev-alice", "+33 3@dev-alice"))
      << "newest first, at most the depth, the current value marked";
  EXPECT_EQ(resp.entries(0).provenance().author_user_id(), "bob");
  EXPECT_GT(resp.entries(0).hlc().wall_time_ms(), resp.entries(1).hlc().wall_time_ms());
  auto limited = HistoryOf("lead-h", "phone");
  limited.set_limit(1);
  ASSERT_TRUE(pull_->GetFieldHistory(Rep("bob", "dev-bob"), limited, &resp).ok());
  EXPECT_THAT(Phones(resp), ::testing::ElementsAre("+33 9@dev-bob*"));
  // Every field: first_name's only value (from the create) is there too.
  ASSERT_TRUE(pull_->GetFieldHistory(Rep("alice", "dev-alice"), HistoryOf("lead-h"), &resp).ok());
  bool first_name = false;
  for (const auto& e : resp.entries()) {
    first_name = first_name || (e.path() == "first_name" &&
                                e.value().lead().first_name() == "Ana" && e.current());
  }
  EXPECT_TRUE(first_name);

  // Carol (another team) may not read the lead: answered like a missing one.
  EXPECT_EQ(pull_->GetFieldHistory(Rep("carol", "dev-carol"), HistoryOf("lead-h"), &resp).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(pull_->GetFieldHistory(Rep("alice", "dev-alice"), HistoryOf("no-such"), &resp).code(),
            absl::StatusCode::kNotFound);
  // The admin reads any record of the tenant; only admins use AdminService.
  ASSERT_TRUE(admin_->GetFieldHistory(Admin(), HistoryOf("lead-h", "phone"), &resp).ok());
  EXPECT_EQ(resp.entries_size(), 3);
  EXPECT_EQ(admin_->GetFieldHistory(Rep("alice", "dev-alice"), HistoryOf("lead-h"), &resp).code(),
            absl::StatusCode::kPermissionDenied);

  // Bad requests name what is wrong.
  absl::Status bad = pull_->GetFieldHistory(Rep("alice", "dev-alice"),
                                            HistoryOf("lead-h", "no_such_field"), &resp);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("no_such_field"), std::string::npos) << bad;
  auto no_type = HistoryOf("lead-h");
  no_type.mutable_record()->set_entity_type(v1::ENTITY_TYPE_UNSPECIFIED);
  EXPECT_EQ(pull_->GetFieldHistory(Rep("alice", "dev-alice"), no_type, &resp).code(),
            absl::StatusCode::kInvalidArgument);
  auto negative = HistoryOf("lead-h");
  negative.set_limit(-1);
  EXPECT_EQ(pull_->GetFieldHistory(Rep("alice", "dev-alice"), negative, &resp).code(),
            absl::StatusCode::kInvalidArgument);

  // The pruner trims to the depth: 5 phone values were written, 3 stay.
  auto report = PruneWithAlice2Silent();
  EXPECT_EQ(report.field_values_removed, 2);
}

TEST_P(AdminHandlerTest, ErasureTakesTheFieldHistoryWithIt) {
  store_->changes().SetFieldHistoryDepth(5);
  auto created =
      PushOk(Rep("alice", "dev-alice"),
             {alice_.Create(LeadRecord("lead-e", "alice", "Eve", "+33 7"), clock_.NowMs())});
  ASSERT_EQ(created.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  clock_.Advance(10);
  v1::Record values;
  values.mutable_lead()->set_phone("+33 8");
  PushOk(Rep("alice", "dev-alice"),
         {alice_.Update(created.results(0).record(), values, {"phone"}, clock_.NowMs())});
  v1::GetFieldHistoryResponse resp;
  ASSERT_TRUE(admin_->GetFieldHistory(Admin(), HistoryOf("lead-e", "phone"), &resp).ok());
  ASSERT_EQ(resp.entries_size(), 2);
  auto stored = store_->changes().ReadFieldHistory(kTenant, LeadRef("lead-e"), "", 5);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), 1u) << "the replaced +33 7";
  v1::EraseRecordRequest req;
  *req.mutable_record() = LeadRef("lead-e");
  v1::EraseRecordResponse erased;
  ASSERT_TRUE(admin_->EraseRecord(Admin(), AdminContext{"test"}, req, &erased).ok());
  EXPECT_EQ(admin_->GetFieldHistory(Admin(), HistoryOf("lead-e"), &resp).code(),
            absl::StatusCode::kNotFound);
  // Nothing of it is left in the store either.
  auto kept = store_->changes().ReadFieldHistory(kTenant, LeadRef("lead-e"), "", 5);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_TRUE(kept->empty());
}

INSTANTIATE_TEST_SUITE_P(Stores, AdminHandlerTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace crmsync::server::testing
