// A server restored from an older backup while devices hold newer data: the
// devices are told their cursors belong to a history the server no longer
// has, re-bootstrap, and re-send what the backup missed (docs/operations.md,
// "Restore"). Real crm-syncd processes on the embedded SQLite store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <set>

#include "crmsync/v1/admin.grpc.pb.h"
#include "e2e_harness.h"

namespace crmsync::client {
namespace {

using testing::E2eDevice;
namespace fs = std::filesystem;

// Parameter: whether the operator runs `crm-syncd --new-history` after
// restoring (the documented procedure), or forgets to (the server then
// notices cursors ahead of its feed).
class RestoreTest : public ::testing::TestWithParam<bool> {
 protected:
  std::string Db() const { return dir_.File("server.db"); }

  void StartServer() {
    std::string error;
    ASSERT_TRUE(server_->Start(
        {"--dev-insecure", "--demo-tenant", "--dev-identity", "--store", "sqlite:" + Db()}, &error))
        << error;
  }
  void StopServer() {
    ASSERT_EQ(server_->Stop(SIGTERM), 0);
    server_ = std::make_unique<crmsync::testing::ServerProcess>();
  }
  // The device `name` of alice's, connected to the running server (its
  // store persists across reconnects).
  std::unique_ptr<E2eDevice> Device(const std::string& name) {
    auto d = std::make_unique<E2eDevice>(server_->address(), dir_, "alice", name);
    EXPECT_TRUE(d->open_status.ok()) << d->open_status;
    return d;
  }
  // Nightly backup: the store file of a cleanly stopped server; the server
  // starts again.
  void TakeBackup() {
    StopServer();
    fs::copy_file(Db(), dir_.File("backup.db"));
    StartServer();
  }
  // The server is lost and restored from the backup, as docs/operations.md
  // says: files replaced, a new history (when the parameter says the
  // operator follows the procedure), start.
  void RestoreBackup() {
    StopServer();
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(Db() + suffix);
    fs::copy_file(dir_.File("backup.db"), Db());
    if (GetParam()) {
      std::string output;
      ASSERT_EQ(crmsync::testing::RunCommand(
                    {CRMSYNC_SYNCD_PATH, "--store", "sqlite:" + Db(), "--new-history"}, &output),
                0)
          << output;
    }
    StartServer();
  }
  static void SyncOk(E2eDevice* d) {
    absl::Status s = d->Sync();
    ASSERT_TRUE(s.ok()) << s << " / " << d->engine->Progress().last_error;
  }
  std::vector<v1::AuditEvent> ResentEvents() {
    auto admin = v1::AdminService::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-crmsync-dev-tenant", "demo");
    ctx.AddMetadata("x-crmsync-dev-user", "admin");
    ctx.AddMetadata("x-crmsync-dev-device", "admin-console");
    v1::ListAuditEventsRequest req;
    req.set_action("history_resent");
    req.set_page_size(100);
    v1::ListAuditEventsResponse resp;
    grpc::Status s = admin->ListAuditEvents(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.events().begin(), resp.events().end()};
  }
  static std::vector<v1::Lead> Named(E2eDevice* d, const std::string& first_name) {
    std::vector<v1::Lead> out;
    auto all = Repository<v1::Lead>(d->db.get()).List();
    EXPECT_TRUE(all.ok()) << all.status();
    if (!all.ok()) return out;
    for (const auto& l : *all) {
      if (l.first_name() == first_name) out.push_back(l);
    }
    return out;
  }

  void StaleAndFreshCopiesConverge(bool stale_first);

  testing::TempDir dir_;
  std::unique_ptr<crmsync::testing::ServerProcess> server_ =
      std::make_unique<crmsync::testing::ServerProcess>();
};

TEST_P(RestoreTest, EditsTheBackupMissedComeBackFromDevicesAndNothingIsAppliedTwice) {
  StartServer();
  {
    auto phone = Device("alice-phone"), tablet = Device("alice-tablet");
    SyncOk(phone.get());
    SyncOk(tablet.get());
  }
  TakeBackup();

  // Acknowledged work the backup does not have: the phone creates a lead and
  // writes notes on another; the tablet receives both.
  std::string created_id;
  {
    auto phone = Device("alice-phone"), tablet = Device("alice-tablet");
    Repository<v1::Lead> leads(phone->db.get());
    v1::Lead l;
    l.set_first_name("Hortense");
    l.set_last_name("Backupless");
    l.set_owner_user_id("u-alice");
    auto created = leads.Create(l);
    ASSERT_TRUE(created.ok()) << created.status();
    created_id = created->id();
    v1::Lead noted = *leads.Get("lead-alice-1");
    noted.set_notes("called after the backup");
    ASSERT_TRUE(leads.Update(noted).ok());
    ASSERT_TRUE(leads.Delete("lead-alice-3").ok());
    SyncOk(phone.get());
    EXPECT_EQ(*phone->db->PendingCount(), 0) << "acknowledged";
    SyncOk(tablet.get());
    ASSERT_THAT(Named(tablet.get(), "Hortense"), ::testing::SizeIs(1));
    ASSERT_FALSE(Repository<v1::Lead>(tablet->db.get()).Get("lead-alice-3").ok())
        << "the tablet received the delete";
    // And the tablet has one edit it has not sent yet.
    Repository<v1::Lead> on_tablet(tablet->db.get());
    v1::Lead rated = *on_tablet.Get("lead-alice-2");
    rated.set_rating(4);
    ASSERT_TRUE(on_tablet.Update(rated).ok());
  }

  RestoreBackup();
  if (HasFatalFailure()) return;

  // The phone is gone for good; the tablet is what still holds its work.
  {
    auto tablet = Device("alice-tablet");
    SyncOk(tablet.get());
    SyncOk(tablet.get());
    EXPECT_EQ(*tablet->db->PendingCount(), 0);
  }
  std::set<std::string> targets;
  const auto resent_by_tablet = ResentEvents();
  for (const auto& e : resent_by_tablet) {
    EXPECT_EQ(e.actor_device_id(), "alice-tablet");
    targets.insert(e.target());
  }
  EXPECT_THAT(targets, ::testing::Contains("ENTITY_TYPE_LEAD:" + created_id));
  EXPECT_THAT(targets, ::testing::Contains("ENTITY_TYPE_LEAD:lead-alice-1"));
  EXPECT_THAT(targets, ::testing::Contains("ENTITY_TYPE_LEAD:lead-alice-3")) << "the delete";

  // The phone comes back after all: it re-sends nothing the tablet already
  // brought back, and every device converges on every edit.
  auto phone = Device("alice-phone");
  SyncOk(phone.get());
  auto laptop = Device("alice-laptop");  // a new device: the server's view
  SyncOk(laptop.get());
  for (E2eDevice* d : {phone.get(), laptop.get()}) {
    SCOPED_TRACE(d->db->device_id());
    auto hortense = Named(d, "Hortense");
    ASSERT_THAT(hortense, ::testing::SizeIs(1)) << "created once, not twice";
    EXPECT_EQ(hortense[0].last_name(), "Backupless");
    Repository<v1::Lead> leads(d->db.get());
    EXPECT_EQ(leads.Get("lead-alice-1")->notes(), "called after the backup");
    EXPECT_EQ(leads.Get("lead-alice-2")->rating(), 4) << "the tablet's unsent edit";
    EXPECT_FALSE(leads.Get("lead-alice-3").ok()) << "deleted after the backup: stays deleted";
    EXPECT_EQ(*d->db->PendingCount(), 0);
  }
  EXPECT_EQ(ResentEvents().size(), resent_by_tablet.size()) << "the phone re-sent nothing";
}

// Two devices of one rep hold different ages of the lost work: the tablet
// last synced before the phone's later edit and delete. Whichever device
// reconnects first, the later edit wins and the delete stands: re-sent
// values carry the clock reading of their write, and a delete of a record
// the restored server never had leaves a tombstone.
void RestoreTest::StaleAndFreshCopiesConverge(bool stale_first) {
  StartServer();
  {
    auto phone = Device("alice-phone"), tablet = Device("alice-tablet");
    SyncOk(phone.get());
    SyncOk(tablet.get());
  }
  TakeBackup();
  std::string temp_id;
  {
    auto phone = Device("alice-phone"), tablet = Device("alice-tablet");
    Repository<v1::Lead> leads(phone->db.get());
    v1::Lead l;
    l.set_first_name("Transient");
    l.set_owner_user_id("u-alice");
    auto created = leads.Create(l);
    ASSERT_TRUE(created.ok()) << created.status();
    temp_id = created->id();
    v1::Lead noted = *leads.Get("lead-alice-1");
    noted.set_notes("first call");
    ASSERT_TRUE(leads.Update(noted).ok());
    SyncOk(phone.get());
    SyncOk(tablet.get());  // the tablet's copy stops here
    ASSERT_THAT(Named(tablet.get(), "Transient"), ::testing::SizeIs(1));
    ASSERT_TRUE(leads.Delete(temp_id).ok());
    noted = *leads.Get("lead-alice-1");
    noted.set_notes("second call");
    ASSERT_TRUE(leads.Update(noted).ok());
    SyncOk(phone.get());
  }
  RestoreBackup();
  if (HasFatalFailure()) return;
  auto phone = Device("alice-phone"), tablet = Device("alice-tablet");
  E2eDevice* order[] = {stale_first ? tablet.get() : phone.get(),
                        stale_first ? phone.get() : tablet.get()};
  for (int round = 0; round < 2; ++round) {
    for (E2eDevice* d : order) SyncOk(d);
  }
  auto laptop = Device("alice-laptop");  // a new device: the server's view
  SyncOk(laptop.get());
  for (E2eDevice* d : {phone.get(), tablet.get(), laptop.get()}) {
    SCOPED_TRACE(d->db->device_id());
    Repository<v1::Lead> leads(d->db.get());
    EXPECT_EQ(leads.Get("lead-alice-1")->notes(), "second call") << "the later edit wins";
    EXPECT_FALSE(leads.Get(temp_id).ok()) << "created and deleted after the backup: stays deleted";
    EXPECT_THAT(Named(d, "Transient"), ::testing::IsEmpty());
    EXPECT_EQ(*d->db->PendingCount(), 0);
  }
}

TEST_P(RestoreTest, AStaleSecondDeviceReconnectingFirstUndoesNothing) {
  StaleAndFreshCopiesConverge(/*stale_first=*/true);
}

TEST_P(RestoreTest, AStaleSecondDeviceReconnectingLastUndoesNothing) {
  StaleAndFreshCopiesConverge(/*stale_first=*/false);
}

INSTANTIATE_TEST_SUITE_P(Procedure, RestoreTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "NewHistoryMarked" : "NewHistoryNotMarked";
                         });

}  // namespace
}  // namespace crmsync::client
