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
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

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

// Records every Pull the engine got an answer to: the cursor it asked from,
// the cursor it was given, the sequence numbers of the changes.
class RecordingTransport : public client::Transport {
 public:
  struct PullRecord {
    std::string cursor;
    std::string next_cursor;
    std::vector<int64_t> seqs;
  };
  explicit RecordingTransport(std::shared_ptr<client::Transport> inner)
      : inner_(std::move(inner)) {}
  client::CallStatus Push(const v1::PushRequest& request, v1::PushResponse* response) override {
    return inner_->Push(request, response);
  }
  client::CallStatus Pull(const v1::PullRequest& request, v1::PullResponse* response) override {
    client::CallStatus s = inner_->Pull(request, response);
    if (s.ok()) {
      PullRecord r{request.cursor(), response->next_cursor(), {}};
      for (const v1::Change& c : response->changes()) r.seqs.push_back(c.seq());
      std::lock_guard<std::mutex> lock(mu_);
      pulls_.push_back(std::move(r));
    }
    return s;
  }
  client::CallStatus GetChecksum(const v1::GetChecksumRequest& request,
                                 v1::GetChecksumResponse* response) override {
    return inner_->GetChecksum(request, response);
  }
  std::unique_ptr<client::Subscription> Subscribe(
      const v1::SubscribeRequest& request, std::function<void(const v1::SubscribeEvent&)> on_event,
      std::function<void(const client::CallStatus&)> on_done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++subscriptions_;
    }
    return inner_->Subscribe(request, std::move(on_event), std::move(on_done));
  }
  std::vector<PullRecord> pulls() {
    std::lock_guard<std::mutex> lock(mu_);
    return pulls_;
  }
  int subscriptions() {
    std::lock_guard<std::mutex> lock(mu_);
    return subscriptions_;
  }

 private:
  std::shared_ptr<client::Transport> inner_;
  std::mutex mu_;
  std::vector<PullRecord> pulls_;
  int subscriptions_ = 0;
};

// The SDK's subscribe loop (SyncEngine::Start) behind the proxy while
// another device creates a lead every ~100 ms directly on the server. The
// proxy resets the engine's connections, stalls them for 1.5 s, refuses
// them for 0.7 s, holds its replies for 1 s and finally freezes them for
// good (no FIN, no RST: a NAT that forgot them, a phone that changed
// networks), which only keepalive pings notice (2 s + 2 s here instead of
// the default 30 s + 10 s). Every answered Pull must start from the cursor
// the previous one returned (never a re-bootstrap, never an old cursor), no
// change may arrive twice, every new lead must arrive, the edit the device
// made while its connection was dead must be pushed once, and the replica
// must equal the server's.
TEST_F(SubscribeFaultTest, SdkSubscribeLoopResumesFromCursorIncludingSilentlyDeadConnections) {
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
  auto transport = std::make_shared<RecordingTransport>(client::MakeGrpcTransport(t));
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
  auto engine = std::make_unique<client::SyncEngine>(db->get(), transport, so);
  engine->Start();
  ASSERT_TRUE(WaitFor([&] { return seen("lead-alice-1"); }, seconds(20)));

  std::unique_ptr<DeviceWorker> writer = Device("alice", "alice-phone", 51);
  writer->set_creates_only(true);
  std::atomic<bool> stop{false};
  std::thread writing([&] {
    for (int r = 0; r < 300 && !stop && SecondsSince(start) < 60; ++r) {
      EXPECT_EQ(writer->RunRound(server->address()), DeviceWorker::Outcome::kSynced);
      std::this_thread::sleep_for(milliseconds(50));  // pacing of the writer
    }
  });
  std::mt19937_64 rng(23);
  for (int k = 0; k < 4; ++k) {
    std::this_thread::sleep_for(milliseconds(400 + rng() % 300));  // let changes flow
    switch (k) {
      case 0: proxy.Cut(); break;
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

  // Finally the connection dies silently, and the device edits meanwhile.
  std::this_thread::sleep_for(milliseconds(400));  // let changes flow
  proxy.Blackhole();
  const auto dead = SteadyClock::now();
  v1::Record mine;
  mine.mutable_lead()->set_id("alice-sub-1");
  mine.mutable_lead()->set_first_name("Offline");
  mine.mutable_lead()->set_owner_user_id("u-alice");
  mine.mutable_lead()->set_team_id("team-north");
  ASSERT_TRUE((*db)->Create(mine).ok());
  std::this_thread::sleep_for(milliseconds(500));  // changes pile up behind the dead connection
  stop = true;
  writing.join();
  ASSERT_TRUE(Alive(*server)) << "crm-syncd died: " << server->Output();
  EXPECT_TRUE(WaitFor(
      [&] {
        for (const auto& [lead, notes] : writer->live()) {
          if (!seen(lead)) return false;
        }
        return true;
      },
      seconds(30)))
      << "the engine missed changes (or never noticed its connection was dead)";
  const double recovered = SecondsSince(dead);
  EXPECT_TRUE(WaitFor([&] { return *(*db)->PendingCount() == 0; }, seconds(30)));
  engine.reset();

  // Pulls resumed from the cursor, and no change came twice.
  const auto pulls = transport->pulls();
  ASSERT_FALSE(pulls.empty());
  EXPECT_EQ(pulls[0].cursor, "");  // the bootstrap
  std::set<int64_t> seqs;
  for (size_t i = 0; i < pulls.size(); ++i) {
    if (i > 0) {
      EXPECT_EQ(pulls[i].cursor, pulls[i - 1].next_cursor)
          << "pull " << i << " did not resume from the cursor the previous one returned";
    }
    for (int64_t seq : pulls[i].seqs) {
      EXPECT_TRUE(seqs.insert(seq).second) << "change " << seq << " delivered twice";
    }
  }
  auto log = ReadAppliedLog(conninfo_, kDemoTenantId, "alice-sub");
  ASSERT_TRUE(log.ok()) << log.status();
  for (const std::string& p : CheckExactlyOnce("alice-sub", *log, 1)) ADD_FAILURE() << p;
  db->reset();
  auto view = ReadServerScope(server->address(), "alice", "audit-alice");
  auto replica = ReadReplica(o.path, o.key);
  ASSERT_TRUE(view.ok() && replica.ok());
  for (const std::string& d : CompareReplica("alice-sub", *view, *replica)) ADD_FAILURE() << d;
  const TcpProxy::Counters c = proxy.counters();
  EXPECT_TRUE(Alive(*server)) << "crm-syncd died: " << server->Output();
  std::printf(
      "[figures] SDK subscribe loop through 5 faults (%lld connections reset, %lld "
      "refused, 1.5 s stall, 1 s held, then a silently dead connection noticed after "
      "%.1f s): %zu leads created by another device, %zu changes received once in %zu "
      "pulls, each from the previous cursor; %d subscriptions opened; %.1f s\n",
      static_cast<long long>(c.cut), static_cast<long long>(c.refused), recovered,
      writer->live().size(), seqs.size(), pulls.size(), transport->subscriptions(),
      SecondsSince(start));
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
      [&] {
        return ReadText(out).find("changed ENTITY_TYPE_LEAD lead-alice-1\n") != std::string::npos;
      },
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
      case 0: proxy.Cut(); break;
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
  ASSERT_TRUE(Alive(*server)) << "crm-syncd died: " << server->Output();

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
  EXPECT_TRUE(Alive(*server)) << "crm-syncd died: " << server->Output();
  std::printf(
      "[figures] watch through %d faults (%lld connections reset, %lld refused, stalls "
      "of 1.5 s, replies held 1 s): %zu leads created, each printed once; %zu lines in "
      "all, none twice; %.1f s\n",
      kCycles, static_cast<long long>(c.cut), static_cast<long long>(c.refused), expected.size(),
      lines.size(), SecondsSince(start));
}

}  // namespace
}  // namespace crmsync::testing
