// Known issue, reported to the sync core / server owners: a stored record
// holding a present-but-empty sub-message (here the audit Conflict the
// server stores for a same-field edit whose server side was never set:
// `server_provenance {}`, `server_hlc {}`) does not survive the change feed.
// sync::BuildChange lists the path, but the values it sends (and so
// sync::ApplyChange's replica) lack the empty message, so the device's
// sync::CanonicalBytes differ from the server's and GetChecksum never matches
// for that bucket, even after a re-bootstrap.
//
// This test asserts the round trip is exact. It fails today, so it is built
// but not registered with CTest (tests/client/CMakeLists.txt); once the sync
// core is fixed it passes and joins the suite. The SDK works around it
// meanwhile: a mismatch a re-bootstrap
// does not fix is reported (SyncProgress::checksum_mismatch), not an error.
#include <gtest/gtest.h>

#include "crmsync/sync/change.h"

namespace crmsync::client {
namespace {

namespace v1 = ::crmsync::v1;

TEST(KnownIssueRoundTrip, PresentEmptySubMessageSurvivesBuildAndApplyChange) {
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

  v1::RecordState replica;
  auto action = sync::ApplyChange(&replica, sync::BuildChange(stored, 0, /*full=*/true));
  ASSERT_TRUE(action.ok()) << action.status().ToString();
  EXPECT_EQ(sync::CanonicalBytes(replica), sync::CanonicalBytes(stored))
      << "server:  " << stored.data().ShortDebugString()
      << "\ndevice:  " << replica.data().ShortDebugString();
}

}  // namespace
}  // namespace crmsync::client
