// Network faults on loopback: devices reach crm-syncd (on PostgreSQL)
// through a TcpProxy that resets connections, refuses new ones, holds
// replies, adds latency and stalls. Pushes must be retried and applied
// exactly once (subscribe_fault_test.cc covers Subscribe streams).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <random>
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

class NetworkFaultTest : public FaultTestBase {
 protected:
  int64_t Applied(const std::string& device) {
    return CountProcessed(conninfo_, kDemoTenantId, device);
  }
};

// Three crm-device processes push through the proxy while it cycles through
// five faults: every connection reset; new connections refused for 300 ms;
// replies held until a courier device's push committed, then every
// connection reset (the reply is lost after the commit); 150 ms latency per
// chunk each way for 600 ms; everything stalled for 800 ms.
TEST_F(NetworkFaultTest, PushesRetryAndApplyOnceThroughCutsStallsAndLostReplies) {
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
  fleet.Add(Device("alice", "alice-phone", 31), via_proxy);
  fleet.Add(Device("bob", "bob-phone", 32), via_proxy);
  fleet.Add(Device("maria", "maria-laptop", 33), via_proxy);
  std::unique_ptr<DeviceWorker> courier = Device("alice", "alice-tablet", 34);
  fleet.Start();

  std::mt19937_64 rng(5);
  constexpr int kCycles = 15;
  int lost_replies = 0;
  for (int k = 0; k < kCycles; ++k) {
    std::this_thread::sleep_for(milliseconds(200 + rng() % 200));  // load pacing
    switch (k % 5) {
      case 0: proxy.Cut(); break;
      case 1:
        proxy.Refuse(true);
        proxy.Cut();
        std::this_thread::sleep_for(milliseconds(300));  // the outage
        proxy.Refuse(false);
        break;
      case 2: {
        proxy.HoldReplies();
        ASSERT_TRUE(courier->StartRound(address));
        const int64_t want = courier->stats().committed + courier->round_size();
        if (WaitFor([&] { return Applied("alice-tablet") >= want; }, seconds(20))) {
          ++lost_replies;
        }
        proxy.Cut();
        proxy.Heal();
        EXPECT_EQ(courier->FinishRound(), DeviceWorker::Outcome::kUnreachable);
        break;
      }
      case 3:
        proxy.Delay(milliseconds(150));
        std::this_thread::sleep_for(milliseconds(600));  // the slow period
        proxy.Heal();
        break;
      case 4:
        proxy.Stall();
        std::this_thread::sleep_for(milliseconds(800));  // the stall
        proxy.Heal();
        break;
    }
  }
  const auto marks = fleet.Marks();
  EXPECT_TRUE(WaitFor([&] { return fleet.AllSyncedSince(marks, 2); }, seconds(30)))
      << "devices did not get through after the faults";
  fleet.Stop();
  EXPECT_EQ(lost_replies, kCycles / 5) << "the courier's push did not commit while held";

  std::vector<DeviceWorker*> all = fleet.workers();
  all.push_back(courier.get());
  const SettleReport report = SettleAndCheck(all, address, conninfo_, seq_before);
  const TcpProxy::Counters c = proxy.counters();
  EXPECT_TRUE(Alive(*server)) << "crm-syncd died: " << server->Output();
  std::printf(
      "[figures] %d fault cycles: %lld connections reset, %lld refused, %d pushes whose "
      "reply was lost after the commit; %lld connections in all; %s, courier %lld; "
      "%.1f s\n",
      kCycles, static_cast<long long>(c.cut), static_cast<long long>(c.refused), lost_replies,
      static_cast<long long>(c.accepted), fleet.Figures().c_str(),
      static_cast<long long>(courier->stats().committed), SecondsSince(start));
  EXPECT_EQ(report.committed, report.seq_growth);
}

// The SDK's own sync loop (SyncEngine::Start) with a 400 ms call deadline
// behind 600 ms of latency each way: every push reaches the server and
// commits, but its reply comes too late, so the engine backs off and pushes
// the same mutations again and again. Once the latency goes, the retry is
// answered from the exactly-once log and the outbox drains. The pending
// batch holds two successive edits of the same field of each lead: applied
// again, the older one would overwrite the newer for a moment and take
// change sequences of its own, which the sequence count catches (merging
// the same edit again is otherwise a no-op, so a lone edit would not tell).
TEST_F(NetworkFaultTest, SdkEngineRetriesPushesWhoseRepliesTimeOut) {
  UseSharedCluster();
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_TRUE(server && server->pid() > 0);
  TcpProxy proxy;
  ASSERT_TRUE(proxy.Start(server->port()).ok());
  const int64_t seq_before = TenantSeq();
  const auto start = SteadyClock::now();

  const DeviceIdentity id{"alice", "alice-sdk", dir_ + "/alice-sdk.db", "key-alice-sdk"};
  client::DatabaseOptions o;
  o.path = id.db;
  o.key = id.key;
  o.device_id = id.device_id;
  o.user_id = "u-alice";
  auto db = client::Database::Open(o);
  ASSERT_TRUE(db.ok()) << db.status();
  client::GrpcTransportOptions t;
  t.address = proxy.address();
  t.credentials = client::MakeDevCredentials("demo", "alice", id.device_id);
  t.call_timeout = milliseconds(400);
  std::atomic<int> failed_cycles{0};
  client::SyncOptions so;
  so.on_progress = [&](const client::SyncProgress& p) {
    if (p.state == client::SyncProgress::State::kBackoff) ++failed_cycles;
  };
  auto engine = std::make_unique<client::SyncEngine>(db->get(), client::MakeGrpcTransport(t), so);
  ASSERT_TRUE(engine->SyncOnce().ok()) << engine->Progress().last_error;  // bootstrap

  std::vector<std::string> ids;
  auto create = [&](int n) {
    for (int i = 0; i < n; ++i) {
      v1::Record r;
      r.mutable_lead()->set_first_name("Sdk");
      r.mutable_lead()->set_last_name("L" + std::to_string(ids.size()));
      r.mutable_lead()->set_owner_user_id("u-alice");
      r.mutable_lead()->set_team_id("team-north");
      auto created = (*db)->Create(r);
      ASSERT_TRUE(created.ok()) << created.status();
      ids.push_back(created->ref().id());
    }
  };
  auto edit_notes = [&](const std::string& id, const std::string& notes) {
    v1::Record r;
    r.mutable_lead()->set_id(id);
    r.mutable_lead()->set_notes(notes);
    google::protobuf::FieldMask mask;
    mask.add_paths("notes");
    ASSERT_TRUE((*db)->Update(r, &mask).ok());
  };
  create(3);
  ASSERT_TRUE(engine->SyncOnce().ok()) << engine->Progress().last_error;
  proxy.Delay(milliseconds(600));
  engine->Start();
  for (const std::string& id : ids) {
    edit_notes(id, "first");
    edit_notes(id, "second");
  }
  // The server has them all...
  EXPECT_TRUE(WaitFor([&] { return Applied(id.device_id) >= 9; }, seconds(20)));
  // ... the device saw no reply and keeps retrying.
  EXPECT_TRUE(WaitFor([&] { return failed_cycles >= 3; }, seconds(20)));
  EXPECT_EQ(*(*db)->PendingCount(), 6);
  const int retries = failed_cycles.load();
  proxy.Heal();
  EXPECT_TRUE(WaitFor([&] { return *(*db)->PendingCount() == 0; }, seconds(30)))
      << engine->Progress().last_error;
  create(3);
  EXPECT_TRUE(WaitFor([&] { return *(*db)->PendingCount() == 0; }, seconds(30)))
      << engine->Progress().last_error;
  engine->Stop();
  ASSERT_TRUE(engine->SyncOnce().ok()) << engine->Progress().last_error;
  EXPECT_FALSE(engine->Progress().checksum_mismatch);
  EXPECT_TRUE((*db)->Notices()->empty());
  engine.reset();
  db->reset();

  auto log = ReadAppliedLog(conninfo_, kDemoTenantId, id.device_id);
  ASSERT_TRUE(log.ok()) << log.status();
  auto floor = ReadAppliedFloor(conninfo_, kDemoTenantId, id.device_id);
  ASSERT_TRUE(floor.ok()) << floor.status();
  for (const std::string& p : CheckExactlyOnce(id.device_id, *log, 12, *floor)) ADD_FAILURE() << p;
  EXPECT_EQ(TenantSeq() - seq_before, 12) << "a mutation was applied twice";
  auto view = ReadServerScope(server->address(), "alice", "audit-alice");
  auto replica = ReadReplica(id.db, id.key);
  ASSERT_TRUE(view.ok() && replica.ok());
  for (const std::string& d : CompareReplica(id.device_id, *view, *replica)) ADD_FAILURE() << d;
  for (size_t i = 0; i < 3; ++i) {
    auto it = view->find("ENTITY_TYPE_LEAD/" + ids[i]);
    ASSERT_TRUE(it != view->end()) << ids[i];
    EXPECT_EQ(it->second.data().lead().notes(), "second");
  }
  EXPECT_TRUE(Alive(*server)) << "crm-syncd died: " << server->Output();
  std::printf(
      "[figures] SDK engine: a push of 6 edits committed behind 600 ms latency with a "
      "400 ms deadline, %d failed cycles before the latency went, then drained; 12 "
      "mutations applied once; %.1f s\n",
      retries, SecondsSince(start));
}

}  // namespace
}  // namespace crmsync::testing
