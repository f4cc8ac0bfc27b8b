// The device replica equals the server's record byte for byte after the
// change feed (what makes GetChecksum comparable), for records in the form
// the server stores them: without present-but-empty sub-messages
// (sync::StripEmptyMessages). A field-level delta cannot carry an empty
// message, so an unstripped record would differ; this was seen with audit
// Conflict records (`server_provenance {}`) until the server stripped them.
#include <gtest/gtest.h>

#include "crmsync/sync/change.h"
#include "crmsync/sync/record_model.h"

namespace crmsync::client {
namespace {

namespace v1 = ::crmsync::v1;

v1::RecordState AuditConflict() {
  v1::RecordState stored;
  stored.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_CONFLICT);
  stored.mutable_ref()->set_id("cf-1");
  stored.set_version(21);
  stored.set_created_version(21);
  v1::Conflict* c = stored.mutable_data()->mutable_conflict();
  c->set_id("cf-1");
  c->set_field_path("notes");
  c->mutable_client_value()->mutable_lead()->set_notes("edited 0");
  c->mutable_server_provenance();  // present, empty
  c->mutable_server_hlc();         // present, empty
  c->set_auto_resolved(true);
  return stored;
}

v1::RecordState Replicate(const v1::RecordState& stored) {
  v1::RecordState replica;
  auto action = sync::ApplyChange(&replica, sync::BuildChange(stored, 0, /*full=*/true));
  EXPECT_TRUE(action.ok()) << action.status().ToString();
  return replica;
}

TEST(ReplicaRoundTripTest, StrippedRecordSurvivesTheChangeFeedExactly) {
  v1::RecordState stored = AuditConflict();
  sync::StripEmptyMessages(stored.mutable_data());
  const v1::RecordState replica = Replicate(stored);
  EXPECT_EQ(sync::CanonicalBytes(replica), sync::CanonicalBytes(stored))
      << "server: " << stored.data().ShortDebugString()
      << "\ndevice: " << replica.data().ShortDebugString();
}

TEST(ReplicaRoundTripTest, UnstrippedEmptySubMessageIsNotCarried) {
  // Why the server must strip: the feed drops the empty message.
  const v1::RecordState stored = AuditConflict();
  const v1::RecordState replica = Replicate(stored);
  EXPECT_NE(sync::CanonicalBytes(replica), sync::CanonicalBytes(stored));
  EXPECT_FALSE(replica.data().conflict().has_server_provenance());
}

}  // namespace
}  // namespace crmsync::client
