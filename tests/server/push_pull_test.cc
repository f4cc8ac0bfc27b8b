// Push and Pull handlers on a real SQLite store, without gRPC.
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <map>

#include "crmsync/sync/change.h"
#include "crmsync/sync/checksum.h"
#include "handler_fixture.h"
#include "logic/cursor.h"
#include "logic/delivery.h"
#include "logic/directive.h"
#include "logic/hashing.h"
#include "logic/pruner.h"
#include "logic/scope.h"
#include "version.h"

namespace crmsync::server::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

std::vector<std::string> Paths(const v1::Change& c) {
  return {c.changed_fields().paths().begin(), c.changed_fields().paths().end()};
}

std::vector<std::string> Ids(const std::vector<v1::Change>& changes) {
  std::vector<std::string> ids;
  for (const auto& c : changes) ids.push_back(c.record().id());
  return ids;
}

TEST_P(HandlerTest, CreatedLeadReachesOwnersOtherDeviceWithEveryField) {
  Device phone("dev-alice", "alice");
  auto resp = PushOk(Rep("alice", "dev-alice"),
                     {phone.Create(LeadRecord("lead-1", "alice", "Jeanne", "+33 1"), kStartMs)});
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(resp.results(0).record().data().lead().first_name(), "Jeanne");
  EXPECT_GT(resp.results(0).change_seq(), 0);

  std::string cursor;
  auto changes = PullAll(Rep("alice", "dev-alice-2"), &cursor);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind(), v1::CHANGE_KIND_UPSERT);
  EXPECT_EQ(changes[0].values().lead().phone(), "+33 1");
  EXPECT_THAT(Paths(changes[0]), ::testing::IsSupersetOf({"first_name", "phone", "owner_user_id"}));
  EXPECT_EQ(commits_seen_, 1);
}

TEST_P(HandlerTest, RetriedBatchReturnsOriginalResultsAndChangesNothing) {
  Device phone("dev-alice", "alice");
  std::vector<v1::Mutation> batch = {
      phone.Create(LeadRecord("lead-1", "alice", "Jeanne", "+33 1"), kStartMs),
      phone.Create(LeadRecord("lead-2", "alice", "Paul", "+33 2"), kStartMs)};
  auto first = PushOk(Rep("alice", "dev-alice"), batch);
  auto latest = store_->changes().LatestSeq(kTenant);
  ASSERT_TRUE(latest.ok());

  auto retry = PushOk(Rep("alice", "dev-alice"), batch);  // the reply was lost
  ASSERT_EQ(retry.results_size(), 2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(
        google::protobuf::util::MessageDifferencer::Equals(retry.results(i), first.results(i)))
        << retry.results(i).ShortDebugString() << "\nvs\n"
        << first.results(i).ShortDebugString();
  }
  auto latest_after = store_->changes().LatestSeq(kTenant);
  ASSERT_TRUE(latest_after.ok());
  EXPECT_EQ(*latest_after, *latest) << "a retried batch must not create changes";
}

TEST_P(HandlerTest, ReusedClientSeqWithDifferentPayloadIsRejectedAndOriginalKept) {
  Device phone("dev-alice", "alice");
  v1::Mutation original = phone.Create(LeadRecord("lead-1", "alice", "Jeanne", "+33 1"), kStartMs);
  PushOk(Rep("alice", "dev-alice"), {original});
  v1::Mutation forged = original;
  forged.mutable_values()->mutable_lead()->set_first_name("Mallory");
  auto resp = PushOk(Rep("alice", "dev-alice"), {forged});
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(resp.results(0).reject_reason(), v1::REJECT_REASON_CLIENT_SEQ_REUSED);
  auto stored = store_->changes().GetRecord(kTenant, original.record());
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->data().lead().first_name(), "Jeanne");
}

TEST_P(HandlerTest, SameClientSeqFromAnotherDeviceIsADifferentMutation) {
  Device a("dev-alice", "alice"), b("dev-bob", "bob");
  auto ra =
      PushOk(Rep("alice", "dev-alice"), {a.Create(LeadRecord("l-a", "alice", "A", "1"), kStartMs)});
  auto rb = PushOk(Rep("bob", "dev-bob"), {b.Create(LeadRecord("l-b", "bob", "B", "2"), kStartMs)});
  EXPECT_EQ(ra.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(rb.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
}

TEST_P(HandlerTest, BatchOverTheLimitIsResourceExhaustedAndStoresNothing) {
  Device phone("dev-alice", "alice");
  std::vector<v1::Mutation> batch;
  for (int i = 0; i <= push_options_.max_batch; ++i) {
    batch.push_back(
        phone.Create(LeadRecord("lead-" + std::to_string(i), "alice", "X", "1"), kStartMs));
  }
  v1::PushResponse resp;
  auto status = Push(Rep("alice", "dev-alice"), batch, &resp);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("split it"));
  EXPECT_EQ(*store_->changes().LatestSeq(kTenant), 0);
}

// A caller waiting for a batch to be stored (an import's next batch) is
// told once it is committed, and only then; a refused batch never tells.
TEST_P(HandlerTest, CommittedIsCalledOnceTheBatchIsStoredAndNeverForARefusedOne) {
  Device phone("dev-alice", "alice");
  v1::PushRequest request;
  request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  *request.add_mutations() = phone.Create(LeadRecord("lead-1", "alice", "X", "1"), kStartMs);
  v1::PushResponse resp;
  int calls = 0;
  int64_t seen_seq = -1;
  auto committed = [&] {
    ++calls;
    seen_seq = *store_->changes().LatestSeq(kTenant);  // visible to others already
  };
  ASSERT_TRUE(push_->Push(Rep("alice", "dev-alice"), request, &resp, true, committed).ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen_seq, resp.results(0).change_seq());
  EXPECT_GT(seen_seq, 0);

  v1::PushRequest bad = request;
  bad.mutable_mutations(0)->set_client_seq(0);
  EXPECT_EQ(push_->Push(Rep("alice", "dev-alice"), bad, &resp, true, committed).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(calls, 1);
}

TEST_P(HandlerTest, NonIncreasingClientSeqIsInvalidArgumentAndStoresNothing) {
  Device phone("dev-alice", "alice");
  auto m1 = phone.Create(LeadRecord("lead-1", "alice", "X", "1"), kStartMs);
  auto m2 = phone.Create(LeadRecord("lead-2", "alice", "Y", "2"), kStartMs);
  v1::PushResponse resp;
  auto status = Push(Rep("alice", "dev-alice"), {m2, m1}, &resp);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*store_->changes().LatestSeq(kTenant), 0);
}

TEST_P(HandlerTest, RetriedMalformedMutationGetsTheSameRejection) {
  Device phone("dev-alice", "alice");
  auto bad = phone.Create(LeadRecord("lead-1", "alice", "X", "1"), kStartMs);
  bad.mutable_record()->set_id("");
  auto first = PushOk(Rep("alice", "dev-alice"), {bad});
  auto retry = PushOk(Rep("alice", "dev-alice"), {bad});
  ASSERT_EQ(first.results_size(), 1);
  ASSERT_EQ(retry.results_size(), 1);
  EXPECT_EQ(first.results(0).reject_reason(), v1::REJECT_REASON_VALIDATION);
  EXPECT_EQ(retry.results(0).reject_reason(), v1::REJECT_REASON_VALIDATION);
}

TEST_P(HandlerTest, MalformedMutationIsRejectedWhileTheRestOfTheBatchApplies) {
  Device phone("dev-alice", "alice");
  auto good = phone.Create(LeadRecord("lead-1", "alice", "X", "1"), kStartMs);
  auto bad = phone.Create(LeadRecord("lead-2", "alice", "Y", "2"), kStartMs);
  bad.mutable_update_mask()->add_paths("no_such_field");
  auto resp = PushOk(Rep("alice", "dev-alice"), {good, bad});
  ASSERT_EQ(resp.results_size(), 2);
  EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(resp.results(1).outcome(), v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(resp.results(1).reject_reason(), v1::REJECT_REASON_VALIDATION);
  auto missing = store_->changes().GetRecord(kTenant, bad.record());
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_P(HandlerTest, PullSendsOnlyTheFieldsChangedSinceTheCursor) {
  Device phone("dev-alice", "alice"), tablet("dev-alice-2", "alice");
  auto created = PushOk(Rep("alice", "dev-alice"),
                        {phone.Create(LeadRecord("lead-1", "alice", "Jeanne", "+33 1"), kStartMs)});
  std::string cursor;
  PullAll(Rep("alice", "dev-alice-2"), &cursor);

  v1::Record change;
  change.mutable_lead()->set_phone("+33 9");
  PushOk(Rep("alice", "dev-alice"),
         {phone.Update(created.results(0).record(), change, {"phone"}, kStartMs + 1000)});
  auto delta = PullAll(Rep("alice", "dev-alice-2"), &cursor);
  ASSERT_EQ(delta.size(), 1u);
  EXPECT_THAT(Paths(delta[0]), ElementsAre("phone"));
  EXPECT_EQ(delta[0].values().lead().phone(), "+33 9");
  EXPECT_TRUE(PullAll(Rep("alice", "dev-alice-2"), &cursor).empty());
}

TEST_P(HandlerTest, DeletedRecordArrivesAsTombstone) {
  Device phone("dev-alice", "alice");
  auto created = PushOk(Rep("alice", "dev-alice"),
                        {phone.Create(LeadRecord("lead-1", "alice", "J", "1"), kStartMs)});
  std::string cursor;
  PullAll(Rep("alice", "dev-alice-2"), &cursor);
  PushOk(Rep("alice", "dev-alice"), {phone.Delete(created.results(0).record(), kStartMs + 1)});

  auto changes = PullAll(Rep("alice", "dev-alice-2"), &cursor);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind(), v1::CHANGE_KIND_TOMBSTONE);
  // A bootstrapping device gets the tombstone too (it may hold the record
  // from its own push results), never the deleted data.
  std::string fresh;
  auto bootstrap = PullAll(Rep("alice", "dev-alice-2"), &fresh);
  ASSERT_EQ(bootstrap.size(), 1u);
  EXPECT_EQ(bootstrap[0].kind(), v1::CHANGE_KIND_TOMBSTONE);
  EXPECT_FALSE(bootstrap[0].values().has_lead());
}

TEST_P(HandlerTest, DeviceThatCreatedARecordBeforeItsFirstPullLearnsOfItsDeletion) {
  Device phone("dev-alice", "alice"), m("dev-maria", "maria");
  // A new device creates a lead offline and pushes before it ever pulled.
  auto created = PushOk(Rep("alice", "dev-alice"),
                        {phone.Create(LeadRecord("lead-1", "alice", "J", "1"), kStartMs)});
  PushOk(Manager(), {m.Delete(created.results(0).record(), kStartMs + 1)});
  std::string cursor;
  auto changes = PullAll(Rep("alice", "dev-alice"), &cursor);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind(), v1::CHANGE_KIND_TOMBSTONE);
}

TEST_P(HandlerTest, RepsSeeOwnAndTeamVisibleRecordsOnly) {
  Device a("dev-alice", "alice"), b("dev-bob", "bob"), c("dev-carol", "carol");
  PushOk(Rep("alice", "dev-alice"),
         {a.Create(LeadRecord("alice-private", "alice", "A", "1"), kStartMs),
          a.Create(LeadRecord("alice-team", "alice", "A", "1", v1::VISIBILITY_TEAM), kStartMs)});
  PushOk(Rep("carol", "dev-carol"),
         {c.Create(LeadRecord("carol-team", "carol", "C", "3", v1::VISIBILITY_TEAM), kStartMs)});
  std::string bob_cursor, maria_cursor, carol_cursor;
  EXPECT_THAT(Ids(PullAll(Rep("bob", "dev-bob"), &bob_cursor)), ElementsAre("alice-team"));
  EXPECT_THAT(Ids(PullAll(Manager(), &maria_cursor)),
              UnorderedElementsAre("alice-private", "alice-team"));
  EXPECT_THAT(Ids(PullAll(Rep("carol", "dev-carol"), &carol_cursor)), ElementsAre("carol-team"));
  std::string till_cursor;
  EXPECT_TRUE(PullAll(Terminal(), &till_cursor).empty());
}

TEST_P(HandlerTest, RepCannotChangeAnotherRepsPrivateLead) {
  Device a("dev-alice", "alice"), b("dev-bob", "bob");
  auto created = PushOk(Rep("alice", "dev-alice"),
                        {a.Create(LeadRecord("lead-1", "alice", "Jeanne", "1"), kStartMs)});
  v1::Record change;
  change.mutable_lead()->set_first_name("Hacked");
  auto resp = PushOk(Rep("bob", "dev-bob"),
                     {b.Update(created.results(0).record(), change, {"first_name"}, kStartMs + 1)});
  EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(resp.results(0).reject_reason(), v1::REJECT_REASON_PERMISSION_DENIED);
  EXPECT_FALSE(resp.results(0).has_record()) << "must not leak the record";
  EXPECT_EQ((*store_->changes().GetRecord(kTenant, created.results(0).record().ref()))
                ->data()
                .lead()
                .first_name(),
            "Jeanne");
}

TEST_P(HandlerTest, TerminalCannotCreateOrEditLeads) {
  Device till("dev-till", "till");
  auto resp = PushOk(Terminal(), {till.Create(LeadRecord("lead-t", "till", "T", "1"), kStartMs)});
  EXPECT_EQ(resp.results(0).reject_reason(), v1::REJECT_REASON_PERMISSION_DENIED);
  EXPECT_EQ(*store_->changes().LatestSeq(kTenant), 0);
}

TEST_P(HandlerTest, ReassignedLeadLeavesOldOwnerAndReachesNewOwner) {
  Device a("dev-alice", "alice"), m("dev-maria", "maria");
  auto created = PushOk(Rep("alice", "dev-alice"),
                        {a.Create(LeadRecord("lead-1", "alice", "Jeanne", "1"), kStartMs)});
  std::string alice_cursor, bob_cursor;
  PullAll(Rep("alice", "dev-alice"), &alice_cursor);
  PullAll(Rep("bob", "dev-bob"), &bob_cursor);

  v1::Record move;
  move.mutable_lead()->set_owner_user_id("bob");
  auto moved = PushOk(
      Manager(), {m.Update(created.results(0).record(), move, {"owner_user_id"}, kStartMs + 10)});
  ASSERT_EQ(moved.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);

  auto alice_changes = PullAll(Rep("alice", "dev-alice"), &alice_cursor);
  ASSERT_EQ(alice_changes.size(), 1u);
  EXPECT_EQ(alice_changes[0].kind(), v1::CHANGE_KIND_LEFT_SCOPE);
  auto bob_changes = PullAll(Rep("bob", "dev-bob"), &bob_cursor);
  ASSERT_EQ(bob_changes.size(), 1u);
  EXPECT_EQ(bob_changes[0].kind(), v1::CHANGE_KIND_UPSERT);
  EXPECT_EQ(bob_changes[0].values().lead().first_name(), "Jeanne") << "new owner gets every field";
}

TEST_P(HandlerTest, OfflineEditByPreviousOwnerWithinGraceIsKeptAndReachesNewOwner) {
  Device a("dev-alice", "alice"), m("dev-maria", "maria");
  auto created = PushOk(Rep("alice", "dev-alice"),
                        {a.Create(LeadRecord("lead-1", "alice", "Jeanne", "1"), kStartMs)});
  const v1::RecordState alice_copy = created.results(0).record();
  std::string alice_cursor, bob_cursor;
  PullAll(Rep("alice", "dev-alice"), &alice_cursor);  // synced before going offline
  PullAll(Rep("bob", "dev-bob"), &bob_cursor);

  v1::Record move;
  move.mutable_lead()->set_owner_user_id("bob");
  PushOk(Manager(), {m.Update(alice_copy, move, {"owner_user_id"}, kStartMs + 10)});

  clock_.Advance(3600 * 1000);  // alice syncs an hour later
  v1::Record notes;
  notes.mutable_lead()->set_notes("Wants a demo on Tuesday");
  auto resp =
      PushOk(Rep("alice", "dev-alice"), {a.Update(alice_copy, notes, {"notes"}, kStartMs + 20)});
  ASSERT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED) << resp.results(0).message();
  EXPECT_EQ(resp.results(0).record().data().lead().notes(), "Wants a demo on Tuesday");

  auto bob_changes = PullAll(Rep("bob", "dev-bob"), &bob_cursor);
  ASSERT_EQ(bob_changes.size(), 1u);
  EXPECT_EQ(bob_changes[0].values().lead().notes(), "Wants a demo on Tuesday");
}

// The Subscribe stream announces a change exactly when a pull from the
// device's cursor would send one (logic/delivery.h). Here the device's own
// late edit (accepted under the reassignment grace) concerns it although the
// record is out of its scope and its scope changed before the cursor: a
// stream that judged by "in scope now, or scope changed after the cursor"
// stayed silent while the pull had a LEFT_SCOPE for it.
TEST_P(HandlerTest, DeliveryRuleAnnouncesWhatPullSends) {
  Device a("dev-alice", "alice"), m("dev-maria", "maria");
  auto created = PushOk(Rep("alice", "dev-alice"),
                        {a.Create(LeadRecord("lead-1", "alice", "Jeanne", "1"), kStartMs)});
  const v1::RecordState alice_copy = created.results(0).record();
  v1::Record move;
  move.mutable_lead()->set_owner_user_id("bob");
  PushOk(Manager(), {m.Update(alice_copy, move, {"owner_user_id"}, kStartMs + 10)});
  std::string alice_cursor;
  PullAll(Rep("alice", "dev-alice"), &alice_cursor);  // past the reassignment
  auto position = ParseCursor(alice_cursor);
  ASSERT_TRUE(position.ok());

  clock_.Advance(3600 * 1000);
  v1::Record notes;
  notes.mutable_lead()->set_notes("Wants a demo on Tuesday");
  auto resp =
      PushOk(Rep("alice", "dev-alice"), {a.Update(alice_copy, notes, {"notes"}, kStartMs + 20)});
  ASSERT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED) << resp.results(0).message();

  const Principal alice = Rep("alice", "dev-alice");
  auto rows = store_->changes().ReadSince(kTenant, position->seq, 100);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  const RecordRow& row = rows->front();
  EXPECT_FALSE(CanRead(alice, v1::ENTITY_TYPE_LEAD, row.state.scope()));
  EXPECT_LE(row.scope_changed_version, position->seq);
  auto delivery = DeliveryFor(store_->changes(), alice, row, position->base, position->seq);
  ASSERT_TRUE(delivery.ok());
  EXPECT_EQ(delivery->kind, Delivery::Kind::kLeftScope);

  std::string cursor = alice_cursor;
  auto pulled = PullAll(alice, &cursor);
  ASSERT_EQ(pulled.size(), 1u) << "the pull and the announcement agree";
  EXPECT_EQ(pulled[0].kind(), v1::CHANGE_KIND_LEFT_SCOPE);
  // Bob, who holds it now, gets the record; Carol (another team) nothing.
  auto for_bob =
      DeliveryFor(store_->changes(), Rep("bob", "dev-bob"), row, position->base, position->seq);
  ASSERT_TRUE(for_bob.ok());
  EXPECT_EQ(for_bob->kind, Delivery::Kind::kRecord);
  auto for_carol =
      DeliveryFor(store_->changes(), Rep("carol", "dev-carol"), row, position->base, position->seq);
  ASSERT_TRUE(for_carol.ok());
  EXPECT_EQ(for_carol->kind, Delivery::Kind::kNothing);
}

TEST_P(HandlerTest, GraceEditKeepsItsContentButCannotUndoTheReassignment) {
  Device a("dev-alice", "alice"), m("dev-maria", "maria");
  auto created = PushOk(Rep("alice", "dev-alice"),
                        {a.Create(LeadRecord("lead-1", "alice", "Jeanne", "1"), kStartMs)});
  const v1::RecordState alice_copy = created.results(0).record();
  std::string alice_cursor;
  PullAll(Rep("alice", "dev-alice"), &alice_cursor);
  v1::Record move;
  move.mutable_lead()->set_owner_user_id("bob");
  PushOk(Manager(), {m.Update(alice_copy, move, {"owner_user_id"}, kStartMs + 10)});

  clock_.Advance(3600 * 1000);
  // Offline, alice wrote notes and (with a clock far ahead) took it back,
  // hid it and moved it to another team.
  v1::Record edit;
  edit.mutable_lead()->set_notes("Wants a demo on Tuesday");
  edit.mutable_lead()->set_owner_user_id("alice");
  edit.mutable_lead()->set_visibility(v1::VISIBILITY_PRIVATE);
  edit.mutable_lead()->set_team_id("south");
  auto resp =
      PushOk(Rep("alice", "dev-alice"),
             {a.Update(alice_copy, edit, {"notes", "owner_user_id", "visibility", "team_id"},
                       kStartMs + 3600 * 1000 * 24)});
  ASSERT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_MERGED) << resp.results(0).message();
  EXPECT_THAT(resp.results(0).server_kept_fields(),
              UnorderedElementsAre("owner_user_id", "visibility", "team_id"));
  auto stored = *store_->changes().GetRecord(kTenant, alice_copy.ref());
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->data().lead().notes(), "Wants a demo on Tuesday");
  EXPECT_EQ(stored->data().lead().owner_user_id(), "bob");
  EXPECT_EQ(stored->data().lead().team_id(), "north");
  EXPECT_EQ(stored->scope().owner_user_id(), "bob");

  // An edit of scope fields only is refused, and so is a delete.
  v1::Record back;
  back.mutable_lead()->set_owner_user_id("alice");
  auto refused = PushOk(Rep("alice", "dev-alice"),
                        {a.Update(alice_copy, back, {"owner_user_id"}, kStartMs + 30),
                         a.Delete(alice_copy, kStartMs + 31)});
  for (const auto& r : refused.results()) {
    EXPECT_EQ(r.outcome(), v1::MUTATION_OUTCOME_REJECTED);
    EXPECT_EQ(r.reject_reason(), v1::REJECT_REASON_OUT_OF_SCOPE) << r.message();
  }
  auto after = *store_->changes().GetRecord(kTenant, alice_copy.ref());
  EXPECT_EQ(after->version(), stored->version()) << "nothing written";
}

TEST_P(HandlerTest, GraceNeedsADeviceThatReallyHeldTheRecord) {
  Device other("dev-alice-2", "alice"), m("dev-maria", "maria");
  auto created =
      PushOk(Manager(), {m.Create(LeadRecord("lead-1", "alice", "Jeanne", "1"), kStartMs)});
  v1::Record move;
  move.mutable_lead()->set_owner_user_id("bob");
  PushOk(Manager(), {m.Update(created.results(0).record(), move, {"owner_user_id"}, kStartMs)});
  // dev-alice-2 never pulled the lead; it cannot claim the old version.
  v1::Record notes;
  notes.mutable_lead()->set_notes("guessed");
  auto resp = PushOk(Rep("alice", "dev-alice-2"),
                     {other.Update(created.results(0).record(), notes, {"notes"}, kStartMs + 1)});
  EXPECT_EQ(resp.results(0).reject_reason(), v1::REJECT_REASON_PERMISSION_DENIED);
}

TEST_P(HandlerTest, OfflineEditByPreviousOwnerAfterGraceIsRejectedOutOfScope) {
  Device a("dev-alice", "alice"), m("dev-maria", "maria");
  auto created = PushOk(Rep("alice", "dev-alice"),
                        {a.Create(LeadRecord("lead-1", "alice", "Jeanne", "1"), kStartMs)});
  std::string alice_cursor;
  PullAll(Rep("alice", "dev-alice"), &alice_cursor);
  v1::Record move;
  move.mutable_lead()->set_owner_user_id("bob");
  PushOk(Manager(), {m.Update(created.results(0).record(), move, {"owner_user_id"}, kStartMs)});
  clock_.Advance(push_options_.reassignment_grace_ms + 1000);
  v1::Record notes;
  notes.mutable_lead()->set_notes("late");
  auto resp = PushOk(Rep("alice", "dev-alice"),
                     {a.Update(created.results(0).record(), notes, {"notes"}, kStartMs + 1)});
  EXPECT_EQ(resp.results(0).reject_reason(), v1::REJECT_REASON_OUT_OF_SCOPE);
}

TEST_P(HandlerTest, PagedBootstrapResumesAndDeliversEveryRecordOnce) {
  Device a("dev-alice", "alice");
  std::vector<v1::Mutation> batch;
  for (int i = 0; i < 7; ++i) {
    batch.push_back(a.Create(LeadRecord("lead-" + std::to_string(i), "alice", "X", "1"), kStartMs));
  }
  PushOk(Rep("alice", "dev-alice"), batch);

  v1::PullRequest request;
  request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  request.set_page_size(3);
  v1::PullResponse page1;
  ASSERT_TRUE(pull_->Pull(Rep("alice", "dev-alice-2"), request, &page1).ok());
  EXPECT_EQ(page1.changes_size(), 3);
  EXPECT_TRUE(page1.has_more());
  // The device restarts and resumes from the first page's cursor.
  std::string cursor = page1.next_cursor();
  auto rest = PullAll(Rep("alice", "dev-alice-2"), &cursor, 3);
  std::vector<std::string> all = Ids(rest);
  for (const auto& c : page1.changes()) all.push_back(c.record().id());
  EXPECT_THAT(all, UnorderedElementsAre("lead-0", "lead-1", "lead-2", "lead-3", "lead-4", "lead-5",
                                        "lead-6"));
}

// has_more is exact: it is false as soon as a page reaches the end of the
// feed, also when that page is exactly full, and also when records out of
// the caller's scope are interleaved (bob's private leads).
TEST_P(HandlerTest, HasMoreIsFalseOnThePageThatReachesTheEndOfTheFeed) {
  Device a("dev-alice", "alice");
  Device b("dev-bob", "bob");
  for (int i = 0; i < 12; ++i) {
    PushOk(Rep("alice", "dev-alice"),
           {a.Create(LeadRecord("lead-" + std::to_string(i), "alice", "X", "1"), kStartMs)});
    v1::Record other = LeadRecord("bob-" + std::to_string(i), "bob", "Y", "2");
    other.mutable_lead()->set_visibility(v1::VISIBILITY_PRIVATE);
    PushOk(Rep("bob", "dev-bob"), {b.Create(other, kStartMs)});
  }
  for (int page_size : {1, 3, 4, 5, 6, 12, 13, 100}) {
    SCOPED_TRACE("page size " + std::to_string(page_size));
    std::string cursor;
    int pages = 0;
    int changes = 0;
    for (bool more = true; more; ++pages) {
      ASSERT_LT(pages, 100) << "pull does not end";
      v1::PullRequest request;
      request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
      request.set_cursor(cursor);
      request.set_page_size(page_size);
      v1::PullResponse response;
      ASSERT_TRUE(pull_->Pull(Rep("alice", "dev-alice-2"), request, &response).ok());
      for (const auto& c : response.changes()) EXPECT_EQ(c.record().id().rfind("lead-", 0), 0u);
      changes += response.changes_size();
      more = response.has_more();
      // Every page but the last is full; the last one is not empty unless
      // there was nothing at all.
      if (more) {
        EXPECT_EQ(response.changes_size(), page_size);
      } else {
        EXPECT_GT(response.changes_size(), 0);
      }
      cursor = response.next_cursor();
    }
    EXPECT_EQ(changes, 12);
    EXPECT_EQ(pages, (12 + page_size - 1) / page_size);
  }
}

// Pulls page by page from `*cursor` and applies every change to `replica`
// (keyed by id) like the SDK does.
void PullInto(PullHandler* pull, const Principal& who, std::string* cursor, int page_size,
              std::map<std::string, v1::RecordState>* replica) {
  for (int page = 0; page < 1000; ++page) {
    v1::PullRequest request;
    request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
    request.set_cursor(*cursor);
    request.set_page_size(page_size);
    v1::PullResponse response;
    ASSERT_TRUE(pull->Pull(who, request, &response).ok());
    for (const auto& c : response.changes()) {
      ASSERT_TRUE(sync::ApplyChange(&(*replica)[c.record().id()], c).ok());
    }
    *cursor = response.next_cursor();
    if (!response.has_more()) return;
  }
  FAIL() << "pull does not end";
}

TEST_P(HandlerTest, PagedBootstrapSendsInFullARecordChangedAfterAnEarlierPage) {
  // lead-0 is created first but changed last: the feed shows it after the
  // others, when the device's cursor is already past its creation.
  Device a("dev-alice", "alice");
  std::vector<v1::Mutation> batch;
  for (int i = 0; i < 5; ++i) {
    batch.push_back(a.Create(LeadRecord("lead-" + std::to_string(i), "alice", "X", "1"), kStartMs));
  }
  auto created = PushOk(Rep("alice", "dev-alice"), batch);
  v1::Record notes;
  notes.mutable_lead()->set_notes("called back");
  PushOk(Rep("alice", "dev-alice"),
         {a.Update(created.results(0).record(), notes, {"notes"}, kStartMs + 1)});

  std::map<std::string, v1::RecordState> replica;
  std::string cursor;
  PullInto(pull_.get(), Rep("alice", "dev-alice-2"), &cursor, 2, &replica);
  const v1::Lead& lead = replica["lead-0"].data().lead();
  EXPECT_EQ(lead.first_name(), "X");
  EXPECT_EQ(lead.owner_user_id(), "alice");
  EXPECT_EQ(lead.notes(), "called back");
  EXPECT_EQ(*DecodeCursor(cursor), 6);
}

TEST_P(HandlerTest, PagedCatchUpSendsInFullARecordCreatedAndChangedSinceTheDeviceCaughtUp) {
  Device a("dev-alice", "alice");
  std::map<std::string, v1::RecordState> replica;
  std::string cursor;
  PushOk(Rep("alice", "dev-alice"),
         {a.Create(LeadRecord("lead-old", "alice", "O", "0"), kStartMs)});
  PullInto(pull_.get(), Rep("alice", "dev-alice-2"), &cursor, 0, &replica);

  auto created = PushOk(Rep("alice", "dev-alice"),
                        {a.Create(LeadRecord("lead-a", "alice", "A", "1"), kStartMs),
                         a.Create(LeadRecord("lead-b", "alice", "B", "2"), kStartMs),
                         a.Create(LeadRecord("lead-c", "alice", "C", "3"), kStartMs)});
  v1::Record phone;
  phone.mutable_lead()->set_phone("99");
  PushOk(Rep("alice", "dev-alice"),
         {a.Update(created.results(0).record(), phone, {"phone"}, kStartMs + 1),
          a.Update(replica["lead-old"], phone, {"phone"}, kStartMs + 1)});

  PullInto(pull_.get(), Rep("alice", "dev-alice-2"), &cursor, 1, &replica);
  EXPECT_EQ(replica["lead-a"].data().lead().first_name(), "A");
  EXPECT_EQ(replica["lead-a"].data().lead().phone(), "99");
  EXPECT_EQ(replica["lead-old"].data().lead().first_name(), "O");
  EXPECT_EQ(replica["lead-old"].data().lead().phone(), "99");
}

// Alice's opportunity "opp-1", visible to her team, worth `amount_minor` EUR
// cents (the amount's policy is manual by default).
v1::Record TeamOpportunity(int64_t amount_minor) {
  v1::Record opp;
  opp.mutable_opportunity()->set_id("opp-1");
  opp.mutable_opportunity()->set_name("Oven");
  opp.mutable_opportunity()->mutable_amount()->set_currency_code("EUR");
  opp.mutable_opportunity()->mutable_amount()->set_amount_minor(amount_minor);
  opp.mutable_opportunity()->set_owner_user_id("alice");
  opp.mutable_opportunity()->set_team_id("north");
  opp.mutable_opportunity()->set_visibility(v1::VISIBILITY_TEAM);
  return opp;
}

TEST_P(HandlerTest, ManualConflictCreatesConflictRecordForTheOwner) {
  Device a("dev-alice", "alice"), b("dev-bob", "bob");
  auto created = PushOk(Rep("alice", "dev-alice"), {a.Create(TeamOpportunity(1000), kStartMs)});
  const v1::RecordState base = created.results(0).record();

  v1::Record alice_amount, bob_amount;
  alice_amount.mutable_opportunity()->mutable_amount()->set_currency_code("EUR");
  alice_amount.mutable_opportunity()->mutable_amount()->set_amount_minor(2000);
  bob_amount.mutable_opportunity()->mutable_amount()->set_currency_code("EUR");
  bob_amount.mutable_opportunity()->mutable_amount()->set_amount_minor(3000);
  PushOk(Rep("alice", "dev-alice"), {a.Update(base, alice_amount, {"amount"}, kStartMs + 1)});
  auto resp = PushOk(Rep("bob", "dev-bob"), {b.Update(base, bob_amount, {"amount"}, kStartMs + 2)});
  ASSERT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_CONFLICT);
  ASSERT_EQ(resp.results(0).conflict_ids_size(), 1);
  EXPECT_EQ(resp.results(0).record().data().opportunity().amount().amount_minor(), 2000)
      << "manual: the server value stays until someone resolves it";

  std::string cursor;
  auto changes = PullAll(Rep("alice", "dev-alice-2"), &cursor);
  int conflicts = 0;
  for (const auto& c : changes) {
    if (c.record().entity_type() == v1::ENTITY_TYPE_CONFLICT) {
      ++conflicts;
      EXPECT_EQ(c.values().conflict().field_path(), "amount");
      EXPECT_EQ(c.values().conflict().client_value().opportunity().amount().amount_minor(), 3000);
    }
  }
  EXPECT_EQ(conflicts, 1);
}

// A reloaded policy file (SIGHUP) applies to the next push: the amount
// turns from manual to last-writer-wins, so the same kind of concurrent
// edit that made a Conflict is now decided by the policy.
TEST_P(HandlerTest, ReplacedPoliciesDecideThePushesThatFollow) {
  Device a("dev-alice", "alice"), b("dev-bob", "bob");
  auto created = PushOk(Rep("alice", "dev-alice"), {a.Create(TeamOpportunity(1000), kStartMs)});
  v1::RecordState base = created.results(0).record();
  auto amount = [](int64_t minor) {
    v1::Record r;
    r.mutable_opportunity()->mutable_amount()->set_currency_code("EUR");
    r.mutable_opportunity()->mutable_amount()->set_amount_minor(minor);
    return r;
  };
  PushOk(Rep("alice", "dev-alice"), {a.Update(base, amount(2000), {"amount"}, kStartMs + 1)});
  auto manual =
      PushOk(Rep("bob", "dev-bob"), {b.Update(base, amount(3000), {"amount"}, kStartMs + 2)});
  ASSERT_EQ(manual.results(0).outcome(), v1::MUTATION_OUTCOME_CONFLICT);

  auto lww = sync::PolicyTable::Parse("opportunity.amount = lww\n");
  ASSERT_TRUE(lww.ok());
  push_->ReplacePolicies(std::make_shared<const sync::PolicyTable>(std::move(lww.value())));
  base = manual.results(0).record();
  PushOk(Rep("alice", "dev-alice"), {a.Update(base, amount(4000), {"amount"}, kStartMs + 3)});
  auto decided =
      PushOk(Rep("bob", "dev-bob"), {b.Update(base, amount(5000), {"amount"}, kStartMs + 4)});
  EXPECT_NE(decided.results(0).outcome(), v1::MUTATION_OUTCOME_CONFLICT);
  EXPECT_EQ(decided.results(0).record().data().opportunity().amount().amount_minor(), 5000)
      << "lww: the later edit wins";
}

TEST_P(HandlerTest, CursorOlderThanPrunedHistoryGetsResetRequired) {
  Device a("dev-alice", "alice");
  auto created = PushOk(Rep("alice", "dev-alice"),
                        {a.Create(LeadRecord("lead-1", "alice", "J", "1"), kStartMs)});
  std::string stale_cursor;
  PullAll(Rep("alice", "dev-alice-2"), &stale_cursor);
  PushOk(Rep("alice", "dev-alice"), {a.Delete(created.results(0).record(), kStartMs + 1),
                                     a.Create(LeadRecord("lead-2", "alice", "K", "2"), kStartMs)});
  // Every device but dev-alice-2 keeps up; dev-alice-2 falls silent past retention.
  PruneWithAlice2Silent();

  v1::PullRequest request;
  request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  request.set_cursor(stale_cursor);
  v1::PullResponse response;
  auto status = pull_->Pull(Rep("alice", "dev-alice-2"), request, &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DirectiveOf(status), std::optional<std::string>(kDirectiveResetRequired));
}

// A device bootstrapping after a prune starts below the pruned horizon
// (live records keep their old versions): every page size must still
// complete the bootstrap, with every record it may read.
TEST_P(HandlerTest, BootstrapInSmallPagesCompletesAfterAPrune) {
  Device a("dev-alice", "alice");
  std::vector<v1::Mutation> creates;
  for (int i = 0; i < 7; ++i) {
    creates.push_back(
        a.Create(LeadRecord("lead-" + std::to_string(i), "alice", "J", "1"), kStartMs));
  }
  auto created = PushOk(Rep("alice", "dev-alice"), creates);
  PushOk(Rep("alice", "dev-alice"), {a.Delete(created.results(2).record(), kStartMs + 1),
                                     a.Delete(created.results(5).record(), kStartMs + 1)});
  ASSERT_GT(PruneWithAlice2Silent().rows_removed, 0);

  for (int page_size : {1, 2, 3, 500}) {
    SCOPED_TRACE("page size " + std::to_string(page_size));
    const Principal device = Rep("alice", "dev-alice-2");
    Replica replica;
    std::string cursor;
    CatchUp(device, &cursor, page_size, &replica);
    EXPECT_EQ(LiveIds(replica), ReadableIds(device));
    EXPECT_EQ(LiveIds(replica).size(), 5u);
    // Caught up: the next pull is a delta of nothing.
    v1::PullRequest again;
    again.mutable_client()->set_protocol_version(kMaxProtocolVersion);
    again.set_cursor(cursor);
    v1::PullResponse none;
    ASSERT_TRUE(pull_->Pull(device, again, &none).ok());
    EXPECT_EQ(none.changes_size(), 0);
    EXPECT_FALSE(none.has_more());
  }
}

// A bootstrap paused past retention, while a record it was sent was
// deleted and the tombstone pruned, cannot go on: it would keep the record.
TEST_P(HandlerTest, BootstrapWhoseLaterChangesWerePrunedGetsResetRequired) {
  Device a("dev-alice", "alice");
  auto created = PushOk(Rep("alice", "dev-alice"),
                        {a.Create(LeadRecord("lead-1", "alice", "J", "1"), kStartMs),
                         a.Create(LeadRecord("lead-2", "alice", "K", "2"), kStartMs)});
  v1::PullRequest request;
  request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  request.set_page_size(1);
  v1::PullResponse first;
  ASSERT_TRUE(pull_->Pull(Rep("alice", "dev-alice-2"), request, &first).ok());
  ASSERT_TRUE(first.has_more());
  ASSERT_EQ(first.changes_size(), 1);
  ASSERT_EQ(first.changes(0).record().id(), "lead-1");

  PushOk(Rep("alice", "dev-alice"), {a.Delete(created.results(0).record(), kStartMs + 1)});
  PruneWithAlice2Silent();

  request.set_cursor(first.next_cursor());
  v1::PullResponse next;
  auto status = pull_->Pull(Rep("alice", "dev-alice-2"), request, &next);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_EQ(DirectiveOf(status), std::optional<std::string>(kDirectiveResetRequired));

  // Bootstrapping again works, in pages as small.
  Replica replica;
  std::string cursor;
  CatchUp(Rep("alice", "dev-alice-2"), &cursor, 1, &replica);
  EXPECT_EQ(LiveIds(replica), std::set<std::string>({"lead-2"}));
}

TEST_P(HandlerTest, PruningNeverPassesTheCursorOfAnActiveDevice) {
  Device a("dev-alice", "alice");
  auto created = PushOk(Rep("alice", "dev-alice"),
                        {a.Create(LeadRecord("lead-1", "alice", "J", "1"), kStartMs)});
  std::string cursor;
  PullAll(Rep("alice", "dev-alice-2"), &cursor);  // dev-alice-2 confirmed nothing yet
  PushOk(Rep("alice", "dev-alice"), {a.Delete(created.results(0).record(), kStartMs + 1)});
  auto report = PruneTenant(&store_->changes(), &store_->directory(), kTenant, clock_.NowMs(),
                            24 * 3600 * 1000);
  ASSERT_TRUE(report.ok());
  EXPECT_LE(report->horizon, *DecodeCursor(cursor))
      << "the horizon never passes the position an active device was handed";
  auto changes = PullAll(Rep("alice", "dev-alice-2"), &cursor);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind(), v1::CHANGE_KIND_TOMBSTONE);
}

TEST_P(HandlerTest, ChecksumMatchesAReplicaBuiltFromPulledChanges) {
  Device a("dev-alice", "alice");
  auto created = PushOk(Rep("alice", "dev-alice"),
                        {a.Create(LeadRecord("lead-1", "alice", "J", "1"), kStartMs),
                         a.Create(LeadRecord("lead-2", "alice", "K", "2"), kStartMs),
                         a.Create(LeadRecord("lead-3", "alice", "L", "3"), kStartMs)});
  v1::Record change;
  change.mutable_lead()->set_phone("99");
  PushOk(Rep("alice", "dev-alice"),
         {a.Update(created.results(0).record(), change, {"phone"}, kStartMs + 5),
          a.Delete(created.results(1).record(), kStartMs + 6)});

  std::map<std::string, v1::RecordState> replica;
  std::string cursor;
  for (const auto& c : PullAll(Rep("alice", "dev-alice-2"), &cursor)) {
    v1::RecordState& r = replica[c.record().id()];
    ASSERT_TRUE(sync::ApplyChange(&r, c).ok());
  }
  sync::ReplicaChecksum device_side(&Sha256Hex);
  for (const auto& [id, r] : replica) device_side.Add(r);
  const v1::GetChecksumResponse mine = device_side.Finish();

  v1::GetChecksumRequest request;
  request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  v1::GetChecksumResponse server;
  ASSERT_TRUE(pull_->GetChecksum(Rep("alice", "dev-alice-2"), request, &server).ok());
  EXPECT_EQ(server.cursor(), cursor);
  EXPECT_EQ(mine.digest(), server.digest());
  ASSERT_EQ(server.buckets_size(), 1);
  EXPECT_EQ(server.buckets(0).record_count(), 2);

  // A replica that missed a change no longer matches.
  replica["lead-1"].mutable_data()->mutable_lead()->set_phone("1");
  sync::ReplicaChecksum stale(&Sha256Hex);
  for (const auto& [id, r] : replica) stale.Add(r);
  const v1::GetChecksumResponse stale_sum = stale.Finish();
  EXPECT_NE(stale_sum.digest(), server.digest());
}

absl::Status PullOnce(PullHandler* pull, const Principal& who, const std::string& cursor) {
  v1::PullRequest request;
  request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  request.set_cursor(cursor);
  v1::PullResponse response;
  return pull->Pull(who, request, &response);
}

TEST_P(HandlerTest, CursorOfAnEarlierHistoryGetsHistoryChanged) {
  Device a("dev-alice", "alice");
  PushOk(Rep("alice", "dev-alice"), {a.Create(LeadRecord("lead-1", "alice", "J", "1"), kStartMs)});
  std::string cursor;
  PullAll(Rep("alice", "dev-alice-2"), &cursor);
  ASSERT_TRUE(PullOnce(pull_.get(), Rep("alice", "dev-alice-2"), cursor).ok());
  // The store is restored from a backup and given a new history, as the
  // restore procedure says; the feed then grows past the old cursor.
  ASSERT_TRUE(store_->changes().StartNewHistory(kTenant).ok());
  PushOk(Rep("alice", "dev-alice"), {a.Create(LeadRecord("lead-2", "alice", "K", "2"), kStartMs),
                                     a.Create(LeadRecord("lead-3", "alice", "L", "3"), kStartMs)});
  for (const Principal& who : {Rep("alice", "dev-alice-2")}) {
    absl::Status s = PullOnce(pull_.get(), who, cursor);
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_EQ(DirectiveOf(s), std::optional<std::string>(kDirectiveHistoryChanged));
    v1::GetChecksumRequest req;
    req.mutable_client()->set_protocol_version(kMaxProtocolVersion);
    req.set_cursor(cursor);
    v1::GetChecksumResponse resp;
    EXPECT_EQ(DirectiveOf(pull_->GetChecksum(who, req, &resp)),
              std::optional<std::string>(kDirectiveHistoryChanged));
  }
  // A bootstrap in the new history works, and its cursor is accepted.
  std::string fresh;
  EXPECT_EQ(PullAll(Rep("alice", "dev-alice-2"), &fresh).size(), 3u);
  EXPECT_TRUE(PullOnce(pull_.get(), Rep("alice", "dev-alice-2"), fresh).ok());
}

TEST_P(HandlerTest, CursorAheadOfTheFeedStartsANewHistoryForEveryone) {
  Device a("dev-alice", "alice");
  PushOk(Rep("alice", "dev-alice"), {a.Create(LeadRecord("lead-1", "alice", "J", "1"), kStartMs)});
  std::string behind;
  PullAll(Rep("bob", "dev-bob"), &behind);  // bob's device: cursor at 1
  const std::string history = store_->changes().GetFeedState(kTenant)->history_id;
  // A device that pulled up to 5 before the store went back to 1 (a backup
  // restored without a new history): its cursor is ahead of the feed.
  absl::Status ahead =
      PullOnce(pull_.get(), Rep("alice", "dev-alice-2"), EncodeCursor(5, 5, history));
  EXPECT_EQ(DirectiveOf(ahead), std::optional<std::string>(kDirectiveHistoryChanged)) << ahead;
  EXPECT_NE(store_->changes().GetFeedState(kTenant)->history_id, history);
  // bob's cursor is within the feed, but belongs to the history that went
  // back: it is refused too, even after the feed grows past the device.
  PushOk(Rep("alice", "dev-alice"), {a.Create(LeadRecord("lead-2", "alice", "K", "2"), kStartMs),
                                     a.Create(LeadRecord("lead-3", "alice", "L", "3"), kStartMs)});
  EXPECT_EQ(DirectiveOf(PullOnce(pull_.get(), Rep("bob", "dev-bob"), behind)),
            std::optional<std::string>(kDirectiveHistoryChanged));
  // A cursor from before history ids is checked against the feed only.
  EXPECT_TRUE(PullOnce(pull_.get(), Rep("bob", "dev-bob"), EncodeCursor(2)).ok());
  EXPECT_EQ(DirectiveOf(PullOnce(pull_.get(), Rep("bob", "dev-bob"), EncodeCursor(9))),
            std::optional<std::string>(kDirectiveHistoryChanged));
}

TEST_P(HandlerTest, UnsupportedProtocolVersionIsFailedPreconditionWithUpgradeDirective) {
  v1::PullRequest request;
  request.mutable_client()->set_protocol_version(kMaxProtocolVersion + 1);
  v1::PullResponse response;
  auto status = pull_->Pull(Rep("alice", "dev-alice"), request, &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DirectiveOf(status), std::optional<std::string>(kDirectiveUpgradeRequired));
}

TEST_P(HandlerTest, MalformedCursorIsInvalidArgument) {
  for (const char* bad : {"garbage", "c1.", "c1.12x", "c1.99999999999999999999", "c2.5"}) {
    v1::PullRequest request;
    request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
    request.set_cursor(bad);
    v1::PullResponse response;
    EXPECT_EQ(pull_->Pull(Rep("alice", "dev-alice"), request, &response).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, HandlerTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST(CursorTest, RoundTrips) {
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{42}, INT64_MAX}) {
    auto decoded = DecodeCursor(EncodeCursor(v));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, v);
    auto parsed = ParseCursor(EncodeCursor(v));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->base, v);
  }
  auto paging = ParseCursor(EncodeCursor(42, 7));
  ASSERT_TRUE(paging.ok());
  EXPECT_EQ(paging->seq, 42);
  EXPECT_EQ(paging->base, 7);
  EXPECT_EQ(EncodeCursor(42, 42), EncodeCursor(42));
  auto in_history = ParseCursor(EncodeCursor(42, 7, "9f3a"));
  ASSERT_TRUE(in_history.ok());
  EXPECT_EQ(in_history->seq, 42);
  EXPECT_EQ(in_history->base, 7);
  EXPECT_EQ(in_history->history, "9f3a");
  EXPECT_EQ(EncodeCursor(42, 42, "9f3a"), "c2.9f3a.42");
  EXPECT_EQ(ParseCursor("c1.42")->history, "");
  // A bootstrap's page keeps where the feed was when it began.
  EXPECT_EQ(EncodeCursor(42, 0, "9f3a", 90), "c2.9f3a.42.0.90");
  auto bootstrap = ParseCursor("c2.9f3a.42.0.90");
  ASSERT_TRUE(bootstrap.ok());
  EXPECT_EQ(bootstrap->base, 0);
  EXPECT_EQ(bootstrap->started, 90);
  EXPECT_EQ(EncodeCursor(42, 7, "9f3a", 90), "c2.9f3a.42.7");
  EXPECT_EQ(EncodeCursor(42, 42, "9f3a", 90), "c2.9f3a.42");
  EXPECT_EQ(ParseCursor("c2.9f3a.42.0")->started, 0);
}

TEST(CursorTest, HistoryIdIsLowercaseHex) {
  for (const char* bad : {"c2..5", "c2.XY.5", "c2.9f3a", "c2.9f3a.", "c2.g1.5",
                          "c2.0123456789abcdef0123456789abcdef0.5"}) {
    EXPECT_FALSE(ParseCursor(bad).ok()) << bad;
  }
}

TEST(CursorTest, BaseMustBeBelowThePosition) {
  for (const char* bad : {"c1.5.5", "c1.5.6", "c1.5.", "c1..5", "c1.5.x", "c1.5.1.0", "c1.5.1.3",
                          "c1.5.0.0", "c1.5.0.", "c1.5.0.x", "c1.5.0.3.4"}) {
    EXPECT_FALSE(ParseCursor(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace crmsync::server::testing
