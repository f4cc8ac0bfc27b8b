// Crash tests with real processes. crm-device processes (client-sdk/tools)
// edit leads and push them through crm-syncd on PostgreSQL while the test
//  - SIGKILLs crm-syncd in the middle of pushes and restarts it,
//  - SIGKILLs devices in the middle of a sync and reopens them
// (PostgreSQL restarts: pg_restart_test.cc). Afterwards (SettleAndCheck, device_worker.h): every
// mutation a device committed is on the server exactly once, nothing more, and every replica equals
// the server's records in its scope.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <thread>

#include "device_worker.h"
#include "fault_checks.h"
#include "fault_test_base.h"
#include "fault_test_util.h"
#include "pg_cluster.h"
#include "server_process.h"
#include "tcp_proxy.h"

namespace crmsync::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

::testing::Environment* const kPgEnvironment =
    ::testing::AddGlobalTestEnvironment(PgClusterEnvironment::Instance());

class CrashRecoveryTest : public FaultTestBase {};

// crm-syncd is SIGKILLed ten times while four devices push through a proxy
// (a load balancer with a stable address). Every other kill lands after a
// push committed but before its reply left: replies are held at the proxy
// while a fifth device (the courier) pushes, the server is killed once the
// courier's mutations are in PostgreSQL, and the held connections are reset.
// The devices must retry and the server answer from its exactly-once log.
// The other kills land at random moments of the load.
TEST_F(CrashRecoveryTest, ServerKilledMidPushDevicesResume) {
  UseSharedCluster();
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_TRUE(server && server->pid() > 0);
  TcpProxy proxy;
  ASSERT_TRUE(proxy.Start(server->port()).ok());
  const int64_t seq_before = TenantSeq();
  const auto start = SteadyClock::now();

  DeviceFleet fleet;
  const std::string address = proxy.address();
  auto via_proxy = [address] { return address; };
  fleet.Add(Device("alice", "alice-phone", 1), via_proxy);
  fleet.Add(Device("alice", "alice-tablet", 2), via_proxy);
  fleet.Add(Device("bob", "bob-phone", 3), via_proxy);
  fleet.Add(Device("maria", "maria-laptop", 4), via_proxy);
  std::unique_ptr<DeviceWorker> courier = Device("bob", "bob-tablet", 5);
  auto courier_applied = [&] { return CountProcessed(conninfo_, kDemoTenantId, "bob-tablet"); };
  fleet.Start();

  std::mt19937_64 rng(42);
  constexpr int kKills = 10;
  int held_commits = 0;
  int64_t lost_replies = 0;  // mutations committed while their reply was held
  for (int k = 0; k < kKills; ++k) {
    // Let the devices work for a while (load pacing, not synchronisation).
    std::this_thread::sleep_for(milliseconds(200 + rng() % 400));
    int64_t seq0 = -1;
    const bool hold = k % 2 == 0;
    if (hold) {
      proxy.HoldReplies();
      seq0 = TenantSeq();
      ASSERT_TRUE(courier->StartRound(address));
      const int64_t want = courier->stats().committed + courier->round_size();
      // Its push committed, and its reply cannot have left.
      if (WaitFor([&] { return courier_applied() >= want; }, seconds(20))) ++held_commits;
    }
    const int status = server->Stop(SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(status)) << "crm-syncd was not running: " << server->Output();
    if (hold) lost_replies += TenantSeq() - seq0;
    proxy.Cut();  // what was held is lost with the server
    proxy.Heal();
    if (hold) {
      EXPECT_EQ(courier->FinishRound(), DeviceWorker::Outcome::kUnreachable);
    }
    server = StartServer();
    ASSERT_TRUE(server && server->pid() > 0);
    proxy.SetUpstream(server->port());
  }
  // Every device must get through again after the last restart.
  const auto marks = fleet.Marks();
  EXPECT_TRUE(WaitFor([&] { return fleet.AllSyncedSince(marks, 2); }, seconds(30)))
      << "devices did not resume after the last restart";
  fleet.Stop();

  std::vector<DeviceWorker*> all = fleet.workers();
  all.push_back(courier.get());
  const SettleReport report = SettleAndCheck(all, proxy.address(), conninfo_, seq_before);
  EXPECT_EQ(held_commits, kKills / 2) << "the courier's push did not commit while held";
  EXPECT_TRUE(Alive(*server)) << "crm-syncd died: " << server->Output();
  std::printf(
      "[figures] server kills: %d (%d after pushes committed whose replies were lost: "
      "%lld mutations); %s, courier %lld; %lld leads checked; %.1f s\n",
      kKills, held_commits, static_cast<long long>(lost_replies), fleet.Figures().c_str(),
      static_cast<long long>(courier->stats().committed),
      static_cast<long long>(report.records_checked), SecondsSince(start));
}

// A device is SIGKILLed in the middle of its sync and reopened by its next
// run. Six kills land after its push committed on the server while the
// reply was held at the proxy (the reply is then lost with the
// connection): the reopened device pushes the same mutations again and
// must get the stored results. Ten more kills land at random moments of a
// round (while editing, before or during the push, while pulling). A second
// device of the same user works directly against the server in between.
TEST_F(CrashRecoveryTest, DeviceKilledMidSyncAndReopened) {
  UseSharedCluster();
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_TRUE(server && server->pid() > 0);
  TcpProxy proxy;
  ASSERT_TRUE(proxy.Start(server->port()).ok());
  const int64_t seq_before = TenantSeq();
  const auto start = SteadyClock::now();
  std::unique_ptr<DeviceWorker> victim = Device("alice", "alice-phone", 11);
  std::unique_ptr<DeviceWorker> tablet = Device("alice", "alice-tablet", 12);
  auto applied = [&] { return CountProcessed(conninfo_, kDemoTenantId, "alice-phone"); };

  // How long a normal round of this device takes (open, edits, sync): the
  // random kills below aim at its second half, where the sync runs.
  std::vector<double> durations;
  for (int k = 0; k < 3; ++k) {
    const auto t0 = SteadyClock::now();
    EXPECT_EQ(victim->RunRound(proxy.address()), DeviceWorker::Outcome::kSynced);
    durations.push_back(SecondsSince(t0) * 1000);
  }
  std::sort(durations.begin(), durations.end());
  const int round_ms = std::max(20, static_cast<int>(durations[1]));

  constexpr int kHeldKills = 6;
  int held = 0;
  for (int k = 0; k < kHeldKills; ++k) {
    proxy.HoldReplies();
    ASSERT_TRUE(victim->StartRound(proxy.address()));
    // Everything it committed, this round included, is on the server...
    const int64_t want = victim->stats().committed + victim->round_size();
    if (WaitFor([&] { return applied() >= want; }, seconds(20))) ++held;
    // ... and the reply is still held: kill it now.
    victim->KillCurrent();
    EXPECT_EQ(victim->FinishRound(), DeviceWorker::Outcome::kKilled);
    proxy.Cut();
    proxy.Heal();
    EXPECT_EQ(tablet->RunRound(server->address()), DeviceWorker::Outcome::kSynced);
  }
  EXPECT_EQ(held, kHeldKills) << "the push did not reach the server while its reply was held";

  // Random moments. Half the kills wait until the device opened its
  // connection (its edits are committed, the sync has begun) and strike up
  // to 25 ms later; the others strike anywhere in a normal round's time.
  constexpr int kRandomKills = 10;
  std::mt19937_64 rng(7);
  int while_editing = 0, before_applied = 0, after_applied = 0, finished = 0;
  for (int k = 0; k < kRandomKills; ++k) {
    const int64_t committed0 = victim->stats().committed;
    const int64_t connections0 = proxy.counters().accepted;
    ASSERT_TRUE(victim->StartRound(proxy.address()));
    const int ops = victim->round_size();
    if (k % 2 == 0) {
      EXPECT_TRUE(WaitFor([&] { return proxy.counters().accepted > connections0; }, seconds(10)));
      std::this_thread::sleep_for(milliseconds(rng() % 25));  // the kill's moment
    } else {
      std::this_thread::sleep_for(milliseconds(rng() % (round_ms * 6 / 5 + 1)));
    }
    victim->KillCurrent();
    if (victim->FinishRound() != DeviceWorker::Outcome::kKilled) {
      ++finished;  // the round ended before the kill
    } else if (victim->stats().committed < committed0 + ops) {
      ++while_editing;
    } else if (applied() < victim->stats().committed) {
      ++before_applied;  // edits committed locally, push not (fully) applied
    } else {
      ++after_applied;  // push applied; killed awaiting its reply or pulling
    }
    EXPECT_EQ(tablet->RunRound(server->address()), DeviceWorker::Outcome::kSynced);
  }
  // Reopened: it syncs normally again.
  for (int k = 0; k < 2; ++k) {
    EXPECT_EQ(victim->RunRound(proxy.address()), DeviceWorker::Outcome::kSynced);
  }

  const SettleReport report =
      SettleAndCheck({victim.get(), tablet.get()}, server->address(), conninfo_, seq_before);
  const auto v = victim->stats();
  EXPECT_TRUE(Alive(*server)) << "crm-syncd died: " << server->Output();
  std::printf(
      "[figures] device kills: %d with the push applied and its reply lost; %d at random "
      "moments: %d while writing edits, %d before the push was applied, %d after it, %d "
      "too late (round over); a normal round takes %d ms; %d runs of the killed device, "
      "%lld + %lld mutations committed; %.1f s\n",
      held, kRandomKills, while_editing, before_applied, after_applied, finished, round_ms,
      v.rounds, static_cast<long long>(v.committed),
      static_cast<long long>(tablet->stats().committed), SecondsSince(start));
  EXPECT_EQ(report.committed, report.seq_growth);
}

}  // namespace
}  // namespace crmsync::testing
