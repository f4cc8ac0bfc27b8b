// RecoveryEdits: what a device re-sends after the server's history changed.
#include "recovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace crmsync::client::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

v1::HlcTimestamp At(int64_t ms) {
  v1::HlcTimestamp t;
  t.set_wall_time_ms(ms);
  t.set_node_id("n");
  return t;
}

// A lead with `fields` set, each last written at the given time.
v1::RecordState Lead(const std::string& notes, int64_t notes_ms, const std::string& phone,
                     int64_t phone_ms) {
  v1::RecordState s;
  s.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  s.mutable_ref()->set_id("lead-1");
  v1::Lead* l = s.mutable_data()->mutable_lead();
  l->set_id("lead-1");
  l->set_notes(notes);
  l->set_phone(phone);
  *(*s.mutable_fields())["id"].mutable_hlc() = At(1);
  *(*s.mutable_fields())["notes"].mutable_hlc() = At(notes_ms);
  *(*s.mutable_fields())["phone"].mutable_hlc() = At(phone_ms);
  return s;
}

std::vector<std::string> Paths(const RecoveryEdit& e) {
  return {e.edit.mask.paths().begin(), e.edit.mask.paths().end()};
}

TEST(RecoveryEditsTest, RecordTheServerLacksIsCreatedAgainWithWhatTheDeviceHeld) {
  auto edits = RecoveryEdits(Lead("n", 5, "+33", 5), std::nullopt);
  ASSERT_EQ(edits.size(), 1u);
  EXPECT_TRUE(edits[0].create);
  EXPECT_EQ(edits[0].edit.values.lead().notes(), "n");
  EXPECT_EQ(edits[0].edit.values.lead().phone(), "+33");
}

TEST(RecoveryEditsTest, OnlyFieldsTheDeviceKnewALaterWriteOfAreSent) {
  // The device saw notes written at 9; the restored server has them from 4.
  // The server's phone (written at 8) is newer than the device's (3).
  auto edits =
      RecoveryEdits(Lead("after backup", 9, "+33 old", 3), Lead("before backup", 4, "+33 new", 8));
  ASSERT_EQ(edits.size(), 1u);
  EXPECT_FALSE(edits[0].create);
  EXPECT_EQ(edits[0].edit.operation, v1::OPERATION_UPSERT);
  EXPECT_THAT(Paths(edits[0]), ElementsAre("notes"));
  EXPECT_EQ(edits[0].edit.values.lead().notes(), "after backup");
}

TEST(RecoveryEditsTest, SameValuesOrAServerAsNewAsTheDeviceSendNothing) {
  EXPECT_THAT(RecoveryEdits(Lead("x", 9, "p", 9), Lead("x", 4, "p", 4)), IsEmpty());
  EXPECT_THAT(RecoveryEdits(Lead("x", 4, "p", 4), Lead("y", 4, "q", 4)), IsEmpty());
}

TEST(RecoveryEditsTest, LostPointsComeBackAsAnIncrementOfTheDifference) {
  auto account = [](int64_t balance, int64_t ms) {
    v1::RecordState s;
    s.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_LOYALTY_ACCOUNT);
    s.mutable_ref()->set_id("card-1");
    s.mutable_data()->mutable_loyalty_account()->set_id("card-1");
    s.mutable_data()->mutable_loyalty_account()->set_points_balance(balance);
    *(*s.mutable_fields())["points_balance"].mutable_hlc() = At(ms);
    return s;
  };
  auto edits = RecoveryEdits(account(150, 9), account(100, 4));
  ASSERT_EQ(edits.size(), 1u);
  EXPECT_EQ(edits[0].edit.operation, v1::OPERATION_INCREMENT);
  EXPECT_THAT(Paths(edits[0]), ElementsAre("points_balance"));
  EXPECT_EQ(edits[0].edit.values.loyalty_account().points_balance(), 50);
  // Accounts are the server's to create; a newer server balance wins.
  EXPECT_THAT(RecoveryEdits(account(150, 9), std::nullopt), IsEmpty());
  EXPECT_THAT(RecoveryEdits(account(150, 3), account(100, 4)), IsEmpty());
}

TEST(RecoveryEditsTest, ADeleteTheServerLacksIsSentAgainUnlessTheServerWroteLater) {
  v1::RecordState gone = Lead("n", 5, "p", 5);
  gone.set_deleted(true);
  *gone.mutable_hlc() = At(9);  // deleted at 9
  v1::RecordState restored = Lead("n", 5, "p", 5);
  *restored.mutable_hlc() = At(5);
  auto edits = RecoveryEdits(gone, restored);
  ASSERT_EQ(edits.size(), 1u);
  EXPECT_FALSE(edits[0].create);
  EXPECT_EQ(edits[0].edit.operation, v1::OPERATION_DELETE);
  EXPECT_EQ(edits[0].edit.ref.id(), "lead-1");

  v1::RecordState written_later = Lead("edited after the delete", 12, "p", 5);
  *written_later.mutable_hlc() = At(12);
  EXPECT_THAT(RecoveryEdits(gone, written_later), IsEmpty())
      << "a later write on the server wins over the device's delete";
  v1::RecordState also_gone = restored;
  also_gone.set_deleted(true);
  EXPECT_THAT(RecoveryEdits(gone, also_gone), IsEmpty());
}

TEST(RecoveryEditsTest, ADeleteOfARecordTheServerLacksCarriesTheHeldScope) {
  // Created and deleted after the backup: the server must learn of the
  // delete, or another device's older copy would bring the record back.
  v1::RecordState gone;
  *gone.mutable_ref() = Lead("n", 5, "p", 5).ref();
  gone.mutable_data()->mutable_lead()->set_id("lead-1");
  gone.set_deleted(true);
  *gone.mutable_hlc() = At(9);
  gone.mutable_scope()->set_owner_user_id("u-alice");
  gone.mutable_scope()->set_team_id("team-north");
  auto edits = RecoveryEdits(gone, std::nullopt);
  ASSERT_EQ(edits.size(), 1u);
  EXPECT_EQ(edits[0].edit.operation, v1::OPERATION_DELETE);
  EXPECT_EQ(edits[0].hlc.wall_time_ms(), 9);
  EXPECT_EQ(edits[0].edit.values.lead().owner_user_id(), "u-alice");
  EXPECT_EQ(edits[0].edit.values.lead().team_id(), "team-north");
}

TEST(RecoveryEditsTest, ReSentValuesKeepTheClockReadingOfTheirWrite) {
  // notes written at 9, phone at 7, both lost: one update per reading, in
  // clock order, each with its reading (not the time of the recovery).
  auto edits = RecoveryEdits(Lead("late", 9, "+33 mid", 7), Lead("early", 4, "+33 early", 4));
  ASSERT_EQ(edits.size(), 2u);
  EXPECT_THAT(Paths(edits[0]), ElementsAre("phone"));
  EXPECT_EQ(edits[0].hlc.wall_time_ms(), 7);
  EXPECT_THAT(Paths(edits[1]), ElementsAre("notes"));
  EXPECT_EQ(edits[1].hlc.wall_time_ms(), 9);
  // Same reading: one update.
  auto one = RecoveryEdits(Lead("late", 9, "+33 late", 9), Lead("early", 4, "+33 early", 4));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_THAT(Paths(one[0]), ElementsAre("notes", "phone"));
  // A create carries the record's last reading.
  v1::RecordState held = Lead("n", 5, "p", 6);
  *held.mutable_hlc() = At(6);
  auto create = RecoveryEdits(held, std::nullopt);
  ASSERT_EQ(create.size(), 1u);
  EXPECT_EQ(create[0].hlc.wall_time_ms(), 6);
}

TEST(RecoveryEditsTest, DeletedCopiesAndServerOwnedTypesAreNotSent) {
  v1::RecordState gone = Lead("n", 9, "p", 9);
  gone.set_deleted(true);
  *gone.mutable_hlc() = At(9);
  v1::RecordState also_gone = Lead("n", 5, "p", 5);
  also_gone.set_deleted(true);
  EXPECT_THAT(RecoveryEdits(gone, also_gone), IsEmpty());
  v1::RecordState conflict;
  conflict.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_CONFLICT);
  conflict.mutable_ref()->set_id("c-1");
  conflict.mutable_data()->mutable_conflict()->set_id("c-1");
  EXPECT_THAT(RecoveryEdits(conflict, std::nullopt), IsEmpty());
}

}  // namespace
}  // namespace crmsync::client::internal
