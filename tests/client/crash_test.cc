// The outbox survives a crash: a writer process is SIGKILLed in the middle
// of its writes; every write it reported as committed is still pending after
// reopening, exactly once.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <sstream>

#include "crash_process.h"
#include "crmsync/client/database.h"
#include "crmsync/client/repository.h"
#include "test_util.h"

namespace crmsync::client {
namespace {

constexpr char kKey[] = "crash-test-key";

TEST(CrashTest, KilledWriterLosesNoCommittedWriteAndDoublesNone) {
  testing::TempDir dir;
  const std::string path = dir.File("crash.db");
  std::vector<std::string> committed;
  // Three kills at different points; the store is reused so later runs
  // start on a store a previous kill left behind.
  for (int round = 0; round < 3; ++round) {
    testing::ChildProcess writer;
    ASSERT_TRUE(
        writer.Start({CRMSYNC_CRASH_WRITER, path, kKey, "100000", "r" + std::to_string(round)}));
    const size_t want = 40 + 60 * round;
    std::vector<std::string> lines = writer.ReadLines(want, std::chrono::seconds(30));
    ASSERT_GE(lines.size(), want) << "writer reported too few writes";
    writer.Kill();
    for (auto& l : lines) committed.push_back(l);
  }
  DatabaseOptions o;
  o.path = path;
  o.key = kKey;
  auto db = Database::Open(o);
  ASSERT_TRUE(db.ok()) << db.status();
  auto outbox = (*db)->Outbox();
  ASSERT_TRUE(outbox.ok());
  std::map<std::string, int> creates;
  std::set<int64_t> seqs;
  int64_t last_seq = 0;
  for (const auto& p : *outbox) {
    EXPECT_GT(p.client_seq, last_seq);
    last_seq = p.client_seq;
    EXPECT_TRUE(seqs.insert(p.client_seq).second);
    if (p.mutation.base_version() == 0 && p.mutation.operation() == v1::OPERATION_UPSERT &&
        !p.mutation.has_base_values()) {
      ++creates[p.mutation.record().id()];
    }
  }
  Repository<v1::Lead> leads(db->get());
  for (const std::string& id : committed) {
    EXPECT_EQ(creates[id], 1) << id << " lost or doubled";
    EXPECT_TRUE(leads.Get(id).ok()) << id;
  }
  EXPECT_FALSE(committed.empty());
}

}  // namespace
}  // namespace crmsync::client
