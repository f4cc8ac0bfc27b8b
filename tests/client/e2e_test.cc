// End to end: devices built on the SDK against a real crm-syncd process with
// the demo tenant (alice and bob are reps of team-north, maria its manager).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "crmsync/v1/admin.grpc.pb.h"
#include "e2e_harness.h"

namespace crmsync::client {
namespace {

using testing::E2eDevice;
using ::testing::SizeIs;

class ClientE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(syncd_.Start(&error)) << error;
  }
  std::unique_ptr<E2eDevice> Device(const std::string& user, const std::string& device,
                                    Clock* clock = SystemClock()) {
    auto d = std::make_unique<E2eDevice>(syncd_.server.address(), dir_, user, device, clock);
    EXPECT_TRUE(d->open_status.ok()) << d->open_status;
    return d;
  }
  // Both devices sync, then each changes the amount of opp-alice-1 from the
  // same base (phone 1,300,000, tablet 1,400,000), not yet synced: a manual
  // conflict once both push.
  static void EditAmountOnBoth(E2eDevice* phone, E2eDevice* tablet) {
    ASSERT_TRUE(phone->Sync().ok());
    ASSERT_TRUE(tablet->Sync().ok());
    Repository<v1::Opportunity> on_phone(phone->db.get()), on_tablet(tablet->db.get());
    v1::Opportunity a = *on_phone.Get("opp-alice-1");
    a.mutable_amount()->set_amount_minor(1'300'000);
    ASSERT_TRUE(on_phone.Update(a).ok());
    v1::Opportunity b = *on_tablet.Get("opp-alice-1");
    b.mutable_amount()->set_amount_minor(1'400'000);
    ASSERT_TRUE(on_tablet.Update(b).ok());
  }
  // The demo admin's development identity and a deadline, for AdminService.
  static void AsDemoAdmin(grpc::ClientContext* ctx) {
    ctx->AddMetadata("x-crmsync-dev-tenant", "demo");
    ctx->AddMetadata("x-crmsync-dev-user", "admin");
    ctx->AddMetadata("x-crmsync-dev-device", "admin-console");
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  }
  testing::SyncdFixture syncd_;
  testing::TempDir dir_;
};

TEST_F(ClientE2eTest, BootstrapGetsTheScopeAndMatchesTheServerChecksum) {
  auto alice = Device("alice", "alice-phone");
  ASSERT_TRUE(alice->Sync().ok()) << alice->engine->Progress().last_error;
  EXPECT_EQ(alice->engine->Progress().resets, 0);  // checksum verified, no repair
  auto leads = *alice->db->MyOpenLeads();
  EXPECT_THAT(leads, SizeIs(3));
  EXPECT_THAT(*alice->db->OpportunitiesOfAccount("acc-alice-1"), SizeIs(1));
  EXPECT_FALSE(alice->db->Search("Leroy")->empty());
  EXPECT_EQ(*alice->db->PendingCount(), 0);
}

TEST_F(ClientE2eTest, DifferentFieldsEditedOfflineOnTwoDevicesAreBothKept) {
  auto phone = Device("alice", "alice-phone"), tablet = Device("alice", "alice-tablet");
  ASSERT_TRUE(phone->Sync().ok());
  ASSERT_TRUE(tablet->Sync().ok());
  Repository<v1::Lead> on_phone(phone->db.get()), on_tablet(tablet->db.get());
  v1::Lead a = *on_phone.Get("lead-alice-1");
  a.set_notes("met at the fair");
  ASSERT_TRUE(on_phone.Update(a).ok());
  v1::Lead b = *on_tablet.Get("lead-alice-1");
  b.set_rating(5);
  ASSERT_TRUE(on_tablet.Update(b).ok());
  ASSERT_TRUE(phone->Sync().ok());
  ASSERT_TRUE(tablet->Sync().ok());
  ASSERT_TRUE(phone->Sync().ok());
  for (auto* repo : {&on_phone, &on_tablet}) {
    v1::Lead l = *repo->Get("lead-alice-1");
    EXPECT_EQ(l.notes(), "met at the fair");
    EXPECT_EQ(l.rating(), 5);
  }
  EXPECT_THAT(phone->Conflicts(), SizeIs(0));
  EXPECT_THAT(tablet->Conflicts(), SizeIs(0));
}

TEST_F(ClientE2eTest, SameLwwFieldEditedOfflineTheLaterEditWins) {
  testing::ManualClock early(SystemClock()->NowMs()), late(SystemClock()->NowMs() + 2000);
  auto phone = Device("alice", "alice-phone", &early);
  auto tablet = Device("alice", "alice-tablet", &late);
  ASSERT_TRUE(phone->Sync().ok());
  ASSERT_TRUE(tablet->Sync().ok());
  Repository<v1::Lead> on_phone(phone->db.get()), on_tablet(tablet->db.get());
  v1::Lead a = *on_phone.Get("lead-alice-2");
  a.set_notes("earlier edit");
  ASSERT_TRUE(on_phone.Update(a).ok());
  v1::Lead b = *on_tablet.Get("lead-alice-2");
  b.set_notes("later edit");
  ASSERT_TRUE(on_tablet.Update(b).ok());
  // The later edit reaches the server first; the earlier one must not win.
  ASSERT_TRUE(tablet->Sync().ok());
  ASSERT_TRUE(phone->Sync().ok());
  ASSERT_TRUE(tablet->Sync().ok());
  EXPECT_EQ(on_phone.Get("lead-alice-2")->notes(), "later edit");
  EXPECT_EQ(on_tablet.Get("lead-alice-2")->notes(), "later edit");
}

TEST_F(ClientE2eTest, FieldHistoryShowsWhoSetEachValueToDevicesThatMayReadTheRecord) {
  auto phone = Device("alice", "alice-phone");
  auto tablet = Device("alice", "alice-tablet");
  auto maria = Device("maria", "maria-laptop");
  ASSERT_TRUE(phone->Sync().ok());
  ASSERT_TRUE(tablet->Sync().ok());
  Repository<v1::Lead> on_phone(phone->db.get()), on_tablet(tablet->db.get());
  v1::Lead a = *on_phone.Get("lead-alice-2");
  a.set_phone("+33 6 00 00 00 01");
  ASSERT_TRUE(on_phone.Update(a).ok());
  ASSERT_TRUE(phone->Sync().ok());
  ASSERT_TRUE(tablet->Sync().ok());
  v1::Lead b = *on_tablet.Get("lead-alice-2");
  b.set_phone("+33 6 00 00 00 02");
  ASSERT_TRUE(on_tablet.Update(b).ok());
  ASSERT_TRUE(tablet->Sync().ok());

  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_LEAD);
  ref.set_id("lead-alice-2");
  auto history = phone->engine->FieldHistory(ref, "phone");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_GE(history->entries_size(), 2) << history->DebugString();
  EXPECT_EQ(history->entries(0).value().lead().phone(), "+33 6 00 00 00 02");
  EXPECT_EQ(history->entries(0).provenance().device_id(), "alice-tablet");
  EXPECT_TRUE(history->entries(0).current());
  EXPECT_EQ(history->entries(1).value().lead().phone(), "+33 6 00 00 00 01");
  EXPECT_EQ(history->entries(1).provenance().device_id(), "alice-phone");
  EXPECT_FALSE(history->entries(1).current());
  auto one = phone->engine->FieldHistory(ref, "phone", 1);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->entries_size(), 1);
  // The manager of the team may read it too; a field the type lacks is
  // refused with its name.
  auto managers = maria->engine->FieldHistory(ref, "phone");
  ASSERT_TRUE(managers.ok()) << managers.status();
  EXPECT_EQ(managers->entries_size(), history->entries_size());
  auto bad = phone->engine->FieldHistory(ref, "colour");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("colour"));
}

TEST_F(ClientE2eTest, OpportunityAmountConflictIsSurfacedForAHuman) {
  auto phone = Device("alice", "alice-phone"), tablet = Device("alice", "alice-tablet");
  ASSERT_NO_FATAL_FAILURE(EditAmountOnBoth(phone.get(), tablet.get()));
  Repository<v1::Opportunity> on_tablet(tablet->db.get());
  ASSERT_TRUE(phone->Sync().ok());
  ASSERT_TRUE(tablet->Sync().ok());
  ASSERT_THAT(tablet->Conflicts(), SizeIs(1));
  EXPECT_EQ(tablet->Conflicts()[0].result.outcome(), v1::MUTATION_OUTCOME_CONFLICT);
  ASSERT_THAT(tablet->Conflicts()[0].result.conflict_ids(), SizeIs(1));
  // The server value stays; the Conflict record reaches the owner's devices.
  EXPECT_EQ(on_tablet.Get("opp-alice-1")->amount().amount_minor(), 1'300'000);
  ASSERT_TRUE(phone->Sync().ok());
  Repository<v1::Conflict> conflicts(phone->db.get());
  auto c = conflicts.Get(tablet->Conflicts()[0].result.conflict_ids(0));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->status(), v1::CONFLICT_STATUS_OPEN);
  EXPECT_EQ(c->client_value().opportunity().amount().amount_minor(), 1'400'000);
}

// The tablet's conflict notice names the Conflict; once an admin resolves
// it, the next sync removes the notice. A notice of another kind stays.
TEST_F(ClientE2eTest, ConflictNoticeGoesAwayOnceAnAdminResolvesTheConflict) {
  auto phone = Device("alice", "alice-phone"), tablet = Device("alice", "alice-tablet");
  ASSERT_NO_FATAL_FAILURE(EditAmountOnBoth(phone.get(), tablet.get()));
  Repository<v1::Opportunity> on_tablet(tablet->db.get());
  Repository<v1::Lead> leads_on_tablet(tablet->db.get());
  ASSERT_TRUE(leads_on_tablet.Delete("lead-alice-3").ok());
  ASSERT_TRUE(phone->Sync().ok());
  Repository<v1::Lead> leads_on_phone(phone->db.get());
  v1::Lead edited = *leads_on_phone.Get("lead-alice-3");
  edited.set_notes("edited on the phone");
  ASSERT_TRUE(leads_on_phone.Update(edited).ok());
  ASSERT_TRUE(tablet->Sync().ok());
  ASSERT_TRUE(phone->Sync().ok());  // rejected: the tablet deleted the lead

  auto notices = *tablet->db->Notices();
  ASSERT_THAT(notices, SizeIs(1));
  EXPECT_EQ(notices[0].kind, "conflict");
  ASSERT_THAT(notices[0].conflict_ids, SizeIs(1));
  const std::string conflict_id = notices[0].conflict_ids[0];
  ASSERT_THAT(*phone->db->Notices(), SizeIs(1));  // the rejection

  {
    auto channel = grpc::CreateChannel(syncd_.server.address(), grpc::InsecureChannelCredentials());
    auto admin = v1::AdminService::NewStub(channel);
    grpc::ClientContext ctx;
    AsDemoAdmin(&ctx);
    v1::ResolveConflictRequest req;
    req.set_conflict_id(conflict_id);
    req.set_resolution(v1::RESOLUTION_TAKE_CLIENT);
    v1::ResolveConflictResponse resp;
    grpc::Status s = admin->ResolveConflict(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_TRUE(tablet->Sync().ok());
  EXPECT_THAT(*tablet->db->Notices(), SizeIs(0));
  EXPECT_EQ(on_tablet.Get("opp-alice-1")->amount().amount_minor(), 1'400'000);
  ASSERT_TRUE(phone->Sync().ok());
  auto kept = *phone->db->Notices();
  ASSERT_THAT(kept, SizeIs(1)) << "a rejection is not a conflict: it stays until cleared";
  EXPECT_EQ(kept[0].kind, "rejected");
}

TEST_F(ClientE2eTest, DeleteWinsOverAnOfflineEditAndTheEditorIsTold) {
  auto phone = Device("alice", "alice-phone"), tablet = Device("alice", "alice-tablet");
  ASSERT_TRUE(phone->Sync().ok());
  ASSERT_TRUE(tablet->Sync().ok());
  Repository<v1::Lead> on_phone(phone->db.get()), on_tablet(tablet->db.get());
  ASSERT_TRUE(on_tablet.Delete("lead-alice-3").ok());
  ASSERT_TRUE(tablet->Sync().ok());
  v1::Lead edit = *on_phone.Get("lead-alice-3");
  edit.set_notes("edited offline");
  ASSERT_TRUE(on_phone.Update(edit).ok());
  ASSERT_TRUE(phone->Sync().ok());
  ASSERT_THAT(phone->Rejections(), SizeIs(1));
  EXPECT_EQ(phone->Rejections()[0].result.reject_reason(), v1::REJECT_REASON_RECORD_DELETED);
  EXPECT_EQ(on_phone.Get("lead-alice-3").status().code(), absl::StatusCode::kNotFound);
  auto notices = *phone->db->Notices();
  ASSERT_THAT(notices, SizeIs(1));
  EXPECT_EQ(notices[0].kind, "rejected");
}

TEST_F(ClientE2eTest, ReassignedLeadMovesFromTheOldOwnersDeviceToTheNewOwners) {
  auto alice = Device("alice", "alice-phone"), bob = Device("bob", "bob-phone"),
       maria = Device("maria", "maria-tablet");
  ASSERT_TRUE(alice->Sync().ok());
  ASSERT_TRUE(bob->Sync().ok());
  ASSERT_TRUE(maria->Sync().ok());
  Repository<v1::Lead> on_alice(alice->db.get()), on_bob(bob->db.get()), on_maria(maria->db.get());
  ASSERT_TRUE(on_alice.Get("lead-alice-2").ok());
  ASSERT_FALSE(on_bob.Get("lead-alice-2").ok());
  v1::Lead moved = *on_maria.Get("lead-alice-2");
  moved.set_owner_user_id("u-bob");
  ASSERT_TRUE(on_maria.Update(moved).ok());
  ASSERT_TRUE(maria->Sync().ok());
  EXPECT_THAT(maria->Rejections(), SizeIs(0));
  ASSERT_TRUE(alice->Sync().ok());
  ASSERT_TRUE(bob->Sync().ok());
  EXPECT_EQ(on_alice.Get("lead-alice-2").status().code(), absl::StatusCode::kNotFound);
  auto got = on_bob.Get("lead-alice-2");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->owner_user_id(), "u-bob");
  EXPECT_THAT(*alice->db->MyOpenLeads(), SizeIs(2));
  EXPECT_THAT(*bob->db->MyOpenLeads(), SizeIs(4));
}

TEST_F(ClientE2eTest, ChangeMadeElsewhereShowsUpOnASubscribedDeviceWithinASecond) {
  auto phone = Device("alice", "alice-phone"), tablet = Device("alice", "alice-tablet");
  ASSERT_TRUE(phone->Sync().ok());
  tablet->engine->Start();
  ASSERT_TRUE(tablet->WaitFor([&] { return tablet->engine->Progress().cycles >= 1; },
                              std::chrono::seconds(20)));
  // Give the subscription a chance to be established: wait until the server
  // has sent it something (a heartbeat) is not observable here, so wait for
  // the stream by making a first change and seeing it arrive.
  Repository<v1::Lead> on_phone(phone->db.get()), on_tablet(tablet->db.get());
  v1::Lead first = *on_phone.Get("lead-alice-1");
  first.set_notes("warm-up");
  ASSERT_TRUE(on_phone.Update(first).ok());
  ASSERT_TRUE(phone->Sync().ok());
  ASSERT_TRUE(tablet->WaitFor([&] { return on_tablet.Get("lead-alice-1")->notes() == "warm-up"; },
                              std::chrono::seconds(20)));
  first.set_notes("seen within a second");
  ASSERT_TRUE(on_phone.Update(first).ok());
  ASSERT_TRUE(phone->Sync().ok());
  const auto pushed_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(tablet->WaitFor(
      [&] { return on_tablet.Get("lead-alice-1")->notes() == "seen within a second"; },
      std::chrono::seconds(10)));
  EXPECT_LT(std::chrono::steady_clock::now() - pushed_at, std::chrono::seconds(1));
  tablet->engine->Stop();
}

TEST_F(ClientE2eTest, RevokedDeviceIsToldToWipeAndErasesItsStore) {
  auto phone = Device("alice", "alice-phone");
  ASSERT_TRUE(phone->Sync().ok());
  {
    // The admin revokes the phone with a wipe (development identity).
    auto channel = grpc::CreateChannel(syncd_.server.address(), grpc::InsecureChannelCredentials());
    auto admin = v1::AdminService::NewStub(channel);
    grpc::ClientContext ctx;
    AsDemoAdmin(&ctx);
    v1::RevokeDeviceRequest req;
    req.set_device_id("alice-phone");
    req.set_wipe(true);
    v1::RevokeDeviceResponse resp;
    grpc::Status s = admin->RevokeDevice(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  absl::Status s = phone->Sync();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(phone->engine->Progress().state, SyncProgress::State::kWiped);
  const std::string path = dir_.File("alice-phone.db");
  EXPECT_NE(access(path.c_str(), F_OK), 0) << "store file still there";
  EXPECT_NE(access((path + "-wal").c_str(), F_OK), 0) << "WAL still there";
  EXPECT_EQ(phone->db->PendingCount().status().code(), absl::StatusCode::kFailedPrecondition);
}

// Every byte of the device's store: the file and its write-ahead log.
std::string StoreBytes(const std::string& path) {
  std::string all;
  for (const std::string& p : {path, path + "-wal", path + "-journal"}) {
    std::ifstream in(p, std::ios::binary);
    all.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return all;
}

TEST_F(ClientE2eTest, ErasedLeadLeavesNoValueInTheStoreOfADeviceWithAPendingEdit) {
  auto phone = Device("alice", "alice-phone");
  auto tablet = std::make_unique<E2eDevice>(syncd_.server.address(), dir_, "alice", "alice-tablet",
                                            SystemClock(), /*encrypted=*/false);
  ASSERT_TRUE(tablet->open_status.ok()) << tablet->open_status;
  Repository<v1::Lead> on_phone(phone->db.get()), on_tablet(tablet->db.get());
  v1::Lead person;
  person.set_first_name("Zephyrine");
  person.set_last_name("Quaglietti");
  person.set_phone("+33 6 12 34 56 78");
  person.set_email("zq@example.org");
  person.set_owner_user_id("u-alice");
  auto created = on_phone.Create(person);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_TRUE(phone->Sync().ok()) << phone->engine->Progress().last_error;
  ASSERT_TRUE(tablet->Sync().ok()) << tablet->engine->Progress().last_error;
  // Offline on the tablet: an edit that carries more of the person's data.
  v1::Lead edited = *on_tablet.Get(created->id());
  edited.set_notes("moved to 12 rue Oberkampf");
  ASSERT_TRUE(on_tablet.Update(edited).ok());
  ASSERT_EQ(*tablet->db->PendingCount(), 1);
  {
    auto channel = grpc::CreateChannel(syncd_.server.address(), grpc::InsecureChannelCredentials());
    auto admin = v1::AdminService::NewStub(channel);
    grpc::ClientContext ctx;
    AsDemoAdmin(&ctx);
    v1::EraseRecordRequest req;
    req.mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
    req.mutable_record()->set_id(created->id());
    req.set_reason("request 2026-118");
    v1::EraseRecordResponse resp;
    grpc::Status s = admin->EraseRecord(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_TRUE(tablet->Sync().ok()) << tablet->engine->Progress().last_error;
  EXPECT_EQ(on_tablet.Get(created->id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*tablet->db->PendingCount(), 0);
  const std::string bytes = StoreBytes(dir_.File("alice-tablet.db"));
  ASSERT_FALSE(bytes.empty());
  for (const char* value :
       {"Zephyrine", "Quaglietti", "12 34 56 78", "zq@example.org", "Oberkampf"}) {
    EXPECT_EQ(bytes.find(value), std::string::npos) << value << " is still in the tablet's store";
  }
  ASSERT_TRUE(phone->Sync().ok());
  EXPECT_EQ(on_phone.Get(created->id()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ClientE2eTest, UnreachableServerLeavesTheEditQueuedAndVisible) {
  auto phone = Device("alice", "alice-phone");
  ASSERT_TRUE(phone->Sync().ok());
  Repository<v1::Lead> leads(phone->db.get());
  syncd_.server.Stop(SIGKILL);
  v1::Lead l;
  l.set_first_name("Offline");
  l.set_last_name("Created");
  l.set_owner_user_id("u-alice");
  auto created = leads.Create(l);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(phone->Sync().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(*phone->db->PendingCount(), 1);
  EXPECT_TRUE(leads.Get(created->id()).ok());  // still visible locally
}

}  // namespace
}  // namespace crmsync::client
