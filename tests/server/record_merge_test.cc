// Merging duplicates through the push path on both stores: what the
// survivor keeps, references moved, the tombstone, who may merge, and the
// edits devices send afterwards about the record merged away. Also the
// customer timeline, which reads the same references.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "admin_fixture.h"
#include "logic/duplicates.h"
#include "version.h"

namespace crmsync::server::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::RecordRef Ref(v1::EntityType type, const std::string& id) {
  v1::RecordRef ref;
  ref.set_entity_type(type);
  ref.set_id(id);
  return ref;
}

class RecordMergeTest : public AdminHandlerTest {
 protected:
  static v1::Record Contact(const std::string& id, const std::string& owner,
                            const std::string& email, const std::string& phone,
                            const std::string& account_id = "") {
    v1::Record r;
    v1::Contact* c = r.mutable_contact();
    c->set_id(id);
    c->set_first_name("Zoë");
    c->set_last_name("Dupont");
    c->set_email(email);
    c->set_phone(phone);
    c->set_account_id(account_id);
    c->set_owner_user_id(owner);
    c->set_team_id(owner == "carol" ? "south" : "north");
    return r;
  }

  Device& DeviceOf(const std::string& user) {
    auto it = devices_.find(user);
    if (it == devices_.end()) it = devices_.emplace(user, Device("dev-" + user, user)).first;
    return it->second;
  }

  v1::MutationResult PushOne(const std::string& user, v1::Mutation m) {
    clock_.Advance(10);
    auto resp = PushOk(user == "admin" ? Admin() : Rep(user, DeviceOf(user).id()), {std::move(m)});
    return resp.results(0);
  }

  v1::RecordState Create(const std::string& user, const v1::Record& record) {
    v1::MutationResult r = PushOne(user, DeviceOf(user).Create(record, clock_.NowMs() + 10));
    EXPECT_EQ(r.outcome(), v1::MUTATION_OUTCOME_APPLIED) << r.DebugString();
    return r.record();
  }

  v1::RecordState Stored(v1::EntityType type, const std::string& id) {
    auto found = store_->changes().GetRecord(kTenant, Ref(type, id));
    EXPECT_TRUE(found.ok() && *found) << id;
    return found.ok() && *found ? **found : v1::RecordState{};
  }

  absl::Status Merge(v1::EntityType type, const std::string& survivor, const std::string& other,
                     v1::MergeRecordsResponse* resp, const std::vector<std::string>& take = {}) {
    v1::MergeRecordsRequest req;
    *req.mutable_survivor() = Ref(type, survivor);
    req.set_merged_record_id(other);
    for (const auto& f : take) req.add_take_from_merged(f);
    clock_.Advance(10);
    return admin_->MergeRecords(Admin(), req, resp);
  }

  v1::Mutation MergeMutation(const std::string& user, v1::EntityType type,
                             const std::string& survivor, const std::string& other) {
    v1::Mutation m = DeviceOf(user).Delete(Stored(type, survivor), clock_.NowMs());
    m.set_operation(v1::OPERATION_MERGE);
    m.mutable_merge()->set_merged_record_id(other);
    return m;
  }

  // Whether the contact carries a flag with candidates.
  bool DuplicateFlagOf(const std::string& id) {
    auto found = store_->changes().GetRecord(
        kTenant, PossibleDuplicateRef(Ref(v1::ENTITY_TYPE_CONTACT, id)));
    EXPECT_TRUE(found.ok()) << found.status();
    return found.ok() && *found && !(*found)->deleted() &&
           (*found)->data().possible_duplicate().candidates_size() > 0;
  }

  std::map<std::string, Device> devices_;
};

TEST_P(RecordMergeTest, AdminMergeKeepsTheBestValuesMovesReferencesAndLeavesATombstone) {
  // Alice and Bob met the same person at a fair and both entered her.
  Create("alice", Contact("c-alice", "alice", "zoe.dupont@gmail.com", ""));
  Create("bob", Contact("c-bob", "bob", "zoe.dupont@gmail.com", "+33 6 12 34 56 78"));
  ASSERT_TRUE(DuplicateFlagOf("c-alice")) << "flagged at sync";
  // Bob logged a call and planned a meeting with her.
  v1::Record call;
  call.mutable_activity()->set_id("act-1");
  call.mutable_activity()->set_subject("first call");
  *call.mutable_activity()->mutable_related() = Ref(v1::ENTITY_TYPE_CONTACT, "c-bob");
  call.mutable_activity()->set_owner_user_id("bob");
  Create("bob", call);
  v1::Record meeting;
  meeting.mutable_calendar_event()->set_id("ev-1");
  meeting.mutable_calendar_event()->set_title("demo");
  meeting.mutable_calendar_event()->add_attendee_ids("bob");
  meeting.mutable_calendar_event()->add_attendee_ids("c-bob");
  meeting.mutable_calendar_event()->set_owner_user_id("bob");
  Create("bob", meeting);

  v1::MergeRecordsResponse resp;
  ASSERT_TRUE(Merge(v1::ENTITY_TYPE_CONTACT, "c-alice", "c-bob", &resp).ok());
  EXPECT_EQ(resp.result().outcome(), v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_THAT(resp.result().message(), HasSubstr("2 references moved"));
  const v1::RecordState survivor = Stored(v1::ENTITY_TYPE_CONTACT, "c-alice");
  EXPECT_EQ(survivor.data().contact().phone(), "+33 6 12 34 56 78") << "taken from bob's record";
  EXPECT_EQ(survivor.fields().at("phone").provenance().author_user_id(), "bob")
      << "the value keeps where it came from";
  EXPECT_EQ(survivor.data().contact().owner_user_id(), "alice");
  EXPECT_EQ(resp.result().record().version(), survivor.version());

  const v1::RecordState gone = Stored(v1::ENTITY_TYPE_CONTACT, "c-bob");
  EXPECT_TRUE(gone.deleted());
  EXPECT_EQ(gone.merged_into().id(), "c-alice");
  EXPECT_EQ(Stored(v1::ENTITY_TYPE_ACTIVITY, "act-1").data().activity().related().id(), "c-alice");
  EXPECT_THAT(Stored(v1::ENTITY_TYPE_CALENDAR_EVENT, "ev-1").data().calendar_event().attendee_ids(),
              ElementsAre("bob", "c-alice"));
  EXPECT_FALSE(DuplicateFlagOf("c-alice")) << "nothing left to flag";

  // Bob's devices hear of all of it: the tombstone naming the survivor and
  // his records pointing at it.
  std::string cursor;
  bool saw_tombstone = false;
  for (const v1::Change& c : PullAll(Rep("bob", "dev-bob"), &cursor)) {
    if (c.record().id() == "c-bob" && c.kind() == v1::CHANGE_KIND_TOMBSTONE) {
      saw_tombstone = true;
      EXPECT_EQ(c.merged_into().id(), "c-alice");
    }
  }
  EXPECT_TRUE(saw_tombstone);

  // Audited.
  v1::ListAuditEventsRequest audit_req;
  audit_req.set_action("record_merged");
  v1::ListAuditEventsResponse events;
  ASSERT_TRUE(admin_->ListAuditEvents(Admin(), audit_req, &events).ok());
  ASSERT_EQ(events.events_size(), 1);
  EXPECT_THAT(events.events(0).detail(), HasSubstr("contact/c-bob merged into contact/c-alice"));

  // Merging again says so; merging into the tombstone is refused.
  v1::MergeRecordsResponse again;
  ASSERT_TRUE(Merge(v1::ENTITY_TYPE_CONTACT, "c-alice", "c-bob", &again).ok());
  EXPECT_EQ(again.result().outcome(), v1::MUTATION_OUTCOME_MERGED);
  EXPECT_EQ(Merge(v1::ENTITY_TYPE_CONTACT, "c-bob", "c-alice", &again).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(RecordMergeTest, AccountMergeMovesOpportunitiesAndContacts) {
  v1::Record a1;
  a1.mutable_account()->set_id("acc-1");
  a1.mutable_account()->set_name("Dupont SARL");
  a1.mutable_account()->set_owner_user_id("alice");
  v1::Record a2 = a1;
  a2.mutable_account()->set_id("acc-2");
  a2.mutable_account()->set_name("Dupont S.A.R.L.");
  a2.mutable_account()->set_website("https://dupont.example");
  Create("alice", a1);
  Create("alice", a2);
  Create("alice", Contact("c-1", "alice", "zoe@dupont.example", "", "acc-2"));
  v1::Record opp;
  opp.mutable_opportunity()->set_id("opp-1");
  opp.mutable_opportunity()->set_account_id("acc-2");
  opp.mutable_opportunity()->set_name("renewal");
  opp.mutable_opportunity()->set_owner_user_id("alice");
  Create("alice", opp);

  // Alice merges her own two accounts from her device.
  v1::MutationResult r =
      PushOne("alice", MergeMutation("alice", v1::ENTITY_TYPE_ACCOUNT, "acc-1", "acc-2"));
  ASSERT_EQ(r.outcome(), v1::MUTATION_OUTCOME_APPLIED) << r.DebugString();
  EXPECT_EQ(r.record().data().account().website(), "https://dupont.example");
  EXPECT_EQ(Stored(v1::ENTITY_TYPE_CONTACT, "c-1").data().contact().account_id(), "acc-1");
  EXPECT_EQ(Stored(v1::ENTITY_TYPE_OPPORTUNITY, "opp-1").data().opportunity().account_id(),
            "acc-1");
}

TEST_P(RecordMergeTest, AnOfflineEditOfTheMergedRecordLandsOnTheSurvivorOrWaitsForItsOwner) {
  const v1::RecordState mine = Create("alice", Contact("c-1", "alice", "zoe@example.com", ""));
  const v1::RecordState mine_too = Create("alice", Contact("c-2", "alice", "zoe@example.com", ""));
  const v1::RecordState bobs = Create("bob", Contact("c-3", "bob", "zoe@example.com", ""));
  v1::MergeRecordsResponse resp;
  ASSERT_TRUE(Merge(v1::ENTITY_TYPE_CONTACT, "c-1", "c-2", &resp).ok());
  ASSERT_TRUE(Merge(v1::ENTITY_TYPE_CONTACT, "c-1", "c-3", &resp).ok());

  // Alice, offline since before the merge, adds a job title to c-2.
  v1::Record title;
  title.mutable_contact()->set_job_title("CFO");
  v1::MutationResult r =
      PushOne("alice", DeviceOf("alice").Update(mine_too, title, {"job_title"}, clock_.NowMs()));
  EXPECT_EQ(r.outcome(), v1::MUTATION_OUTCOME_APPLIED) << r.DebugString();
  EXPECT_THAT(r.message(), HasSubstr("merged into contact/c-1"));
  EXPECT_EQ(r.record().ref().id(), "c-1");
  EXPECT_EQ(Stored(v1::ENTITY_TYPE_CONTACT, "c-1").data().contact().job_title(), "CFO");

  // Bob may not change alice's record: his edit waits for her as a conflict.
  v1::Record notes;
  notes.mutable_contact()->set_notes("prefers mornings");
  r = PushOne("bob", DeviceOf("bob").Update(bobs, notes, {"notes"}, clock_.NowMs()));
  EXPECT_EQ(r.outcome(), v1::MUTATION_OUTCOME_CONFLICT) << r.DebugString();
  ASSERT_EQ(r.conflict_ids_size(), 1);
  const v1::RecordState conflict = Stored(v1::ENTITY_TYPE_CONFLICT, r.conflict_ids(0));
  EXPECT_EQ(conflict.data().conflict().owner_user_id(), "alice");
  EXPECT_EQ(conflict.data().conflict().record().id(), "c-1");
  EXPECT_EQ(conflict.data().conflict().client_value().contact().notes(), "prefers mornings");
  EXPECT_EQ(Stored(v1::ENTITY_TYPE_CONTACT, "c-1").data().contact().notes(), "");

  // A delete of the merged record deletes nothing more.
  r = PushOne("alice", DeviceOf("alice").Delete(mine_too, clock_.NowMs()));
  EXPECT_FALSE(Stored(v1::ENTITY_TYPE_CONTACT, "c-1").deleted());

  // An activity logged offline about c-3 is pointed at the survivor.
  v1::Record visit;
  visit.mutable_activity()->set_id("act-9");
  *visit.mutable_activity()->mutable_related() = Ref(v1::ENTITY_TYPE_CONTACT, "c-3");
  visit.mutable_activity()->set_owner_user_id("bob");
  r = PushOne("bob", DeviceOf("bob").Create(visit, clock_.NowMs()));
  EXPECT_EQ(r.record().data().activity().related().id(), "c-1");
  EXPECT_EQ(Stored(v1::ENTITY_TYPE_ACTIVITY, "act-9").data().activity().related().id(), "c-1");
  (void)mine;
}

TEST_P(RecordMergeTest, WhatCannotBeMergedIsRefusedWithAReason) {
  Create("alice", Contact("c-1", "alice", "zoe@example.com", ""));
  Create("bob", Contact("c-2", "bob", "zoe@example.com", ""));
  v1::MergeRecordsResponse resp;
  EXPECT_EQ(Merge(v1::ENTITY_TYPE_CONTACT, "c-1", "nope", &resp).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Merge(v1::ENTITY_TYPE_CONTACT, "c-1", "c-1", &resp).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Merge(v1::ENTITY_TYPE_ACTIVITY, "c-1", "c-2", &resp).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Merge(v1::ENTITY_TYPE_CONTACT, "c-1", "c-2", &resp, {"no_such_field"}).code(),
            absl::StatusCode::kInvalidArgument);
  v1::MergeRecordsRequest req;
  *req.mutable_survivor() = Ref(v1::ENTITY_TYPE_CONTACT, "c-1");
  req.set_merged_record_id("c-2");
  EXPECT_EQ(admin_->MergeRecords(Rep("alice", "dev-alice"), req, &resp).code(),
            absl::StatusCode::kPermissionDenied);

  // A rep may merge only what she may change: bob's record is not hers,
  // and one she cannot even read reads as missing.
  v1::MutationResult r =
      PushOne("alice", MergeMutation("alice", v1::ENTITY_TYPE_CONTACT, "c-1", "c-2"));
  EXPECT_EQ(r.outcome(), v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(r.reject_reason(), v1::REJECT_REASON_NOT_FOUND) << r.message();
  EXPECT_FALSE(Stored(v1::ENTITY_TYPE_CONTACT, "c-2").deleted());
  EXPECT_FALSE(Stored(v1::ENTITY_TYPE_CONTACT, "c-1").deleted());
}

TEST_P(RecordMergeTest, TimelineIsNewestFirstPagedAndShowsOnlyWhatTheCallerMayRead) {
  v1::Record contact = Contact("c-1", "alice", "zoe@example.com", "");
  contact.mutable_contact()->set_visibility(v1::VISIBILITY_TEAM);
  Create("alice", contact);
  auto activity = [](const std::string& id, const std::string& owner, int64_t at_s,
                     v1::Channel channel, v1::Visibility visibility) {
    v1::Record r;
    v1::Activity* a = r.mutable_activity();
    a->set_id(id);
    a->set_subject(id);
    a->set_channel(channel);
    a->mutable_occurred_at()->set_seconds(at_s);
    *a->mutable_related() = Ref(v1::ENTITY_TYPE_CONTACT, "c-1");
    a->set_owner_user_id(owner);
    a->set_team_id("north");
    a->set_visibility(visibility);
    return r;
  };
  const int64_t t = kStartMs / 1000;
  Create("alice",
         activity("call", "alice", t - 300, v1::CHANNEL_CALL_CENTER, v1::VISIBILITY_PRIVATE));
  Create("alice",
         activity("visit", "alice", t - 100, v1::CHANNEL_FIELD_APP, v1::VISIBILITY_PRIVATE));
  Create("bob", activity("bobs-note", "bob", t - 200, v1::CHANNEL_EMAIL, v1::VISIBILITY_PRIVATE));
  v1::Record meeting;
  meeting.mutable_calendar_event()->set_id("meet");
  meeting.mutable_calendar_event()->mutable_starts_at()->set_seconds(t + 3600);
  meeting.mutable_calendar_event()->add_attendee_ids("c-1");
  meeting.mutable_calendar_event()->set_owner_user_id("alice");
  Create("alice", meeting);
  // Not about c-1: another contact, a lead with the same id.
  v1::Record other_contact =
      activity("other", "alice", t, v1::CHANNEL_CALL_CENTER, v1::VISIBILITY_PRIVATE);
  *other_contact.mutable_activity()->mutable_related() = Ref(v1::ENTITY_TYPE_CONTACT, "c-9");
  Create("alice", other_contact);
  v1::Record other =
      activity("other-2", "alice", t, v1::CHANNEL_CALL_CENTER, v1::VISIBILITY_PRIVATE);
  *other.mutable_activity()->mutable_related() = Ref(v1::ENTITY_TYPE_LEAD, "c-1");
  Create("alice", other);

  auto ids = [](const v1::GetTimelineResponse& r) {
    std::vector<std::string> out;
    for (const auto& item : r.items()) out.push_back(item.record().ref().id());
    return out;
  };
  v1::GetTimelineRequest req;
  req.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  *req.mutable_record() = Ref(v1::ENTITY_TYPE_CONTACT, "c-1");
  v1::GetTimelineResponse alice;
  ASSERT_TRUE(pull_->GetTimeline(Rep("alice", "dev-alice"), req, &alice).ok());
  EXPECT_THAT(ids(alice), ElementsAre("meet", "visit", "call")) << "bob's private note is his";
  EXPECT_EQ(alice.items(1).channel(), v1::CHANNEL_FIELD_APP);
  EXPECT_EQ(alice.items(2).channel(), v1::CHANNEL_CALL_CENTER);
  EXPECT_EQ(alice.items(2).at().seconds(), t - 300);
  EXPECT_TRUE(alice.next_page_token().empty());
  v1::GetTimelineResponse everything;
  ASSERT_TRUE(admin_->GetTimeline(Admin(), req, &everything).ok());
  EXPECT_THAT(ids(everything), ElementsAre("meet", "visit", "bobs-note", "call"));
  // Page by page, in pages of every size, the same order.
  for (int size : {1, 2, 3}) {
    std::vector<std::string> paged;
    v1::GetTimelineRequest page_req = req;
    page_req.set_page_size(size);
    for (int i = 0; i < 10; ++i) {
      v1::GetTimelineResponse page;
      ASSERT_TRUE(admin_->GetTimeline(Admin(), page_req, &page).ok());
      EXPECT_LE(page.items_size(), size);
      for (const auto& id : ids(page)) paged.push_back(id);
      if (page.next_page_token().empty()) break;
      page_req.set_page_token(page.next_page_token());
    }
    EXPECT_EQ(paged, ids(everything)) << "pages of " << size;
  }
  // Bob may read the team's contact, and sees his own note and nothing of
  // alice's private items.
  v1::GetTimelineResponse bob;
  ASSERT_TRUE(pull_->GetTimeline(Rep("bob", "dev-bob"), req, &bob).ok());
  EXPECT_THAT(ids(bob), ElementsAre("bobs-note"));
  // Carol (another team) may not read the contact at all.
  v1::GetTimelineResponse carol;
  EXPECT_EQ(pull_->GetTimeline(Rep("carol", "dev-carol"), req, &carol).code(),
            absl::StatusCode::kNotFound);
  v1::GetTimelineRequest bad = req;
  bad.mutable_record()->set_entity_type(v1::ENTITY_TYPE_ACTIVITY);
  EXPECT_EQ(pull_->GetTimeline(Rep("alice", "dev-alice"), bad, &carol).code(),
            absl::StatusCode::kInvalidArgument);
  bad = req;
  bad.set_page_token("x");
  EXPECT_EQ(admin_->GetTimeline(Admin(), bad, &carol).code(), absl::StatusCode::kInvalidArgument);

  // A merge brings the merged record's timeline along.
  Create("alice", Contact("c-2", "alice", "zoe@example.com", ""));
  Create("alice", [&] {
    v1::Record r = activity("late", "alice", t - 50, v1::CHANNEL_SOCIAL, v1::VISIBILITY_PRIVATE);
    *r.mutable_activity()->mutable_related() = Ref(v1::ENTITY_TYPE_CONTACT, "c-2");
    return r;
  }());
  v1::MergeRecordsResponse merged;
  ASSERT_TRUE(Merge(v1::ENTITY_TYPE_CONTACT, "c-1", "c-2", &merged).ok());
  ASSERT_TRUE(pull_->GetTimeline(Rep("alice", "dev-alice"), req, &alice).ok());
  EXPECT_THAT(ids(alice), ElementsAre("meet", "late", "visit", "call"));
}

INSTANTIATE_TEST_SUITE_P(Stores, RecordMergeTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace crmsync::server::testing
