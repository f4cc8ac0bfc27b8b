#include "crmsync/sync/change.h"

#include <gtest/gtest.h>

#include "sync_test_support.h"

namespace crmsync::sync {
namespace {

using testing::TestDevice;
using testing::TestServer;

constexpr int64_t kT = 1'700'000'000'000;

v1::Record Lead() {
  v1::Record r;
  r.mutable_lead()->set_first_name("Grace");
  r.mutable_lead()->set_phone("1");
  r.mutable_lead()->set_owner_user_id("rep");
  r.mutable_lead()->mutable_address()->set_city("Arlington");
  r.mutable_lead()->add_tags("navy");
  return r;
}

struct World {
  World() {
    server.Push(a.Create("L1", Lead(), kT));
    a.Pull(server, "L1");
  }
  TestServer server;
  TestDevice a{"dev-a"};
};

TEST(ChangeTest, DeltaHasOnlyFieldsChangedSinceCursor) {
  World w;
  w.server.Push(w.a.Edit([](v1::Record* r) { r->mutable_lead()->set_phone("2"); }, kT + 1));
  w.server.Push(w.a.Edit(
      [](v1::Record* r) { r->mutable_lead()->mutable_address()->set_city("NYC"); }, kT + 2));
  const v1::RecordState& s = w.server.Get("L1");
  v1::Change c = BuildChange(s, 2, false);
  EXPECT_EQ(c.kind(), v1::CHANGE_KIND_UPSERT);
  EXPECT_EQ(c.version(), 3);
  ASSERT_EQ(c.changed_fields().paths_size(), 1);
  EXPECT_EQ(c.changed_fields().paths(0), "address.city");
  EXPECT_EQ(c.values().lead().address().city(), "NYC");
  EXPECT_TRUE(c.values().lead().phone().empty());
  EXPECT_EQ(c.fields().size(), 1u);
  v1::Change c1 = BuildChange(s, 1, false);
  EXPECT_EQ(c1.changed_fields().paths_size(), 2);
}

TEST(ChangeTest, FullChangeHasEveryNonDefaultField) {
  World w;
  v1::Change c = BuildChange(w.server.Get("L1"), 5, true);
  std::vector<std::string> paths(c.changed_fields().paths().begin(),
                                 c.changed_fields().paths().end());
  EXPECT_EQ(paths, (std::vector<std::string>{"id", "first_name", "phone", "owner_user_id", "tags",
                                             "address"}));
  // A reader that never saw the record gets it whole, too.
  EXPECT_EQ(BuildChange(w.server.Get("L1"), 0, false).changed_fields().paths_size(), 6);
}

TEST(ChangeTest, FullChangeClearsFieldsAnOlderCopyStillHolds) {
  World w;
  // A reader holds the record as created (say, from its push result) but its
  // cursor says it never saw it; meanwhile the phone, a tag and the address
  // were cleared.
  v1::RecordState older = w.server.Get("L1");
  w.server.Push(w.a.Edit(
      [](v1::Record* r) {
        r->mutable_lead()->set_phone("");
        r->mutable_lead()->clear_tags();
        r->mutable_lead()->clear_address();
      },
      kT + 1));
  v1::Change c = BuildChange(w.server.Get("L1"), 0, true);
  ASSERT_EQ(*ApplyChange(&older, c), ReplicaAction::kUpdated);
  EXPECT_EQ(CanonicalBytes(older), CanonicalBytes(w.server.Get("L1")));
  EXPECT_TRUE(older.data().lead().tags().empty());
  EXPECT_FALSE(older.data().lead().has_address());
}

TEST(ChangeTest, TombstoneForDeletedRecord) {
  World w;
  w.server.Push(w.a.Delete(kT + 5));
  v1::Change c = BuildChange(w.server.Get("L1"), 1, false);
  EXPECT_EQ(c.kind(), v1::CHANGE_KIND_TOMBSTONE);
  EXPECT_FALSE(c.has_values());
  EXPECT_EQ(c.scope().owner_user_id(), "rep");
}

TEST(ChangeTest, ReplicaFollowingDeltasMatchesServer) {
  World w;
  v1::RecordState replica;
  ASSERT_EQ(*ApplyChange(&replica, BuildChange(w.server.Get("L1"), 0, false)),
            ReplicaAction::kUpdated);
  EXPECT_EQ(CanonicalBytes(replica), CanonicalBytes(w.server.Get("L1")));
  int64_t cursor = replica.version();
  w.server.Push(w.a.Edit(
      [](v1::Record* r) {
        r->mutable_lead()->set_phone("");
        r->mutable_lead()->add_tags("admiral");
      },
      kT + 1));
  w.server.Push(w.a.Edit([](v1::Record* r) { r->mutable_lead()->clear_address(); }, kT + 2));
  v1::Change c = BuildChange(w.server.Get("L1"), cursor, false);
  ASSERT_EQ(*ApplyChange(&replica, c), ReplicaAction::kUpdated);
  EXPECT_EQ(CanonicalBytes(replica), CanonicalBytes(w.server.Get("L1")));
  EXPECT_TRUE(replica.data().lead().phone().empty());
  // Applying the same change again changes nothing.
  const std::string before = replica.SerializeAsString();
  EXPECT_EQ(*ApplyChange(&replica, c), ReplicaAction::kUnchanged);
  EXPECT_EQ(replica.SerializeAsString(), before);
  // An older change is ignored.
  EXPECT_EQ(*ApplyChange(&replica, BuildChange(w.server.Get("L1"), 0, true)),
            ReplicaAction::kUnchanged);
  // Tombstone.
  w.server.Push(w.a.Delete(kT + 3));
  ASSERT_EQ(*ApplyChange(&replica, BuildChange(w.server.Get("L1"), replica.version(), false)),
            ReplicaAction::kUpdated);
  EXPECT_TRUE(replica.deleted());
  EXPECT_EQ(CanonicalBytes(replica), CanonicalBytes(w.server.Get("L1")));
}

TEST(ChangeTest, MessageEmptiedByClearingItsLastFieldIsUnsetOnServerAndEveryReplica) {
  World w;
  v1::RecordState caught_up;
  ASSERT_TRUE(ApplyChange(&caught_up, BuildChange(w.server.Get("L1"), 0, false)).ok());
  const int64_t cursor = caught_up.version();
  // The only field of the address is cleared by its nested path (as a
  // device that edits address.city sends it).
  v1::Mutation m =
      w.a.Edit([](v1::Record* r) { r->mutable_lead()->mutable_address()->set_city(""); }, kT + 1);
  m.mutable_update_mask()->clear_paths();
  m.mutable_update_mask()->add_paths("address.city");
  w.server.Push(m);
  const v1::RecordState& server = w.server.Get("L1");
  EXPECT_FALSE(server.data().lead().has_address()) << "an empty message is unset, not kept";
  // Every path to a replica ends in the server's bytes and metadata: a delta,
  // a full change to an older copy, and a bootstrap.
  v1::RecordState delta = caught_up, full = caught_up, fresh;
  ASSERT_TRUE(ApplyChange(&delta, BuildChange(server, cursor, false)).ok());
  ASSERT_TRUE(ApplyChange(&full, BuildChange(server, cursor, true)).ok());
  ASSERT_TRUE(ApplyChange(&fresh, BuildChange(server, 0, false)).ok());
  for (const v1::RecordState* r : {&delta, &full, &fresh}) {
    EXPECT_EQ(CanonicalBytes(*r), CanonicalBytes(server)) << r->ShortDebugString();
    EXPECT_EQ(r->created_version(), server.created_version());
  }
}

TEST(ChangeTest, ReplicaTakesTheServersCreatedVersion) {
  World w;
  w.server.Push(w.a.Edit([](v1::Record* r) { r->mutable_lead()->set_phone("2"); }, kT + 1));
  v1::RecordState fresh;
  ASSERT_TRUE(ApplyChange(&fresh, BuildChange(w.server.Get("L1"), 0, false)).ok());
  EXPECT_EQ(fresh.version(), 2);
  EXPECT_EQ(fresh.created_version(), 1);
}

TEST(ChangeTest, NoticesAskToRemoveAndMismatchFails) {
  World w;
  v1::RecordState replica = w.server.Get("L1");
  v1::Change notice;
  notice.set_kind(v1::CHANGE_KIND_LEFT_SCOPE);
  *notice.mutable_record() = replica.ref();
  EXPECT_EQ(*ApplyChange(&replica, notice), ReplicaAction::kRemove);
  notice.set_kind(v1::CHANGE_KIND_ERASED);
  EXPECT_EQ(*ApplyChange(&replica, notice), ReplicaAction::kRemove);
  v1::Change other = BuildChange(replica, 0, true);
  other.mutable_record()->set_id("L2");
  EXPECT_FALSE(ApplyChange(&replica, other).ok());
  v1::Change unknown = BuildChange(replica, 0, true);
  unknown.set_kind(v1::CHANGE_KIND_UNSPECIFIED);
  EXPECT_FALSE(ApplyChange(&replica, unknown).ok());
}

TEST(ChangeTest, ApplyMutationLocallyShowsPendingEdits) {
  World w;
  v1::RecordState local = w.server.Get("L1");
  v1::Mutation m;
  m.set_client_seq(9);
  *m.mutable_record() = local.ref();
  m.set_operation(v1::OPERATION_SET_ADD);
  m.mutable_update_mask()->add_paths("tags");
  m.mutable_values()->mutable_lead()->add_tags("alpha");
  m.set_base_version(local.version());
  ASSERT_TRUE(ApplyMutationLocally(&local, m).ok());
  ASSERT_EQ(local.data().lead().tags_size(), 2);
  EXPECT_EQ(local.data().lead().tags(0), "alpha");  // Sorted as on the server.
  EXPECT_EQ(local.version(), 1);                    // Versions are the server's.
  m.set_operation(v1::OPERATION_SET_REMOVE);
  ASSERT_TRUE(ApplyMutationLocally(&local, m).ok());
  EXPECT_EQ(local.data().lead().tags_size(), 1);
  m.set_operation(v1::OPERATION_UPSERT);
  m.mutable_update_mask()->set_paths(0, "phone");
  m.mutable_values()->mutable_lead()->set_phone("555");
  ASSERT_TRUE(ApplyMutationLocally(&local, m).ok());
  EXPECT_EQ(local.data().lead().phone(), "555");
  m.set_operation(v1::OPERATION_DELETE);
  m.clear_update_mask();
  ASSERT_TRUE(ApplyMutationLocally(&local, m).ok());
  EXPECT_TRUE(local.deleted());
  EXPECT_EQ(local.data().lead().id(), "L1");
  EXPECT_TRUE(local.data().lead().first_name().empty());
  m.mutable_record()->set_id("other");
  EXPECT_FALSE(ApplyMutationLocally(&local, m).ok());
}

// The local view's clock reading is its last change: a pending edit's when
// that is later, the server's when the edit is older (a clock behind).
TEST(ChangeTest, ApplyMutationLocallyTakesTheLaterClockReading) {
  World w;
  v1::RecordState local = w.server.Get("L1");
  const v1::HlcTimestamp server_hlc = local.hlc();
  v1::Mutation m;
  m.set_client_seq(9);
  *m.mutable_record() = local.ref();
  m.set_operation(v1::OPERATION_UPSERT);
  m.mutable_update_mask()->add_paths("phone");
  m.mutable_values()->mutable_lead()->set_phone("555");
  m.set_base_version(local.version());
  *m.mutable_hlc() = server_hlc;
  m.mutable_hlc()->set_wall_time_ms(server_hlc.wall_time_ms() + 5);
  ASSERT_TRUE(ApplyMutationLocally(&local, m).ok());
  EXPECT_EQ(local.hlc().wall_time_ms(), server_hlc.wall_time_ms() + 5);
  m.mutable_hlc()->set_wall_time_ms(server_hlc.wall_time_ms() - 5);
  ASSERT_TRUE(ApplyMutationLocally(&local, m).ok());
  EXPECT_EQ(local.hlc().wall_time_ms(), server_hlc.wall_time_ms() + 5);
  EXPECT_EQ(local.data().lead().phone(), "555");
}

TEST(ChangeTest, ApplyMutationLocallyIncrements) {
  v1::RecordState local;
  v1::Mutation create;
  create.set_client_seq(1);
  create.mutable_record()->set_entity_type(v1::ENTITY_TYPE_LOYALTY_ACCOUNT);
  create.mutable_record()->set_id("LA");
  create.set_operation(v1::OPERATION_UPSERT);
  create.mutable_values()->mutable_loyalty_account()->set_points_balance(10);
  ASSERT_TRUE(ApplyMutationLocally(&local, create).ok());
  EXPECT_EQ(local.data().loyalty_account().id(), "LA");
  v1::Mutation inc = create;
  inc.set_operation(v1::OPERATION_INCREMENT);
  inc.mutable_update_mask()->add_paths("points_balance");
  inc.mutable_values()->mutable_loyalty_account()->set_points_balance(-4);
  inc.set_base_version(1);
  ASSERT_TRUE(ApplyMutationLocally(&local, inc).ok());
  EXPECT_EQ(local.data().loyalty_account().points_balance(), 6);
}

TEST(ChangeTest, CanonicalBytesCoverContentOnly) {
  World w;
  v1::RecordState s = w.server.Get("L1");
  v1::RecordState t = s;
  EXPECT_EQ(CanonicalBytes(s), CanonicalBytes(t));
  t.mutable_hlc()->set_wall_time_ms(1);  // Metadata: not covered.
  t.mutable_fields()->clear();
  EXPECT_EQ(CanonicalBytes(s), CanonicalBytes(t));
  t.mutable_data()->mutable_lead()->set_notes("x");
  EXPECT_NE(CanonicalBytes(s), CanonicalBytes(t));
  t = s;
  t.set_version(s.version() + 1);
  EXPECT_NE(CanonicalBytes(s), CanonicalBytes(t));
  t = s;
  t.set_deleted(true);
  EXPECT_NE(CanonicalBytes(s), CanonicalBytes(t));
  t = s;
  t.mutable_ref()->set_id("L2");
  EXPECT_NE(CanonicalBytes(s), CanonicalBytes(t));
}

}  // namespace
}  // namespace crmsync::sync
