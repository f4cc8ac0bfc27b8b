// crm-syncd on Citus (distributed PostgreSQL): a coordinator and two workers
// started by tests/support/citus-test-cluster.sh. Run by tests/citus/run-citus-suite.sh,
// which starts the cluster and sets CRMSYNC_TEST_CITUS_DIR (the cluster's
// directory) and CRMSYNC_TEST_PG_URI (the coordinator); it is not a CTest
// test, as it needs the Citus extension installed.
//  - every tenant table is distributed by tenant_id, co-located with
//    tenant_seq; tenants is a reference table (postgres_schema.h);
//  - tenants land on both workers;
//  - the demo tenant's shard group moves to the other worker while devices
//    sync (citus_move_shard_placement, online), and the worker holding it
//    restarts while devices sync: afterwards every committed mutation is on
//    the server exactly once, the feed has no gap, every replica converged.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <pqxx/nontransaction>
#include <pqxx/pqxx>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "device_worker.h"
#include "fault_checks.h"
#include "fault_test_base.h"
#include "fault_test_util.h"
#include "pg_cluster.h"
#include "server_process.h"
#include "store/postgres_schema.h"

namespace crmsync::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

::testing::Environment* const kPgEnvironment =
    ::testing::AddGlobalTestEnvironment(PgClusterEnvironment::Instance());

std::string ReadFirstLine(const std::string& path) {
  std::string text = ReadText(path);
  return text.substr(0, text.find('\n'));
}

class CitusTest : public FaultTestBase {
 protected:
  void SetUp() override {
    FaultTestBase::SetUp();
    const char* dir = std::getenv("CRMSYNC_TEST_CITUS_DIR");
    ASSERT_TRUE(dir != nullptr && *dir != '\0')
        << "CRMSYNC_TEST_CITUS_DIR is not set: run this through tests/citus/run-citus-suite.sh";
    citus_dir_ = dir;
    UseSharedCluster();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(conninfo_, m, std::regex("search_path=([A-Za-z0-9_]+)")))
        << conninfo_;
    schema_ = m[1];
    const std::string coordinator = ReadFirstLine(citus_dir_ + "/coordinator/conninfo");
    ASSERT_TRUE(std::regex_search(coordinator, m, std::regex("port=([0-9]+)"))) << coordinator;
    // The superuser, for Citus's metadata and shard moves, in the test's schema.
    admin_ = "host=127.0.0.1 port=" + m[1].str() + " user=postgres dbname=crmsync_test " +
             "options='-csearch_path=" + schema_ + "'";
  }

  pqxx::result Admin(const std::string& sql) {
    pqxx::connection conn(admin_);
    pqxx::nontransaction tx(conn);
    return tx.exec(sql);
  }

  // The worker port holding the shard of tenant_seq (and its co-located
  // shards) for `tenant`, and that shard's id.
  std::pair<int64_t, int> Placement(const std::string& tenant) {
    pqxx::result r = Admin(
        "SELECT s.shardid, s.nodeport FROM citus_shards s WHERE s.shardid = "
        "get_shard_id_for_distribution_column('tenant_seq', '" +
        tenant + "')");
    EXPECT_EQ(r.size(), 1u);
    if (r.size() != 1) return {0, 0};
    return {r[0][0].as<int64_t>(), r[0][1].as<int>()};
  }

  std::set<int> WorkerPorts() {
    std::set<int> ports;
    for (const char* node : {"worker1", "worker2"}) {
      std::smatch m;
      const std::string line = ReadFirstLine(citus_dir_ + "/" + node + "/conninfo");
      if (std::regex_search(line, m, std::regex("port=([0-9]+)"))) ports.insert(std::stoi(m[1]));
    }
    return ports;
  }

  std::string NodeOfPort(int port) {
    for (const char* node : {"worker1", "worker2"}) {
      if (ReadFirstLine(citus_dir_ + "/" + node + "/conninfo")
              .find("port=" + std::to_string(port)) != std::string::npos) {
        return node;
      }
    }
    return "";
  }

  int ClusterScript(const std::string& cmd, const std::string& node) {
    const std::string line = std::string(CRMSYNC_SOURCE_DIR) +
                             "/tests/support/citus-test-cluster.sh " + cmd + " '" + citus_dir_ +
                             "' " + node;
    return std::system(line.c_str());
  }

  // Four devices of three users syncing with `server` in a loop.
  void AddDevices(DeviceFleet* fleet, const std::string& address, uint64_t seed) {
    auto direct = [address] { return address; };
    fleet->Add(Device("alice", "alice-phone", seed + 1), direct);
    fleet->Add(Device("alice", "alice-tablet", seed + 2), direct);
    fleet->Add(Device("bob", "bob-phone", seed + 3), direct);
    fleet->Add(Device("maria", "maria-laptop", seed + 4), direct);
  }

  // After the faults: every device syncs twice more, then the invariants
  // (SettleAndCheck: each committed mutation on the server exactly once,
  // gap-free feed, replicas equal to the server in their scope).
  SettleReport SettleFleet(DeviceFleet* fleet, const ServerProcess& server, int64_t seq_before,
                           const char* after) {
    const auto marks = fleet->Marks();
    EXPECT_TRUE(WaitFor([&] { return fleet->AllSyncedSince(marks, 2); }, seconds(60)))
        << "devices did not get through after " << after;
    fleet->Stop();
    EXPECT_TRUE(Alive(server)) << server.Output();
    const SettleReport report =
        SettleAndCheck(fleet->workers(), server.address(), conninfo_, seq_before);
    EXPECT_EQ(report.committed, report.seq_growth);
    return report;
  }

  std::string citus_dir_;
  std::string schema_;
  std::string admin_;
};

TEST_F(CitusTest, EveryTenantTableIsDistributedByTenantAndCoLocated) {
  std::unique_ptr<ServerProcess> server = StartServer();  // migrates
  ASSERT_TRUE(server && server->pid() > 0);
  pqxx::result rows = Admin(
      "SELECT c.relname, t.citus_table_type, t.distribution_column, t.colocation_id "
      "FROM public.citus_tables t JOIN pg_class c ON c.oid = t.table_name "
      "WHERE c.relnamespace = '" +
      schema_ + "'::regnamespace");
  std::map<std::string, std::tuple<std::string, std::string, int64_t>> found;
  for (const auto& row : rows) {
    found[row[0].as<std::string>()] = {row[1].as<std::string>(), row[2].as<std::string>(),
                                       row[3].as<int64_t>()};
  }
  ASSERT_TRUE(found.count("tenant_seq")) << "tenant_seq is not distributed";
  const int64_t group = std::get<2>(found["tenant_seq"]);
  for (const server::CitusTable& table : server::CitusTables()) {
    SCOPED_TRACE(table.name);
    ASSERT_TRUE(found.count(table.name)) << table.name << " is not a Citus table";
    const auto& [type, column, colocation] = found[table.name];
    if (table.placement == server::CitusPlacement::kReference) {
      EXPECT_EQ(type, "reference");
    } else {
      EXPECT_EQ(type, "distributed");
      EXPECT_EQ(column, "tenant_id");
      EXPECT_EQ(colocation, group) << "not co-located with tenant_seq";
    }
  }
  // Every table of the schema with a tenant_id column is one of them: a
  // future migration's table cannot stay on the coordinator unnoticed.
  pqxx::result tenant_tables = Admin(
      "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
      "WHERE c.relnamespace = '" +
      schema_ + "'::regnamespace AND c.relkind = 'r' AND a.attname = 'tenant_id'");
  EXPECT_GE(tenant_tables.size(), server::CitusTables().size() - 1);
  for (const auto& row : tenant_tables) {
    EXPECT_TRUE(found.count(row[0].as<std::string>()))
        << row[0].as<std::string>() << " has a tenant_id but is not distributed";
  }
  // What stays on the coordinator is what is not per tenant.
  pqxx::result local =
      Admin("SELECT c.relname FROM pg_class c WHERE c.relnamespace = '" + schema_ +
            "'::regnamespace AND c.relkind = 'r' AND c.oid NOT IN (SELECT table_name FROM public."
            "citus_tables) ORDER BY 1");
  std::vector<std::string> names;
  for (const auto& row : local) names.push_back(row[0].as<std::string>());
  EXPECT_EQ(names, (std::vector<std::string>{"login_failures", "rate_usage", "schema_migrations"}));
}

TEST_F(CitusTest, TenantsLandOnBothWorkers) {
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_TRUE(server && server->pid() > 0);
  std::set<int> used;
  for (int i = 0; i < 24; ++i) {
    const std::string tenant = "t-spread-" + std::to_string(i);
    Admin("INSERT INTO tenant_seq (tenant_id) VALUES ('" + tenant + "')");
    used.insert(Placement(tenant).second);
  }
  EXPECT_EQ(used, WorkerPorts()) << "24 tenants did not spread over both workers";
}

TEST_F(CitusTest, ATenantMovesToTheOtherWorkerWhileDevicesSync) {
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_TRUE(server && server->pid() > 0);
  const int64_t seq_before = TenantSeq();
  const auto start = SteadyClock::now();
  DeviceFleet fleet;
  AddDevices(&fleet, server->address(), 100);
  fleet.Start();

  std::set<int> visited;
  double move_seconds = 0;
  for (int move = 0; move < 2; ++move) {
    std::this_thread::sleep_for(milliseconds(1500));  // load pacing
    const auto [shard, from] = Placement(kDemoTenantId);
    ASSERT_GT(shard, 0);
    visited.insert(from);
    std::set<int> others = WorkerPorts();
    others.erase(from);
    ASSERT_EQ(others.size(), 1u);
    const int to = *others.begin();
    const auto move_start = SteadyClock::now();
    // Online (logical replication; writes pause only for the switch-over).
    Admin("SELECT citus_move_shard_placement(" + std::to_string(shard) + ", '127.0.0.1', " +
          std::to_string(from) + ", '127.0.0.1', " + std::to_string(to) + ")");
    move_seconds += SecondsSince(move_start);
    EXPECT_EQ(Placement(kDemoTenantId).second, to) << "the shard group did not move";
  }
  EXPECT_EQ(visited.size(), 2u) << "the tenant should have lived on both workers";
  const SettleReport report = SettleFleet(&fleet, *server, seq_before, "the moves");
  std::printf(
      "[figures] 2 shard-group moves under load, %.1f s moving; %s; %lld leads checked; "
      "%.1f s\n",
      move_seconds, fleet.Figures().c_str(), static_cast<long long>(report.records_checked),
      SecondsSince(start));
}

TEST_F(CitusTest, TheTenantsWorkerRestartsWhileDevicesSync) {
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_TRUE(server && server->pid() > 0);
  const int64_t seq_before = TenantSeq();
  const auto start = SteadyClock::now();
  DeviceFleet fleet;
  AddDevices(&fleet, server->address(), 200);
  fleet.Start();

  std::mt19937_64 rng(7);
  double down_seconds = 0, stop_seconds = 0, start_seconds = 0;
  for (int restart = 0; restart < 2; ++restart) {
    std::this_thread::sleep_for(milliseconds(1000 + rng() % 500));  // load pacing
    const std::string node = NodeOfPort(Placement(kDemoTenantId).second);
    ASSERT_FALSE(node.empty());
    const auto stop_at = SteadyClock::now();
    ASSERT_EQ(ClusterScript("stop-node", node), 0);
    stop_seconds += SecondsSince(stop_at);
    std::this_thread::sleep_for(milliseconds(500 + rng() % 500));  // outage length
    const auto start_at = SteadyClock::now();
    ASSERT_EQ(ClusterScript("start-node", node), 0);
    start_seconds += SecondsSince(start_at);
    down_seconds += SecondsSince(stop_at);
  }
  const SettleReport report = SettleFleet(&fleet, *server, seq_before, "the worker came back");
  std::printf(
      "[figures] 2 worker restarts under load, %.1f s down in all (stopping %.1f s, starting "
      "%.1f s); %s; %lld leads checked; %.1f s\n",
      down_seconds, stop_seconds, start_seconds, fleet.Figures().c_str(),
      static_cast<long long>(report.records_checked), SecondsSince(start));
}

}  // namespace
}  // namespace crmsync::testing
