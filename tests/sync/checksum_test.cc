// sync::ReplicaChecksum: the one checksum server and SDK both compute.
#include "crmsync/sync/checksum.h"

#include <gtest/gtest.h>

#include <functional>
#include <sstream>

namespace crmsync::sync {
namespace {

// A stand-in digest (the core is handed one; the server and the SDK hand in
// SHA-256): deterministic and sensitive to every byte.
std::string FakeHex(const std::string& bytes) {
  std::ostringstream out;
  out << std::hex << std::hash<std::string>{}(bytes);
  return out.str();
}

v1::RecordState Lead(const std::string& id, const std::string& name, bool deleted = false) {
  v1::RecordState s;
  s.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  s.mutable_ref()->set_id(id);
  s.set_version(7);
  s.set_deleted(deleted);
  if (!deleted) {
    s.mutable_data()->mutable_lead()->set_id(id);
    s.mutable_data()->mutable_lead()->set_last_name(name);
  }
  return s;
}

v1::RecordState Account(const std::string& id) {
  v1::RecordState s;
  s.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_ACCOUNT);
  s.mutable_ref()->set_id(id);
  s.mutable_data()->mutable_account()->set_id(id);
  return s;
}

TEST(ReplicaChecksumTest, OrderOfRecordsDoesNotMatterAndTombstonesDoNotCount) {
  ReplicaChecksum a(&FakeHex), b(&FakeHex);
  a.Add(Lead("l1", "Leroy"));
  a.Add(Account("a1"));
  a.Add(Lead("l2", "Curie"));
  b.Add(Lead("l2", "Curie"));
  b.Add(Lead("gone", "", /*deleted=*/true));
  b.Add(Account("a1"));
  b.Add(Lead("l1", "Leroy"));
  const v1::GetChecksumResponse x = a.Finish(), y = b.Finish();
  EXPECT_EQ(x.digest(), y.digest());
  ASSERT_EQ(x.buckets_size(), 2);
  EXPECT_EQ(x.buckets(0).entity_type(), v1::ENTITY_TYPE_ACCOUNT);  // entity-type order
  EXPECT_EQ(x.buckets(0).record_count(), 1);
  EXPECT_EQ(x.buckets(1).entity_type(), v1::ENTITY_TYPE_LEAD);
  EXPECT_EQ(x.buckets(1).record_count(), 2);
  EXPECT_TRUE(x.cursor().empty());
}

TEST(ReplicaChecksumTest, AChangedFieldChangesItsBucketAndTheDigestOnly) {
  ReplicaChecksum a(&FakeHex), b(&FakeHex);
  for (ReplicaChecksum* sum : {&a, &b}) sum->Add(Account("a1"));
  a.Add(Lead("l1", "Leroy"));
  b.Add(Lead("l1", "Leroi"));
  const v1::GetChecksumResponse x = a.Finish(), y = b.Finish();
  EXPECT_NE(x.digest(), y.digest());
  EXPECT_EQ(x.buckets(0).digest(), y.buckets(0).digest()) << "the account bucket is untouched";
  EXPECT_NE(x.buckets(1).digest(), y.buckets(1).digest());
}

TEST(ReplicaChecksumTest, ALaterStateOfTheSameRecordReplacesTheEarlier) {
  ReplicaChecksum a(&FakeHex), b(&FakeHex);
  a.Add(Lead("l1", "Leroy"));
  a.Add(Lead("l1", "Curie"));
  b.Add(Lead("l1", "Curie"));
  EXPECT_EQ(a.Finish().digest(), b.Finish().digest());
  EXPECT_EQ(a.Finish().buckets(0).record_count(), 1);
}

TEST(ReplicaChecksumTest, AnEmptyReplicaHasNoBucketsAndTheDigestOfNothing) {
  ReplicaChecksum empty(&FakeHex);
  const v1::GetChecksumResponse x = empty.Finish();
  EXPECT_EQ(x.buckets_size(), 0);
  EXPECT_EQ(x.digest(), FakeHex(""));
}

}  // namespace
}  // namespace crmsync::sync
