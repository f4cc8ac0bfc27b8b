// Two crm-syncd processes sharing one PostgreSQL: a device subscribed on
// one instance hears about a push made through the other (LISTEN/NOTIFY)
// and pulls the change from its own instance.
#include <gtest/gtest.h>
#include <signal.h>

#include "pg_cluster.h"
#include "server_process.h"
#include "sync_client.h"

namespace crmsync::testing {
namespace {

::testing::Environment* const kPgEnvironment =
    ::testing::AddGlobalTestEnvironment(PgClusterEnvironment::Instance());

v1::PullResponse PullAll(DevSyncClient& client, std::string* cursor) {
  v1::PullResponse all;
  for (int i = 0; i < 1000; ++i) {
    v1::PullRequest req;
    req.mutable_client()->set_protocol_version(1);
    req.set_cursor(*cursor);
    v1::PullResponse page;
    grpc::Status s = client.Pull(req, &page);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok()) break;
    for (const auto& c : page.changes()) *all.add_changes() = c;
    *cursor = page.next_cursor();
    if (!page.has_more()) break;
  }
  return all;
}

TEST(CrossInstanceTest, SubscriberOnSecondInstanceIsNotifiedOfPushThroughFirst) {
  auto cluster = PgClusterEnvironment::Instance()->Cluster();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto conninfo = (*cluster)->NewSchema("cross");
  ASSERT_TRUE(conninfo.ok()) << conninfo.status();
  const std::string store = "postgres:" + *conninfo;

  ServerProcess first, second;
  std::string error;
  ASSERT_TRUE(
      first.Start({"--dev-insecure", "--dev-identity", "--demo-tenant", "--store", store}, &error))
      << error;
  ASSERT_TRUE(second.Start(
      {"--dev-insecure", "--dev-identity", "--heartbeat-seconds", "1", "--store", store}, &error))
      << error;

  DevSyncClient phone(first.address(), "demo", "alice", "alice-phone");
  DevSyncClient tablet(second.address(), "demo", "alice", "alice-tablet");
  std::string phone_cursor, tablet_cursor;
  v1::PullResponse snapshot = PullAll(phone, &phone_cursor);
  PullAll(tablet, &tablet_cursor);
  ASSERT_EQ(phone_cursor, tablet_cursor) << "both instances serve the same feed";

  grpc::ClientContext stream_ctx;
  auto stream = tablet.Subscribe(&stream_ctx, tablet_cursor);
  v1::SubscribeEvent event;
  ASSERT_TRUE(stream->Read(&event)) << "stream did not start";  // first heartbeat

  v1::RecordState lead;
  for (const auto& c : snapshot.changes()) {
    if (c.record().id() == "lead-alice-2") {
      *lead.mutable_ref() = c.record();
      lead.set_version(c.version());
      *lead.mutable_data() = c.values();
    }
  }
  ASSERT_TRUE(lead.has_ref());
  v1::Lead values;
  values.set_notes("Met at the trade fair");
  v1::PushRequest push;
  push.mutable_client()->set_protocol_version(1);
  *push.add_mutations() = LeadUpdate(1, lead, values, {"notes"}, phone.device());
  v1::PushResponse pushed;
  grpc::Status s = phone.Push(push, &pushed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(pushed.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);

  bool notified = false;
  for (int i = 0; i < 20 && stream->Read(&event); ++i) {
    if (event.has_changes_available()) {
      notified = true;
      EXPECT_GE(event.changes_available().latest_seq(), pushed.results(0).change_seq());
      break;
    }
  }
  ASSERT_TRUE(notified) << "the second instance never announced the change";
  v1::PullResponse delta = PullAll(tablet, &tablet_cursor);
  ASSERT_EQ(delta.changes_size(), 1);
  EXPECT_EQ(delta.changes(0).values().lead().notes(), "Met at the trade fair");
  stream_ctx.TryCancel();
  EXPECT_EQ(first.Stop(SIGTERM), 0);
  EXPECT_EQ(second.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace crmsync::testing
