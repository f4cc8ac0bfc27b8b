// Catch-ups in pages of every size: what a device may hold is judged over
// the whole catch-up, so the replica it ends with does not depend on the
// page size (docs/protocol.md, "Pull").
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "crmsync/sync/change.h"
#include "handler_fixture.h"
#include "version.h"

namespace crmsync::server::testing {
namespace {

using ::testing::Contains;
using ::testing::Not;

// Page sizes to vary: 0 is the server's default (one page here).
const std::vector<int> kPageSizes = {1, 2, 3, 4, 7, 0};

class CatchUpTest : public HandlerTest {
 protected:
  // Catches `who` up from `cursor` with every page size, each from a copy of
  // `replica`, and expects the same live records as the server's readable
  // set, without `gone`.
  void ExpectEveryPageSizeDrops(const Principal& who, const std::string& cursor,
                                const Replica& replica, const std::string& gone) {
    const std::set<std::string> expected = ReadableIds(who);
    ASSERT_THAT(expected, Not(Contains(gone)));
    for (int page_size : kPageSizes) {
      SCOPED_TRACE("page_size=" + std::to_string(page_size));
      Replica copy = replica;
      std::string c = cursor;
      CatchUp(who, &c, page_size, &copy);
      EXPECT_THAT(LiveIds(copy), Not(Contains(gone)));
      EXPECT_EQ(LiveIds(copy), expected);
    }
  }

  // Four more team-visible leads of alice's: changes after the record moved,
  // so a small page ends before the record's own row.
  void MoreTeamLeads(const std::string& prefix) {
    std::vector<v1::Mutation> batch;
    for (int i = 0; i < 4; ++i) {
      batch.push_back(alice_.Create(
          LeadRecord(prefix + std::to_string(i), "alice", "N", "1", v1::VISIBILITY_TEAM),
          clock_.NowMs()));
    }
    PushOk(Rep("alice", "dev-alice"), batch);
  }

  v1::RecordState Edit(const Principal& who, Device* device, const v1::RecordState& base,
                       const v1::Record& values, const std::string& path) {
    clock_.Advance(10);
    auto resp = PushOk(who, {device->Update(base, values, {path}, clock_.NowMs())});
    EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED) << resp.results(0).message();
    return resp.results(0).record();
  }

  Device alice_{"dev-alice", "alice"};
  Device maria_{"dev-maria", "maria"};
  Device carol_{"dev-carol", "carol"};
};

TEST_P(CatchUpTest, LeadMadePrivateThenEditedLeavesATeammateWhateverThePageSize) {
  auto created =
      PushOk(Rep("alice", "dev-alice"),
             {alice_.Create(LeadRecord("lead-r", "alice", "Rose", "1", v1::VISIBILITY_TEAM),
                            clock_.NowMs()),
              alice_.Create(LeadRecord("lead-s", "alice", "Sam", "2", v1::VISIBILITY_TEAM),
                            clock_.NowMs())});
  Replica bob;
  std::string cursor;
  CatchUp(Rep("bob", "dev-bob"), &cursor, 0, &bob);
  ASSERT_THAT(LiveIds(bob), Contains("lead-r"));

  v1::Record hide;
  hide.mutable_lead()->set_visibility(v1::VISIBILITY_PRIVATE);
  v1::RecordState r =
      Edit(Rep("alice", "dev-alice"), &alice_, created.results(0).record(), hide, "visibility");
  MoreTeamLeads("lead-n");
  v1::Record notes;
  notes.mutable_lead()->set_notes("private notes");
  Edit(Rep("alice", "dev-alice"), &alice_, r, notes, "notes");

  ExpectEveryPageSizeDrops(Rep("bob", "dev-bob"), cursor, bob, "lead-r");
}

TEST_P(CatchUpTest, ReassignedLeadEditedByItsNewOwnerLeavesTheOldOwnerWhateverThePageSize) {
  auto created =
      PushOk(Rep("alice", "dev-alice"),
             {alice_.Create(LeadRecord("lead-r", "alice", "Rose", "1"), clock_.NowMs())});
  Replica tablet;
  std::string cursor;
  CatchUp(Rep("alice", "dev-alice-2"), &cursor, 0, &tablet);
  ASSERT_THAT(LiveIds(tablet), Contains("lead-r"));

  v1::Record move;
  move.mutable_lead()->set_owner_user_id("carol");
  move.mutable_lead()->set_team_id("south");
  clock_.Advance(10);
  auto moved = PushOk(Manager(), {maria_.Update(created.results(0).record(), move,
                                                {"owner_user_id", "team_id"}, clock_.NowMs())});
  ASSERT_EQ(moved.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED) << moved.results(0).message();
  MoreTeamLeads("lead-n");
  v1::Record notes;
  notes.mutable_lead()->set_notes("carol's notes");
  v1::RecordState at_carol;
  {
    // Carol pulls the moved lead, then edits it.
    Replica carol;
    std::string c;
    CatchUp(Rep("carol", "dev-carol"), &c, 0, &carol);
    ASSERT_THAT(LiveIds(carol), Contains("lead-r"));
    at_carol = carol["lead-r"];
  }
  Edit(Rep("carol", "dev-carol"), &carol_, at_carol, notes, "notes");

  ExpectEveryPageSizeDrops(Rep("alice", "dev-alice-2"), cursor, tablet, "lead-r");
}

TEST_P(CatchUpTest, LeadMadePrivateThenDeletedLeavesATeammateWhateverThePageSize) {
  auto created =
      PushOk(Rep("alice", "dev-alice"),
             {alice_.Create(LeadRecord("lead-r", "alice", "Rose", "1", v1::VISIBILITY_TEAM),
                            clock_.NowMs())});
  Replica bob;
  std::string cursor;
  CatchUp(Rep("bob", "dev-bob"), &cursor, 0, &bob);
  ASSERT_THAT(LiveIds(bob), Contains("lead-r"));

  v1::Record hide;
  hide.mutable_lead()->set_visibility(v1::VISIBILITY_PRIVATE);
  v1::RecordState r =
      Edit(Rep("alice", "dev-alice"), &alice_, created.results(0).record(), hide, "visibility");
  MoreTeamLeads("lead-n");
  clock_.Advance(10);
  PushOk(Rep("alice", "dev-alice"), {alice_.Delete(r, clock_.NowMs())});

  ExpectEveryPageSizeDrops(Rep("bob", "dev-bob"), cursor, bob, "lead-r");
}

TEST_P(CatchUpTest, RecordShownOnAnEarlierBootstrapPageThatLeftLaterIsDropped) {
  // bob bootstraps in pages of two; after his first page, lead-a (on it)
  // goes private, more changes follow, and lead-a changes again.
  auto created = PushOk(
      Rep("alice", "dev-alice"),
      {alice_.Create(LeadRecord("lead-a", "alice", "A", "1", v1::VISIBILITY_TEAM), clock_.NowMs()),
       alice_.Create(LeadRecord("lead-b", "alice", "B", "2", v1::VISIBILITY_TEAM), clock_.NowMs()),
       alice_.Create(LeadRecord("lead-c", "alice", "C", "3", v1::VISIBILITY_TEAM),
                     clock_.NowMs())});
  Replica bob;
  v1::PullRequest request;
  request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  request.set_page_size(2);
  v1::PullResponse first;
  ASSERT_TRUE(pull_->Pull(Rep("bob", "dev-bob"), request, &first).ok());
  ASSERT_TRUE(first.has_more());
  for (const auto& c : first.changes())
    ASSERT_TRUE(sync::ApplyChange(&bob[c.record().id()], c).ok());
  ASSERT_THAT(LiveIds(bob), Contains("lead-a"));

  v1::Record hide;
  hide.mutable_lead()->set_visibility(v1::VISIBILITY_PRIVATE);
  v1::RecordState a =
      Edit(Rep("alice", "dev-alice"), &alice_, created.results(0).record(), hide, "visibility");
  MoreTeamLeads("lead-n");
  v1::Record notes;
  notes.mutable_lead()->set_notes("private notes");
  Edit(Rep("alice", "dev-alice"), &alice_, a, notes, "notes");

  ExpectEveryPageSizeDrops(Rep("bob", "dev-bob"), first.next_cursor(), bob, "lead-a");
}

TEST_P(CatchUpTest, ReplicaAfterAnyPageSizeEqualsTheOneFromASinglePage) {
  // A history mixing every way in and out of bob's scope, records changed
  // several times, in an order that puts them on different pages.
  std::vector<v1::Mutation> batch;
  for (int i = 0; i < 6; ++i) {
    batch.push_back(alice_.Create(
        LeadRecord("lead-" + std::to_string(i), "alice", "X", "1", v1::VISIBILITY_TEAM),
        clock_.NowMs()));
  }
  auto created = PushOk(Rep("alice", "dev-alice"), batch);
  Replica bob;
  std::string cursor;
  CatchUp(Rep("bob", "dev-bob"), &cursor, 0, &bob);

  std::vector<v1::RecordState> r;
  for (const auto& res : created.results()) r.push_back(res.record());
  v1::Record hide, show, notes, phone;
  hide.mutable_lead()->set_visibility(v1::VISIBILITY_PRIVATE);
  show.mutable_lead()->set_visibility(v1::VISIBILITY_TEAM);
  notes.mutable_lead()->set_notes("n");
  phone.mutable_lead()->set_phone("99");
  const Principal a = Rep("alice", "dev-alice");
  r[0] = Edit(a, &alice_, r[0], hide, "visibility");
  r[1] = Edit(a, &alice_, r[1], notes, "notes");
  r[2] = Edit(a, &alice_, r[2], hide, "visibility");
  r[2] = Edit(a, &alice_, r[2], show, "visibility");  // out and back in
  r[3] = Edit(a, &alice_, r[3], hide, "visibility");
  MoreTeamLeads("lead-n");
  r[0] = Edit(a, &alice_, r[0], phone, "phone");
  r[1] = Edit(a, &alice_, r[1], phone, "phone");
  clock_.Advance(10);
  PushOk(a, {alice_.Delete(r[4], clock_.NowMs())});
  r[3] = Edit(a, &alice_, r[3], notes, "notes");

  Replica single = bob;
  std::string c = cursor;
  CatchUp(Rep("bob", "dev-bob"), &c, 1000, &single);
  EXPECT_EQ(LiveIds(single), ReadableIds(Rep("bob", "dev-bob")));
  for (int page_size : kPageSizes) {
    SCOPED_TRACE("page_size=" + std::to_string(page_size));
    Replica paged = bob;
    std::string pc = cursor;
    CatchUp(Rep("bob", "dev-bob"), &pc, page_size, &paged);
    ASSERT_EQ(LiveIds(paged), LiveIds(single));
    for (const std::string& id : LiveIds(single)) {
      google::protobuf::util::MessageDifferencer diff;
      std::string report;
      diff.ReportDifferencesToString(&report);
      EXPECT_TRUE(diff.Compare(paged[id], single[id])) << id << ": " << report;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, CatchUpTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace crmsync::server::testing
