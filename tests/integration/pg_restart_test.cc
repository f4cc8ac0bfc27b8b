// PostgreSQL restarted under load: crm-device processes (client-sdk/tools)
// push through two crm-syncd instances on one PostgreSQL while the test
// stops it (fast and immediate shutdowns) and starts it again. Afterwards
// (SettleAndCheck, device_worker.h) nothing committed is lost or applied
// twice, every replica equals the server's records in its scope, and
// LISTEN/NOTIFY works again across the instances.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <memory>
#include <random>
#include <thread>

#include "device_worker.h"
#include "fault_checks.h"
#include "fault_test_base.h"
#include "fault_test_util.h"
#include "pg_cluster.h"
#include "server_process.h"

namespace crmsync::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class PgRestartTest : public FaultTestBase {};

// PostgreSQL is restarted four times (fast and immediate shutdowns) under
// the load of four devices spread over two crm-syncd instances, with a
// crm-device `watch` subscribed to the second instance. Afterwards the
// invariants hold, both instances still run, and a push through the first
// instance still reaches the watcher on the second: each instance got its
// pool connections and its LISTEN connection back.
TEST_F(PgRestartTest, PostgresRestartedUnderLoad) {
  // A cluster of its own: this test stops and starts it.
  auto cluster = PgCluster::StartLocal();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto conninfo = (*cluster)->NewSchema("pg_restart");
  ASSERT_TRUE(conninfo.ok()) << conninfo.status();
  conninfo_ = *conninfo;
  std::unique_ptr<ServerProcess> first = StartServer();
  std::unique_ptr<ServerProcess> second = StartServer();
  ASSERT_TRUE(first && first->pid() > 0 && second && second->pid() > 0);
  const int64_t seq_before = TenantSeq();
  const auto start = SteadyClock::now();

  DeviceIdentity watch_id{"alice", "alice-watch", dir_ + "/alice-watch.db", "key-alice-watch"};
  const std::string watch_out = dir_ + "/alice-watch.out";
  DeviceProcess watcher;
  ASSERT_TRUE(watcher.Start(watch_id, second->address(), {"watch"}, watch_out));

  DeviceFleet fleet;
  const std::string a = first->address(), b = second->address();
  fleet.Add(Device("alice", "alice-phone", 21), [a] { return a; });
  fleet.Add(Device("alice", "alice-tablet", 22), [b] { return b; });
  fleet.Add(Device("bob", "bob-phone", 23), [a] { return a; });
  fleet.Add(Device("maria", "maria-laptop", 24), [b] { return b; });
  fleet.Start();

  std::mt19937_64 rng(99);
  const char* modes[] = {"fast", "immediate", "fast", "immediate"};
  double down_seconds = 0;
  for (const char* mode : modes) {
    std::this_thread::sleep_for(milliseconds(500 + rng() % 500));  // load pacing
    const auto stop_at = SteadyClock::now();
    ASSERT_TRUE((*cluster)->StopServer(mode).ok());
    std::this_thread::sleep_for(milliseconds(300 + rng() % 300));  // outage length
    ASSERT_TRUE((*cluster)->StartServer().ok());
    down_seconds += SecondsSince(stop_at);
  }
  const auto marks = fleet.Marks();
  EXPECT_TRUE(WaitFor([&] { return fleet.AllSyncedSince(marks, 2); }, seconds(30)))
      << "devices did not get through after PostgreSQL came back";
  fleet.Stop();
  EXPECT_TRUE(Alive(*first)) << first->Output();
  EXPECT_TRUE(Alive(*second)) << second->Output();

  const SettleReport report = SettleAndCheck(fleet.workers(), a, conninfo_, seq_before);

  // One more lead through the first instance must be announced on the
  // second (LISTEN/NOTIFY across instances after the restarts).
  DeviceWorker* phone = fleet.worker(0);
  EXPECT_EQ(phone->RunRound(a), DeviceWorker::Outcome::kSynced);
  const std::string line = "changed ENTITY_TYPE_LEAD " + phone->round_lead() + "\n";
  EXPECT_TRUE(
      WaitFor([&] { return ReadText(watch_out).find(line) != std::string::npos; }, seconds(15)))
      << "the watcher on the second instance never heard of " << phone->round_lead() << ":\n"
      << ReadText(watch_out);
  watcher.Signal(SIGTERM);
  const int status = watcher.Wait(seconds(20));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadText(watch_out);
  auto view = ReadServerScope(a, "alice", "audit-alice-2");
  auto replica = ReadReplica(watch_id.db, watch_id.key);
  ASSERT_TRUE(view.ok() && replica.ok());
  for (const std::string& d : CompareReplica("alice-watch", *view, *replica)) ADD_FAILURE() << d;

  std::printf(
      "[figures] PostgreSQL restarts: 4 (2 fast, 2 immediate), %.1f s down in all; "
      "2 crm-syncd instances; %s; %.1f s\n",
      down_seconds, fleet.Figures().c_str(), SecondsSince(start));
  EXPECT_EQ(report.committed, report.seq_growth);
}

}  // namespace
}  // namespace crmsync::testing
