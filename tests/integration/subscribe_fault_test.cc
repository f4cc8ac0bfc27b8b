// Network faults under subscribed devices: a crm-device watch and an SDK
// engine reach crm-syncd (on PostgreSQL) through a TcpProxy that resets,
// refuses, stalls, holds and silently kills their connections. Their
// Subscribe loops must resume from the device's cursor without missing or
// repeating a change (network_fault_test.cc covers pushes).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "crmsync/client/database.h"
#include "crmsync/client/sync_engine.h"
#include "crmsync/client/transport.h"
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

class SubscribeFaultTest : public FaultTestBase {};

// A connection that dies silently (no FIN, no RST: a NAT that forgot it, a
// phone that changed networks) under a subscribed SDK engine: the engine
// must notice (keepalive pings, 2 s + 2 s here instead of the default
// 30 s + 10 s), reconnect, receive what another device changed meanwhile,
// and push its own edit made meanwhile exactly once.
TEST_F(SubscribeFaultTest, SubscribedEngineRecoversFromSilentlyDeadConnection) {
  UseSharedCluster();
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_TRUE(server && server->pid() > 0);
  TcpProxy proxy;
  ASSERT_TRUE(proxy.Start(server->port()).ok());
  const auto start = SteadyClock::now();

  client::DatabaseOptions o;
  o.path = dir_ + "/alice-sub.db";
  o.key = "key-alice-sub";
  o.device_id = "alice-sub";
  o.user_id = "u-alice";
  auto db = client::Database::Open(o);
  ASSERT_TRUE(db.ok()) << db.status();
  client::GrpcTransportOptions t;
  t.address = proxy.address();
  t.credentials = client::MakeDevCredentials("demo", "alice", "alice-sub");
  t.keepalive_time = seconds(2);
  t.keepalive_timeout = seconds(2);
  std::mutex mu;
  std::set<std::string> changed;
  client::SyncOptions so;
  so.on_change = [&](const client::ChangeEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    changed.insert(e.ref.id());
  };
  auto seen = [&](const std::string& id) {
    std::lock_guard<std::mutex> lock(mu);
    return changed.count(id) > 0;
  };
  auto engine = std::make_unique<client::SyncEngine>(db->get(), client::MakeGrpcTransport(t), so);
  engine->Start();
  ASSERT_TRUE(WaitFor([&] { return seen("lead-alice-1"); }, seconds(20)));

  std::unique_ptr<DeviceWorker> writer = Device("alice", "alice-phone", 51);
  writer->set_creates_only(true);
  ASSERT_EQ(writer->RunRound(server->address()), DeviceWorker::Outcome::kSynced);
  ASSERT_TRUE(WaitFor([&] { return seen(writer->round_lead()); }, seconds(10)));

  proxy.Blackhole();
  const auto dead = SteadyClock::now();
  ASSERT_EQ(writer->RunRound(server->address()), DeviceWorker::Outcome::kSynced);
  v1::Record mine;
  mine.mutable_lead()->set_id("alice-sub-1");
  mine.mutable_lead()->set_first_name("Offline");
  mine.mutable_lead()->set_owner_user_id("u-alice");
  mine.mutable_lead()->set_team_id("team-north");
  ASSERT_TRUE((*db)->Create(mine).ok());
  EXPECT_TRUE(WaitFor([&] { return seen(writer->round_lead()); }, seconds(30)))
      << "the engine never noticed its connection was dead";
  const double noticed = SecondsSince(dead);
  EXPECT_TRUE(WaitFor([&] { return *(*db)->PendingCount() == 0; }, seconds(30)));
  engine.reset();
  const int64_t blackholed = proxy.counters().accepted;

  auto log = ReadAppliedLog(conninfo_, kDemoTenantId, "alice-sub");
  ASSERT_TRUE(log.ok()) << log.status();
  for (const std::string& p : CheckExactlyOnce("alice-sub", *log, 1)) ADD_FAILURE() << p;
  db->reset();
  auto view = ReadServerScope(server->address(), "alice", "audit-alice");
  auto replica = ReadReplica(o.path, o.key);
  ASSERT_TRUE(view.ok() && replica.ok());
  for (const std::string& d : CompareReplica("alice-sub", *view, *replica)) ADD_FAILURE() << d;
  std::printf("[figures] silently dead connection: noticed, change received and own edit pushed "
              "once after %.1f s (%lld connections); %.1f s\n",
              noticed, static_cast<long long>(blackholed), SecondsSince(start));
}

// Lines "changed ENTITY_TYPE_LEAD <id>" (and "removed ...") of a crm-device
// watch output, counted.
std::map<std::string, int> ChangeLines(const std::string& output) {
  std::map<std::string, int> lines;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("changed ", 0) == 0 || line.rfind("removed ", 0) == 0) ++lines[line];
  }
  return lines;
}

// A crm-device watch behind the proxy while another device of the same user
// creates a lead every ~100 ms directly on the server. The proxy resets the
// watcher's connections, stalls them for 1.5 s, refuses them for 0.7 s and
// holds its replies and stream events for 1 s, in turns. Afterwards the
// watcher has printed every new lead exactly once and no other record
// twice (a re-bootstrap would print them all again), and its replica equals
// the server's.
TEST_F(SubscribeFaultTest, SubscribeResumesFromCursorAfterCutsAndStalls) {
  UseSharedCluster();
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_TRUE(server && server->pid() > 0);
  TcpProxy proxy;
  ASSERT_TRUE(proxy.Start(server->port()).ok());
  const auto start = SteadyClock::now();

  const DeviceIdentity watch_id{"alice", "alice-watch", dir_ + "/alice-watch.db",
                                "key-alice-watch"};
  const std::string out = dir_ + "/alice-watch.out";
  DeviceProcess watcher;
  ASSERT_TRUE(watcher.Start(watch_id, proxy.address(), {"watch"}, out));
  ASSERT_TRUE(WaitFor(
      [&] { return ReadText(out).find("changed ENTITY_TYPE_LEAD lead-alice-1\n") != std::string::npos; },
      seconds(20)))
      << "the watcher did not bootstrap: " << ReadText(out);

  std::unique_ptr<DeviceWorker> writer = Device("alice", "alice-phone", 41);
  writer->set_creates_only(true);
  std::atomic<bool> stop{false};
  std::thread writing([&] {
    for (int r = 0; r < 300 && !stop && SecondsSince(start) < 60; ++r) {
      EXPECT_EQ(writer->RunRound(server->address()), DeviceWorker::Outcome::kSynced);
      std::this_thread::sleep_for(milliseconds(50));  // pacing of the writer
    }
  });

  std::mt19937_64 rng(17);
  constexpr int kCycles = 8;
  for (int k = 0; k < kCycles; ++k) {
    std::this_thread::sleep_for(milliseconds(400 + rng() % 300));  // let changes flow
    switch (k % 4) {
      case 0:
        proxy.Cut();
        break;
      case 1:
        proxy.Stall();
        std::this_thread::sleep_for(milliseconds(1500));  // the stall
        proxy.Heal();
        break;
      case 2:
        proxy.Refuse(true);
        proxy.Cut();
        std::this_thread::sleep_for(milliseconds(700));  // the outage
        proxy.Refuse(false);
        break;
      case 3:
        proxy.HoldReplies();
        std::this_thread::sleep_for(milliseconds(1000));  // replies held
        proxy.Heal();
        break;
    }
  }
  std::this_thread::sleep_for(milliseconds(300));  // a last stretch of normal traffic
  stop = true;
  writing.join();
  const auto healed = SteadyClock::now();

  std::vector<std::string> expected;
  for (const auto& [lead, notes] : writer->live()) {
    expected.push_back("changed ENTITY_TYPE_LEAD " + lead);
  }
  auto all_seen = [&] {
    const auto lines = ChangeLines(ReadText(out));
    for (const std::string& e : expected) {
      if (lines.count(e) == 0) return false;
    }
    return true;
  };
  EXPECT_TRUE(WaitFor(all_seen, seconds(30))) << "the watcher missed changes";
  const double catch_up = SecondsSince(healed);
  // Anything still in flight would show up now.
  ASSERT_TRUE(writer->RunRound(server->address()) == DeviceWorker::Outcome::kSynced);
  expected.push_back("changed ENTITY_TYPE_LEAD " + writer->round_lead());
  EXPECT_TRUE(WaitFor(all_seen, seconds(10)));
  watcher.Signal(SIGTERM);
  const int status = watcher.Wait(seconds(20));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadText(out);

  const auto lines = ChangeLines(ReadText(out));
  for (const std::string& e : expected) {
    auto it = lines.find(e);
    if (it == lines.end()) {
      ADD_FAILURE() << "never delivered: " << e;
    }
  }
  for (const auto& [line, count] : lines) {
    EXPECT_EQ(count, 1) << "delivered " << count << " times: " << line;
  }
  auto view = ReadServerScope(server->address(), "alice", "audit-alice");
  auto replica = ReadReplica(watch_id.db, watch_id.key);
  ASSERT_TRUE(view.ok() && replica.ok());
  for (const std::string& d : CompareReplica("alice-watch", *view, *replica)) ADD_FAILURE() << d;

  const TcpProxy::Counters c = proxy.counters();
  std::printf("[figures] watch through %d faults (%lld connections reset, %lld refused, stalls "
              "of 1.5 s, replies held 1 s): %zu leads created, each printed once; %zu lines in "
              "all; caught up %.1f s after the last fault; %.1f s\n",
              kCycles, static_cast<long long>(c.cut), static_cast<long long>(c.refused),
              expected.size(), lines.size(), catch_up, SecondsSince(start));
}

}  // namespace
}  // namespace crmsync::testing
