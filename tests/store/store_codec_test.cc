// The stores' format of a record's state (store_codec EncodeState /
// DecodeState): shared field states kept once, rows of the plain format
// still read, corrupt and unknown formats refused.
#include <google/protobuf/arena.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "store/store_codec.h"

namespace crmsync::server {
namespace {

using google::protobuf::util::MessageDifferencer;

v1::FieldState Stamp(int64_t version, int64_t wall_ms, const std::string& device) {
  v1::FieldState f;
  f.set_version(version);
  f.mutable_hlc()->set_wall_time_ms(wall_ms);
  f.mutable_hlc()->set_logical(3);
  f.mutable_hlc()->set_node_id(device);
  f.mutable_provenance()->set_channel(v1::CHANNEL_IMPORT);
  f.mutable_provenance()->set_precision(v1::PRECISION_REPORTED);
  f.mutable_provenance()->set_author_user_id("u-admin");
  f.mutable_provenance()->set_device_id(device);
  return f;
}

// A lead as an import leaves it: every field set by one mutation, plus one
// field edited later and one set-merged field.
v1::RecordState ImportedLead() {
  v1::RecordState s;
  s.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  s.mutable_ref()->set_id("imp-0000007");
  v1::Lead* lead = s.mutable_data()->mutable_lead();
  lead->set_id("imp-0000007");
  lead->set_first_name("Hugo");
  lead->set_last_name("Martin");
  lead->set_email("lead7@example.com");
  lead->set_company("Company 1");
  s.set_version(26);
  s.set_created_version(26);
  s.mutable_scope()->set_owner_user_id("u-bob");
  s.mutable_scope()->set_team_id("team-north");
  s.mutable_hlc()->set_wall_time_ms(1700000000000);
  s.mutable_hlc()->set_node_id("import:leads");
  s.mutable_merged_into()->set_id("imp-0000001");
  for (const char* path : {"first_name", "last_name", "email", "company", "owner_user_id"}) {
    (*s.mutable_fields())[path] = Stamp(26, 1700000000000, "import:leads");
  }
  (*s.mutable_fields())["rating"] = Stamp(31, 1700000009000, "alice-phone");
  v1::FieldState tags = Stamp(26, 1700000000000, "import:leads");
  tags.add_set_elements()->set_key("vip");
  (*s.mutable_fields())["tags"] = tags;
  return s;
}

TEST(StoreCodecTest, SharedFieldStatesAreKeptOnceAndReadBackWhole) {
  const v1::RecordState state = ImportedLead();
  const std::string bytes = store_codec::EncodeState(state);
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(bytes[0], '\0') << "fields sharing a state are stored in the compact form";
  EXPECT_LT(bytes.size() + 4 * 50, store_codec::Encode(state).size())
      << "four of the five shared field states are not stored again";
  v1::RecordState back;
  back.set_version(99);  // cleared by the read
  ASSERT_TRUE(store_codec::DecodeState(bytes, &back).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(back, state)) << back.DebugString();
}

TEST(StoreCodecTest, AStateWithoutSharedFieldStatesKeepsThePlainForm) {
  v1::RecordState state = ImportedLead();
  state.mutable_fields()->clear();
  (*state.mutable_fields())["first_name"] = Stamp(26, 1700000000000, "import:leads");
  (*state.mutable_fields())["rating"] = Stamp(31, 1700000009000, "alice-phone");
  const std::string bytes = store_codec::EncodeState(state);
  EXPECT_EQ(bytes, store_codec::Encode(state));
  v1::RecordState back;
  ASSERT_TRUE(store_codec::DecodeState(bytes, &back).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(back, state));
}

TEST(StoreCodecTest, RowsWrittenInThePlainFormAreRead) {
  const v1::RecordState state = ImportedLead();
  v1::RecordState back;
  ASSERT_TRUE(store_codec::DecodeState(store_codec::Encode(state), &back).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(back, state));
  // A tombstone of the plain form can be empty.
  ASSERT_TRUE(store_codec::DecodeState("", &back).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(back, v1::RecordState()));
}

TEST(StoreCodecTest, EqualStatesGiveEqualBytesWhateverTheirFieldOrder) {
  const v1::RecordState a = ImportedLead();
  v1::RecordState b = a;
  b.mutable_fields()->clear();
  // The same entries, inserted in reverse.
  std::vector<std::string> paths;
  for (const auto& [path, field] : a.fields()) paths.push_back(path);
  for (auto it = paths.rbegin(); it != paths.rend(); ++it) {
    (*b.mutable_fields())[*it] = a.fields().at(*it);
  }
  EXPECT_EQ(store_codec::EncodeState(a), store_codec::EncodeState(b));
}

TEST(StoreCodecTest, ReadsOntoAnArena) {
  const v1::RecordState state = ImportedLead();
  google::protobuf::Arena arena;
  auto* back = google::protobuf::Arena::CreateMessage<v1::RecordState>(&arena);
  ASSERT_TRUE(store_codec::DecodeState(store_codec::EncodeState(state), back).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*back, state));
}

TEST(StoreCodecTest, CorruptOrUnknownFormatsAreRefused) {
  const std::string bytes = store_codec::EncodeState(ImportedLead());
  ASSERT_EQ(bytes[0], '\0');
  v1::RecordState back;
  // A format byte this server does not know (a newer server's).
  std::string newer = bytes;
  newer[1] = '\x02';
  absl::Status s = store_codec::DecodeState(newer, &back);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("format this server does not know"), std::string::npos) << s;
  EXPECT_EQ(store_codec::DecodeState(std::string(1, '\0'), &back).code(),
            absl::StatusCode::kInternal);
  // Cut short.
  EXPECT_EQ(store_codec::DecodeState(bytes.substr(0, bytes.size() - 5), &back).code(),
            absl::StatusCode::kInternal);
  // A field naming a field state that is not there: the last byte of the
  // encoding is the last field's stamp index.
  std::string dangling = bytes;
  dangling.back() = '\x7f';
  s = store_codec::DecodeState(dangling, &back);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("names a missing field state"), std::string::npos) << s;
}

// EncodeState copies every member of RecordState but its field map by name:
// a member added to RecordState must be added there too.
TEST(StoreCodecTest, TheCompactFormCopiesEveryMemberOfRecordState) {
  std::set<std::string> members;
  const google::protobuf::Descriptor* d = v1::RecordState::descriptor();
  for (int i = 0; i < d->field_count(); ++i) members.insert(d->field(i)->name());
  EXPECT_EQ(members, (std::set<std::string>{"ref", "data", "version", "created_version", "deleted",
                                            "fields", "scope", "hlc", "merged_into"}))
      << "update CopyAllButFields in store_codec.cc";
  // And each one survives (deleted is the one ImportedLead leaves unset).
  v1::RecordState state = ImportedLead();
  state.set_deleted(true);
  v1::RecordState back;
  ASSERT_TRUE(store_codec::DecodeState(store_codec::EncodeState(state), &back).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(back, state));
}

}  // namespace
}  // namespace crmsync::server
