// The sync engine against an in-process fake server (tests/client/
// fake_server.h) that merges with the sync core.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include "database_sync.h"
#include "engine_harness.h"

namespace crmsync::client {
namespace {

using testing::FakeDevice;
using testing::FakeServer;
using ::testing::SizeIs;

v1::Lead MakeLead(const std::string& id) {
  v1::Lead l;
  l.set_id(id);
  l.set_first_name("Jeanne");
  l.set_last_name("Leroy");
  l.set_owner_user_id("u-a");
  return l;
}

class SyncEngineTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  testing::ManualClock clock_;
  FakeServer server_;
};

TEST_F(SyncEngineTest, PushThenPullReachesTheOtherDeviceAndEmptiesTheOutbox) {
  FakeDevice a(&server_, dir_, "a", &clock_), b(&server_, dir_, "b", &clock_);
  Repository<v1::Lead> a_leads(a.db.get()), b_leads(b.db.get());
  ASSERT_TRUE(a_leads.Create(MakeLead("lead-1")).ok());
  ASSERT_EQ(*a.db->PendingCount(), 1);
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  EXPECT_EQ(*a.db->PendingCount(), 0);
  auto server_state = a.db->GetServerState(Repository<v1::Lead>::Ref("lead-1"));
  ASSERT_TRUE(server_state.ok() && server_state->has_value());
  EXPECT_GT((*server_state)->version(), 0);
  EXPECT_EQ(a.engine->Progress().pushed, 1);

  ASSERT_TRUE(b.engine->SyncOnce().ok());
  auto got = b_leads.Get("lead-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->last_name(), "Leroy");
  EXPECT_EQ(b.engine->Progress().pulled, 1);
  EXPECT_FALSE(*b.db->Cursor() == "");
}

TEST_F(SyncEngineTest, PushAcknowledgesTheResultsItStoredAndNothingItStillSends) {
  FakeDevice a(&server_, dir_, "a", &clock_);
  Repository<v1::Lead> leads(a.db.get());
  ASSERT_TRUE(leads.Create(MakeLead("lead-1")).ok());  // client_seq 1
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  ASSERT_TRUE(leads.Create(MakeLead("lead-2")).ok());  // 2
  ASSERT_TRUE(leads.Create(MakeLead("lead-3")).ok());  // 3
  server_.FailNextCalls(1);                            // this push is lost
  EXPECT_FALSE(a.engine->SyncOnce().ok());
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  ASSERT_TRUE(leads.Create(MakeLead("lead-4")).ok());  // 4
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  // (results_acked_through, first client_seq) of each push: the device
  // acknowledges exactly the results it stored, never one it is resending.
  using Seen = std::pair<int64_t, int64_t>;
  EXPECT_EQ(server_.pushes_seen(), (std::vector<Seen>{{0, 1}, {1, 2}, {1, 2}, {3, 4}}));
}

TEST_F(SyncEngineTest, PendingEditStaysVisibleWhenAPullRebasesTheRecord) {
  FakeDevice a(&server_, dir_, "a", &clock_), b(&server_, dir_, "b", &clock_);
  Repository<v1::Lead> a_leads(a.db.get()), b_leads(b.db.get());
  ASSERT_TRUE(a_leads.Create(MakeLead("lead-1")).ok());
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  ASSERT_TRUE(b.engine->SyncOnce().ok());
  // b changes the email on the server; a has an unpushed phone edit.
  v1::Lead be = *b_leads.Get("lead-1");
  be.set_email("jeanne@port.example");
  ASSERT_TRUE(b_leads.Update(be).ok());
  ASSERT_TRUE(b.engine->SyncOnce().ok());
  v1::Lead ae = *a_leads.Get("lead-1");
  ae.set_phone("+33 6 01");
  ASSERT_TRUE(a_leads.Update(ae).ok());
  // Pull only (the applier), so the edit is still pending while rebased.
  v1::PullRequest req;
  req.set_cursor(*a.db->Cursor());
  v1::PullResponse page;
  ASSERT_TRUE(server_.Pull(req, &page).ok());
  ASSERT_THAT(page.changes(), SizeIs(1));
  Database::SyncAccess access(a.db.get());
  ASSERT_TRUE(access.ApplyPullPage(page).ok());
  v1::Lead view = *a_leads.Get("lead-1");
  EXPECT_EQ(view.email(), "jeanne@port.example");
  EXPECT_EQ(view.phone(), "+33 6 01");
  EXPECT_EQ(*a.db->PendingCount(), 1);
  // And after the push both fields are on the server.
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  auto s = server_.Get(Repository<v1::Lead>::Ref("lead-1"));
  EXPECT_EQ(s->data().lead().email(), "jeanne@port.example");
  EXPECT_EQ(s->data().lead().phone(), "+33 6 01");
}

TEST_F(SyncEngineTest, ConflictOnOpportunityAmountReachesTheCallback) {
  FakeDevice a(&server_, dir_, "a", &clock_), b(&server_, dir_, "b", &clock_);
  Repository<v1::Opportunity> a_opps(a.db.get()), b_opps(b.db.get());
  v1::Opportunity o;
  o.set_id("opp-1");
  o.set_name("Oven");
  o.mutable_amount()->set_currency_code("EUR");
  o.mutable_amount()->set_amount_minor(1000);
  ASSERT_TRUE(a_opps.Create(o).ok());
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  ASSERT_TRUE(b.engine->SyncOnce().ok());
  o.mutable_amount()->set_amount_minor(2000);
  ASSERT_TRUE(a_opps.Update(o).ok());
  clock_.Advance(10);
  o.mutable_amount()->set_amount_minor(3000);
  ASSERT_TRUE(b_opps.Update(o).ok());
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  ASSERT_TRUE(b.engine->SyncOnce().ok());
  ASSERT_THAT(b.conflicts, SizeIs(1));
  EXPECT_EQ(b.conflicts[0].result.outcome(), v1::MUTATION_OUTCOME_CONFLICT);
  // Manual: the server value stays, on b too after the sync.
  EXPECT_EQ(b_opps.Get("opp-1")->amount().amount_minor(), 2000);
  auto conflicts = b.db->List(v1::ENTITY_TYPE_CONFLICT);
  ASSERT_TRUE(conflicts.ok());
  EXPECT_THAT(*conflicts, SizeIs(1));
  auto notices = *b.db->Notices();
  ASSERT_THAT(notices, SizeIs(1));
  EXPECT_EQ(notices[0].kind, "conflict");
}

TEST_F(SyncEngineTest, EditOfADeletedRecordIsRejectedAndTheLocalCopyRestored) {
  FakeDevice a(&server_, dir_, "a", &clock_), b(&server_, dir_, "b", &clock_);
  Repository<v1::Lead> a_leads(a.db.get()), b_leads(b.db.get());
  ASSERT_TRUE(a_leads.Create(MakeLead("lead-1")).ok());
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  ASSERT_TRUE(b.engine->SyncOnce().ok());
  ASSERT_TRUE(b_leads.Delete("lead-1").ok());
  ASSERT_TRUE(b.engine->SyncOnce().ok());
  v1::Lead edit = *a_leads.Get("lead-1");
  edit.set_notes("called back");
  ASSERT_TRUE(a_leads.Update(edit).ok());
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  ASSERT_THAT(a.rejections, SizeIs(1));
  EXPECT_EQ(a.rejections[0].result.reject_reason(), v1::REJECT_REASON_RECORD_DELETED);
  EXPECT_EQ(a_leads.Get("lead-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*a.db->PendingCount(), 0);
}

TEST_F(SyncEngineTest, BacksOffWithJitterWhileUnreachableThenSucceeds) {
  FakeDevice a(&server_, dir_, "a", &clock_);
  ASSERT_TRUE(Repository<v1::Lead>(a.db.get()).Create(MakeLead("lead-1")).ok());
  server_.FailNextCalls(3);
  a.engine->Start();
  ASSERT_TRUE(a.WaitFor([&] { return *a.db->PendingCount() == 0; }, std::chrono::seconds(20)));
  a.engine->Stop();
  EXPECT_EQ(server_.failed_calls(), 3);
  int backoffs = 0;
  for (auto s : a.states) backoffs += s == SyncProgress::State::kBackoff;
  EXPECT_EQ(backoffs, 3);
}

TEST_F(SyncEngineTest, StartedEngineSeesAnotherDevicesChangeThroughSubscribe) {
  FakeDevice a(&server_, dir_, "a", &clock_), b(&server_, dir_, "b", &clock_);
  b.engine->Start();
  ASSERT_TRUE(
      b.WaitFor([&] { return b.engine->Progress().cycles >= 1; }, std::chrono::seconds(10)));
  ASSERT_TRUE(Repository<v1::Lead>(a.db.get()).Create(MakeLead("lead-1")).ok());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  Repository<v1::Lead> b_leads(b.db.get());
  ASSERT_TRUE(b.WaitFor([&] { return b_leads.Get("lead-1").ok(); }, std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  b.engine->Stop();
}

TEST_F(SyncEngineTest, LocalWriteTriggersAPushOfAStartedEngine) {
  FakeDevice a(&server_, dir_, "a", &clock_);
  a.engine->Start();
  ASSERT_TRUE(Repository<v1::Lead>(a.db.get()).Create(MakeLead("lead-1")).ok());
  ASSERT_TRUE(
      a.WaitFor([&] { return server_.Get(Repository<v1::Lead>::Ref("lead-1")).has_value(); },
                std::chrono::seconds(5)));
  a.engine->Stop();
}

TEST_F(SyncEngineTest, ResetRequiredRebootstrapsAndReplaysPendingEdits) {
  FakeDevice a(&server_, dir_, "a", &clock_), b(&server_, dir_, "b", &clock_);
  Repository<v1::Lead> a_leads(a.db.get()), b_leads(b.db.get());
  ASSERT_TRUE(a_leads.Create(MakeLead("lead-1")).ok());
  ASSERT_TRUE(a_leads.Create(MakeLead("lead-gone")).ok());
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  // Offline edit on a; meanwhile lead-gone disappears without a tombstone a
  // could still pull (pruned), and other changes move the feed on.
  v1::Lead edit = *a_leads.Get("lead-1");
  edit.set_notes("typed offline");
  ASSERT_TRUE(a_leads.Update(edit).ok());
  server_.Forget(Repository<v1::Lead>::Ref("lead-gone"));
  ASSERT_TRUE(b_leads.Create(MakeLead("lead-2")).ok());
  ASSERT_TRUE(b.engine->SyncOnce().ok());
  server_.RequireResetBelow(server_.Latest());
  // The push goes first (exactly-once makes a replay after reset safe).
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  EXPECT_EQ(a.engine->Progress().resets, 1);
  EXPECT_EQ(a_leads.Get("lead-1")->notes(), "typed offline");
  EXPECT_TRUE(a_leads.Get("lead-2").ok());
  EXPECT_EQ(a_leads.Get("lead-gone").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*a.db->PendingCount(), 0);
}

TEST_F(SyncEngineTest, ResetKeepsEditsMadeWhileThePushFails) {
  FakeDevice a(&server_, dir_, "a", &clock_);
  Repository<v1::Lead> leads(a.db.get());
  ASSERT_TRUE(leads.Create(MakeLead("lead-1")).ok());
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  // Reset while an edit is pending: the replica is rebuilt, the edit is kept
  // in the view and replayed.
  v1::Lead edit = *leads.Get("lead-1");
  edit.set_notes("not lost");
  ASSERT_TRUE(leads.Update(edit).ok());
  Database::SyncAccess access(a.db.get());
  ASSERT_TRUE(access.BeginReset().ok());
  EXPECT_EQ(leads.Get("lead-1")->notes(), "not lost");
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  EXPECT_EQ(leads.Get("lead-1")->notes(), "not lost");
  EXPECT_EQ(server_.Get(Repository<v1::Lead>::Ref("lead-1"))->data().lead().notes(), "not lost");
}

TEST_F(SyncEngineTest, ChecksumMismatchIsRepairedByRebootstrap) {
  FakeDevice a(&server_, dir_, "a", &clock_);
  Repository<v1::Lead> leads(a.db.get());
  ASSERT_TRUE(leads.Create(MakeLead("lead-1")).ok());
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  ASSERT_EQ(a.engine->Progress().resets, 0);
  // Corrupt the replica behind the SDK's back.
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.File("a.db").c_str(), &raw), SQLITE_OK);
    v1::RecordState bad = **a.db->GetServerState(Repository<v1::Lead>::Ref("lead-1"));
    bad.mutable_data()->mutable_lead()->set_last_name("Corrupted");
    const std::string blob = bad.SerializeAsString();
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(raw,
                                 "UPDATE records SET server_state=?1, local_state=?1 "
                                 "WHERE id='lead-1'",
                                 -1, &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_blob(st, 1, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(raw);
  }
  ASSERT_EQ(leads.Get("lead-1")->last_name(), "Corrupted");
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  EXPECT_EQ(a.engine->Progress().resets, 1);
  EXPECT_EQ(leads.Get("lead-1")->last_name(), "Leroy");
}

TEST_F(SyncEngineTest, MismatchARebootstrapCannotFixIsReportedNotFatal) {
  FakeDevice a(&server_, dir_, "a", &clock_);
  ASSERT_TRUE(Repository<v1::Lead>(a.db.get()).Create(MakeLead("lead-1")).ok());
  server_.BreakChecksum();
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  EXPECT_EQ(a.engine->Progress().resets, 1);
  EXPECT_TRUE(a.engine->Progress().checksum_mismatch);
  EXPECT_EQ(*a.db->PendingCount(), 0);
  // Within the repair interval the next cycle does not re-bootstrap again.
  clock_.Advance(60'000);
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  EXPECT_EQ(a.engine->Progress().resets, 1);
  EXPECT_TRUE(a.engine->Progress().checksum_mismatch);
  // After it, one more attempt.
  clock_.Advance(2 * 60 * 60 * 1000);
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  EXPECT_EQ(a.engine->Progress().resets, 2);
}

TEST_F(SyncEngineTest, WipeDirectiveErasesTheStore) {
  FakeDevice a(&server_, dir_, "a", &clock_);
  ASSERT_TRUE(Repository<v1::Lead>(a.db.get()).Create(MakeLead("lead-1")).ok());
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  server_.Revoke();
  absl::Status s = a.engine->SyncOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(a.wiped);
  EXPECT_EQ(a.engine->Progress().state, SyncProgress::State::kWiped);
  EXPECT_NE(access(dir_.File("a.db").c_str(), F_OK), 0);
  EXPECT_NE(access(dir_.File("a.db-wal").c_str(), F_OK), 0);
  EXPECT_EQ(a.db->Get(Repository<v1::Lead>::Ref("lead-1")).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SyncEngineTest, CancelStopsACycleBetweenPages) {
  FakeDevice a(&server_, dir_, "a", &clock_), b(&server_, dir_, "b", &clock_);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        Repository<v1::Lead>(a.db.get()).Create(MakeLead("lead-" + std::to_string(i))).ok());
  }
  ASSERT_TRUE(a.engine->SyncOnce().ok());
  server_.SetMaxPageSize(2);
  server_.SetPullHook([&](int call) {
    if (call == 3) b.engine->Cancel();  // while b's second page is served
  });
  absl::Status s = b.engine->SyncOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  // The page in flight lands; the third is never asked for.
  EXPECT_EQ(b.engine->Progress().pulled, 4);
  EXPECT_THAT(*b.db->List(v1::ENTITY_TYPE_LEAD), SizeIs(4));
  server_.SetPullHook(nullptr);
  ASSERT_TRUE(b.engine->SyncOnce().ok());  // resumes from the stored cursor
  EXPECT_THAT(*b.db->List(v1::ENTITY_TYPE_LEAD), SizeIs(5));
}

TEST_F(SyncEngineTest, OfflineSwitchRefusesToSync) {
  FakeDevice a(&server_, dir_, "a", &clock_);
  ASSERT_TRUE(a.db->SetOffline(true).ok());
  EXPECT_EQ(a.engine->SyncOnce().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(server_.push_calls(), 0);
  ASSERT_TRUE(a.db->SetOffline(false).ok());
  EXPECT_TRUE(a.engine->SyncOnce().ok());
}

}  // namespace
}  // namespace crmsync::client
