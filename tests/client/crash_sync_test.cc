// The outbox survives a crash in the middle of syncs: a writer that syncs in
// the background against a real crm-syncd is SIGKILLed; after a restart and
// a sync, every write it reported is on the server, and no mutation was
// refused as a reused client_seq (the device never sent two different
// payloads under one number).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "crash_process.h"
#include "e2e_harness.h"

namespace crmsync::client {
namespace {

TEST(CrashSyncTest, KilledWhileSyncingLosesNothingAndReusesNoClientSeq) {
  testing::SyncdFixture syncd;
  std::string error;
  ASSERT_TRUE(syncd.Start(&error)) << error;
  testing::TempDir dir;
  const std::string path = dir.File("writer.db");
  std::set<std::string> reported;
  for (int round = 0; round < 3; ++round) {
    testing::ChildProcess writer;
    ASSERT_TRUE(writer.Start({CRMSYNC_CRASH_WRITER, path, "k", "100000",
                              "s" + std::to_string(round), syncd.server.address()}));
    const size_t want = 30 + 40 * round;
    auto lines = writer.ReadLines(want, std::chrono::seconds(30));
    ASSERT_EQ(lines.size(), want);
    writer.Kill();
    reported.insert(lines.begin(), lines.end());
  }
  // Restart the device and let it finish syncing.
  DatabaseOptions o;
  o.path = path;
  o.key = "k";
  auto db = Database::Open(o);
  ASSERT_TRUE(db.ok()) << db.status();
  GrpcTransportOptions t;
  t.address = syncd.server.address();
  t.credentials = MakeDevCredentials("demo", "alice", (*db)->device_id());
  SyncEngine engine(db->get(), MakeGrpcTransport(t), SyncOptions());
  ASSERT_TRUE(engine.SyncOnce().ok()) << engine.Progress().last_error;
  EXPECT_EQ(*(*db)->PendingCount(), 0);
  auto notices = (*db)->Notices();
  ASSERT_TRUE(notices.ok());
  for (const auto& n : *notices)
    ADD_FAILURE() << n.kind << " " << n.record.id() << ": " << n.message;

  // A fresh device of the same user sees every reported write.
  testing::E2eDevice check(syncd.server.address(), dir, "alice", "checker");
  ASSERT_TRUE(check.Sync().ok());
  Repository<v1::Lead> leads(check.db.get());
  for (const auto& id : reported) EXPECT_TRUE(leads.Get(id).ok()) << id << " lost";
}

}  // namespace
}  // namespace crmsync::client
