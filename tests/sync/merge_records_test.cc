// MergeRecords: two reps entered one customer twice; a person merges them.
// Each test builds both records the way devices do (creates and edits
// merged by the sync core), so field metadata is what a server would hold.
#include "crmsync/sync/merge_records.h"

#include <gtest/gtest.h>

#include <random>

#include "sync_test_support.h"

namespace crmsync::sync {
namespace {

using testing::TestDevice;
using testing::TestServer;

constexpr int64_t kT = 1'700'000'000'000;

v1::Record Lead(const std::string& first, const std::string& email, const std::string& phone,
                const std::string& owner) {
  v1::Record r;
  v1::Lead* l = r.mutable_lead();
  l->set_first_name(first);
  l->set_last_name("Lovelace");
  l->set_email(email);
  l->set_phone(phone);
  l->set_owner_user_id(owner);
  l->set_team_id("team-1");
  return r;
}

v1::Mutation MergeOp(const std::string& survivor, const std::string& merged) {
  v1::Mutation m;
  m.set_client_seq(1);
  m.mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  m.mutable_record()->set_id(survivor);
  m.set_operation(v1::OPERATION_MERGE);
  m.mutable_merge()->set_merged_record_id(merged);
  *m.mutable_hlc() = testing::Hlc(kT + 10'000, 0, "admin");
  m.mutable_provenance()->set_channel(v1::CHANNEL_ADMIN);
  m.mutable_provenance()->set_author_user_id("u-admin");
  return m;
}

struct TwoLeads {
  TwoLeads() {
    server.Push(a.Create("L-a", Lead("Ada", "ada@example.com", "", "u-alice"), kT));
    server.Push(b.Create("L-b", Lead("Augusta", "", "+44 20 7946 0001", "u-bob"), kT + 1));
  }
  RecordMergeResult Merge(const v1::Mutation& m) {
    const int64_t v = server.next_version() + 10;
    return MergeRecords(server.Get("L-a"), server.Get("L-b"), m, v, v + 1,
                        PolicyTable::DefaultInstance());
  }
  TestServer server;
  TestDevice a{"dev-a", v1::PRECISION_REPORTED};
  TestDevice b{"dev-b", v1::PRECISION_SELF_REPORTED};
};

TEST(MergeRecordsTest, EmptyFieldsTakeTheOtherValueWithItsStamp) {
  TwoLeads t;
  RecordMergeResult r = t.Merge(MergeOp("L-a", "L-b"));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  ASSERT_TRUE(r.survivor_changed);
  const v1::Lead& l = r.survivor.data().lead();
  EXPECT_EQ(l.email(), "ada@example.com");
  EXPECT_EQ(l.phone(), "+44 20 7946 0001");  // the survivor had none
  EXPECT_EQ(l.id(), "L-a");
  // The phone keeps where it came from: rep b's device, self-reported.
  const v1::FieldState& phone = r.survivor.fields().at("phone");
  EXPECT_EQ(phone.provenance().device_id(), "dev-b");
  EXPECT_EQ(phone.provenance().precision(), v1::PRECISION_SELF_REPORTED);
  EXPECT_EQ(phone.version(), r.survivor.version());
  EXPECT_EQ(phone.hlc().wall_time_ms(), kT + 1);
  // The more precise first name (self-reported) beat the reported one.
  EXPECT_EQ(l.first_name(), "Augusta");
  // Same last name on both: the survivor keeps it with the more precise
  // stamp (its lineage now says self-reported).
  EXPECT_EQ(r.taken_fields, (std::vector<std::string>{"first_name", "last_name", "phone"}));
  EXPECT_EQ(r.survivor.fields().at("last_name").provenance().device_id(), "dev-b");
}

TEST(MergeRecordsTest, TieInPrecisionKeepsTheSurvivorsValue) {
  TestServer s2;
  TestDevice a("dev-a", v1::PRECISION_REPORTED);
  TestDevice b("dev-b", v1::PRECISION_REPORTED);
  s2.Push(a.Create("L-a", Lead("Ada", "", "", "u-alice"), kT));
  s2.Push(b.Create("L-b", Lead("Augusta", "", "", "u-bob"), kT + 1));
  RecordMergeResult r = MergeRecords(s2.Get("L-a"), s2.Get("L-b"), MergeOp("L-a", "L-b"), 50, 51,
                                     PolicyTable::DefaultInstance());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.survivor.data().lead().first_name(), "Ada");
  EXPECT_FALSE(r.survivor_changed);
  EXPECT_TRUE(r.tombstone.deleted());
}

TEST(MergeRecordsTest, ThePersonsChoicesOverrideTheRule) {
  TwoLeads t;
  v1::Mutation m = MergeOp("L-a", "L-b");
  m.mutable_merge()->add_keep_survivor("first_name");
  m.mutable_merge()->add_take_from_merged("owner_user_id");
  RecordMergeResult r = t.Merge(m);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.survivor.data().lead().first_name(), "Ada");
  EXPECT_EQ(r.survivor.data().lead().owner_user_id(), "u-bob");
  EXPECT_EQ(r.survivor.scope().owner_user_id(), "u-bob");
}

TEST(MergeRecordsTest, ScopeFieldsStayTheSurvivorsByDefault) {
  TwoLeads t;
  RecordMergeResult r = t.Merge(MergeOp("L-a", "L-b"));
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.survivor.data().lead().owner_user_id(), "u-alice");
  EXPECT_EQ(r.survivor.scope().owner_user_id(), "u-alice");
  // The tombstone keeps the merged record's scope: bob's devices hear of it.
  EXPECT_EQ(r.tombstone.scope().owner_user_id(), "u-bob");
  EXPECT_EQ(r.tombstone.merged_into().id(), "L-a");
  EXPECT_EQ(r.tombstone.merged_into().entity_type(), v1::ENTITY_TYPE_LEAD);
  EXPECT_EQ(r.tombstone.version(), r.survivor.version() + 1);
}

TEST(MergeRecordsTest, SetsAreUnitedAndAnElementOfEitherSideCanBeRemovedLater) {
  TestServer server;
  TestDevice a("dev-a");
  TestDevice b("dev-b");
  v1::Record ra = Lead("Ada", "ada@example.com", "", "u-alice");
  ra.mutable_lead()->add_tags("vip");
  v1::Record rb = Lead("Ada", "ada@example.com", "", "u-alice");
  rb.mutable_lead()->add_tags("fair-2026");
  rb.mutable_lead()->add_tags("vip");
  server.Push(a.Create("L-a", ra, kT));
  server.Push(b.Create("L-b", rb, kT + 1));
  const int64_t v = server.next_version();
  RecordMergeResult r = MergeRecords(server.Get("L-a"), server.Get("L-b"), MergeOp("L-a", "L-b"), v,
                                     v + 1, PolicyTable::DefaultInstance());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.combined_fields, std::vector<std::string>{"tags"});
  ASSERT_EQ(r.survivor.data().lead().tags_size(), 2);
  EXPECT_EQ(r.survivor.data().lead().tags(0), "fair-2026");
  EXPECT_EQ(r.survivor.data().lead().tags(1), "vip");
  // "vip" was added on both sides: a device that saw the merged record
  // removes it, and the remove must take both adds it observed.
  v1::Mutation remove;
  remove.set_client_seq(5);
  *remove.mutable_record() = r.survivor.ref();
  remove.set_operation(v1::OPERATION_SET_REMOVE);
  remove.mutable_update_mask()->add_paths("tags");
  remove.mutable_values()->mutable_lead()->add_tags("vip");
  remove.mutable_values()->mutable_lead()->add_tags("fair-2026");
  remove.set_base_version(r.survivor.version());
  *remove.mutable_hlc() = testing::Hlc(kT + 20'000, 0, "dev-c");
  MergeContext ctx;
  ctx.new_version = v + 2;
  ctx.physical_ms = kT + 20'000;
  MergeResult after = sync::Merge(&r.survivor, remove, ctx);
  ASSERT_NE(after.outcome, v1::MUTATION_OUTCOME_REJECTED) << after.message;
  EXPECT_EQ(after.new_state.data().lead().tags_size(), 0);
}

TEST(MergeRecordsTest, RefusesWhatCannotMerge) {
  TwoLeads t;
  const int64_t v = t.server.next_version() + 10;
  v1::RecordState deleted = t.server.Get("L-b");
  deleted.set_deleted(true);
  EXPECT_FALSE(MergeRecords(t.server.Get("L-a"), deleted, MergeOp("L-a", "L-b"), v, v + 1,
                            PolicyTable::DefaultInstance())
                   .status.ok());
  EXPECT_FALSE(MergeRecords(t.server.Get("L-a"), t.server.Get("L-a"), MergeOp("L-a", "L-a"), v,
                            v + 1, PolicyTable::DefaultInstance())
                   .status.ok());
  v1::RecordState contact = t.server.Get("L-b");
  contact.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_CONTACT);
  RecordMergeResult r = MergeRecords(t.server.Get("L-a"), contact, MergeOp("L-a", "L-b"), v, v + 1,
                                     PolicyTable::DefaultInstance());
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("one type"), std::string::npos) << r.status.message();
  // Versions must be new.
  EXPECT_FALSE(MergeRecords(t.server.Get("L-a"), t.server.Get("L-b"), MergeOp("L-a", "L-b"), 1, 2,
                            PolicyTable::DefaultInstance())
                   .status.ok());
}

TEST(MergeRecordsTest, ValidationNamesTheBadSpec) {
  v1::Mutation m = MergeOp("L-a", "L-b");
  EXPECT_TRUE(ValidateMutation(m).ok()) << ValidateMutation(m).message();
  v1::Mutation self = MergeOp("L-a", "L-a");
  EXPECT_FALSE(ValidateMutation(self).ok());
  v1::Mutation no_other = MergeOp("L-a", "");
  EXPECT_NE(ValidateMutation(no_other).message().find("merged_record_id"), std::string::npos);
  v1::Mutation bad_field = MergeOp("L-a", "L-b");
  bad_field.mutable_merge()->add_take_from_merged("address.city");
  EXPECT_NE(ValidateMutation(bad_field).message().find("top-level"), std::string::npos);
  v1::Mutation twice = MergeOp("L-a", "L-b");
  twice.mutable_merge()->add_take_from_merged("phone");
  twice.mutable_merge()->add_keep_survivor("phone");
  EXPECT_NE(ValidateMutation(twice).message().find("twice"), std::string::npos);
  v1::Mutation masked = MergeOp("L-a", "L-b");
  masked.mutable_update_mask()->add_paths("phone");
  EXPECT_FALSE(ValidateMutation(masked).ok());
  v1::Mutation stray;
  stray.set_client_seq(1);
  stray.mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  stray.mutable_record()->set_id("L-a");
  stray.set_operation(v1::OPERATION_DELETE);
  stray.mutable_merge()->set_merged_record_id("L-b");
  EXPECT_FALSE(ValidateMutation(stray).ok());
}

// Property: whatever the two records hold, no value is lost that the
// survivor could have kept: a field set on either side is set after the
// merge, to one of the two values (sets: to the union), and a field set
// on both keeps the value with the higher precision (tie: survivor's).
TEST(MergeRecordsTest, PropertyNoValueIsLostAndTheMorePreciseWins) {
  std::mt19937 rng(20261205);
  const std::vector<std::string> kNames = {"", "Ada", "Augusta", "Ada King"};
  const std::vector<std::string> kEmails = {"", "ada@example.com", "ada@lovelace.org"};
  for (int round = 0; round < 500; ++round) {
    TestServer server;
    auto precision = [&] { return static_cast<v1::Precision>(1 + rng() % 4); };
    TestDevice a("dev-a", precision());
    TestDevice b("dev-b", precision());
    v1::Record ra = Lead(kNames[rng() % 4], kEmails[rng() % 3], "", "u-alice");
    v1::Record rb = Lead(kNames[rng() % 4], kEmails[rng() % 3], "+44 1", "u-bob");
    if (rng() % 2) ra.mutable_lead()->add_tags("a");
    if (rng() % 2) rb.mutable_lead()->add_tags("b");
    server.Push(a.Create("L-a", ra, kT + round));
    server.Push(b.Create("L-b", rb, kT + round + 1));
    const v1::RecordState& sa = server.Get("L-a");
    const v1::RecordState& sb = server.Get("L-b");
    const int64_t v = server.next_version();
    RecordMergeResult r =
        MergeRecords(sa, sb, MergeOp("L-a", "L-b"), v, v + 1, PolicyTable::DefaultInstance());
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    const v1::Lead& out = r.survivor.data().lead();
    auto check = [&](const std::string& got, const std::string& mine, const std::string& theirs,
                     const char* field) {
      SCOPED_TRACE(std::string(field) + " round " + std::to_string(round));
      if (mine.empty()) {
        EXPECT_EQ(got, theirs);
      } else if (theirs.empty() || mine == theirs) {
        EXPECT_EQ(got, mine);
      } else {
        const int pm = sa.fields().at(field).provenance().precision();
        const int pt = sb.fields().at(field).provenance().precision();
        EXPECT_EQ(got, pt > pm ? theirs : mine);
      }
    };
    check(out.first_name(), ra.lead().first_name(), rb.lead().first_name(), "first_name");
    check(out.email(), ra.lead().email(), rb.lead().email(), "email");
    check(out.phone(), ra.lead().phone(), rb.lead().phone(), "phone");
    EXPECT_EQ(out.owner_user_id(), "u-alice");
    EXPECT_EQ(out.tags_size(), ra.lead().tags_size() + rb.lead().tags_size());
    EXPECT_EQ(r.survivor_changed, !r.taken_fields.empty() || !r.combined_fields.empty());
    if (r.survivor_changed) {
      EXPECT_EQ(r.survivor.version(), v);
      for (const std::string& f : r.taken_fields) {
        EXPECT_EQ(r.survivor.fields().at(f).version(), v) << f;
      }
    } else {
      EXPECT_EQ(r.survivor.SerializeAsString(), sa.SerializeAsString());
    }
  }
}

}  // namespace
}  // namespace crmsync::sync
