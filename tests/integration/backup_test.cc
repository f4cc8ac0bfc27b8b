// Online backups of both stores while devices sync, then a restore by the
// procedure of docs/operations.md ("Backup and restore"): stop, restore,
// crm-syncd --new-history, start. Devices keep syncing after the backup
// (creating, editing and deleting their leads, every change acknowledged),
// so the restored server has lost work; afterwards nothing a device
// committed is lost (each device re-sends what the backup missed), deletes
// stay deleted, and every replica equals the server's records in its scope.
//
// PostgreSQL: pg_dump -Fc of the store's schema while crm-syncd serves;
// pg_restore --clean. SQLite: sqlite3's online `.backup` while crm-syncd
// serves; the file replaced (and its -wal/-shm removed).
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "device_worker.h"
#include "fault_checks.h"
#include "fault_test_base.h"
#include "fault_test_util.h"
#include "pg_cluster.h"
#include "server_process.h"

namespace crmsync::testing {
namespace {

using std::chrono::seconds;
namespace fs = std::filesystem;

constexpr char kPgBin[] = "/usr/lib/postgresql/15/bin";

class BackupTest : public FaultTestBase {
 protected:
  // crm-syncd on `store` with the demo tenant.
  std::unique_ptr<ServerProcess> StartOn(const std::string& store) {
    auto server = std::make_unique<ServerProcess>();
    std::string error;
    EXPECT_TRUE(server->Start({"--dev-insecure", "--dev-identity", "--demo-tenant",
                               "--heartbeat-seconds", "1", "--store", store},
                              &error))
        << error;
    return server;
  }

  // Four devices syncing on `address` until each has synced `rounds` more
  // times; the fleet keeps running.
  void AddDevices(DeviceFleet* fleet, const std::string& address) {
    const char* users[] = {"alice", "bob", "alice", "bob"};
    for (int i = 0; i < 4; ++i) {
      const std::string user = users[i];
      fleet->Add(Device(user, user + "-device-" + std::to_string(i), 700 + i),
                 [address] { return address; });
    }
  }

  // Devices sync; the backup is taken (online); devices keep syncing;
  // everything stops; `restore` puts the backup back; --new-history; the
  // server starts again and the devices settle. `seq` reads the tenant's
  // sequence, to show the backup really was older.
  void BackupSyncRestore(const std::string& store, const std::function<void()>& backup,
                         const std::function<void()>& restore,
                         const std::function<int64_t()>& seq) {
    std::unique_ptr<ServerProcess> server = StartOn(store);
    ASSERT_TRUE(server && server->pid() > 0);
    DeviceFleet fleet;
    AddDevices(&fleet, server->address());
    fleet.Start();
    auto marks = fleet.Marks();
    ASSERT_TRUE(WaitFor([&] { return fleet.AllSyncedSince(marks, 2); }, seconds(60)));
    backup();
    const int64_t at_backup = seq();
    marks = fleet.Marks();
    ASSERT_TRUE(WaitFor([&] { return fleet.AllSyncedSince(marks, 3); }, seconds(60)))
        << "devices did not sync after the backup";
    fleet.Stop();
    ASSERT_EQ(server->Stop(SIGTERM), 0) << server->Output();
    const int64_t before_restore = seq();
    ASSERT_GT(before_restore, at_backup) << "no acknowledged work after the backup";

    restore();
    EXPECT_LT(seq(), before_restore) << "the restored store should be older";
    std::string out;
    ASSERT_EQ(RunCommand({CRMSYNC_SYNCD_PATH, "--store", store, "--new-history"}, &out), 0) << out;
    server = StartOn(store);
    ASSERT_TRUE(server && server->pid() > 0);
    const SettleReport report = SettleAndCheck(fleet.workers(), server->address(), "", 0,
                                               /*exactly_once=*/false);
    std::printf(
        "[figures] online backup at sequence %lld, %lld changes acknowledged after it and "
        "lost by the restore; %s; %lld records checked after recovery\n",
        static_cast<long long>(at_backup), static_cast<long long>(before_restore - at_backup),
        fleet.Figures().c_str(), static_cast<long long>(report.records_checked));
  }
};

TEST_F(BackupTest, PostgresOnlineDumpRestoredDevicesResendWhatItMissed) {
  auto cluster = PgCluster::StartLocal();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto conninfo = (*cluster)->NewSchema("backup");
  ASSERT_TRUE(conninfo.ok()) << conninfo.status();
  conninfo_ = *conninfo;
  const std::string schema_opt = "search_path=";
  const size_t at = conninfo_.find(schema_opt);
  ASSERT_NE(at, std::string::npos) << conninfo_;
  const std::string schema =
      conninfo_.substr(at + schema_opt.size(), conninfo_.find('\'', at) - at - schema_opt.size());
  const std::string dump = dir_ + "/crmsync.dump";
  BackupSyncRestore(
      "postgres:" + conninfo_,
      [&] {
        std::string out;
        ASSERT_EQ(RunCommand({std::string(kPgBin) + "/pg_dump", "-Fc", "-n", schema, "-f", dump,
                              "-d", conninfo_},
                             &out),
                  0)
            << out;
      },
      [&] {
        std::string out;
        ASSERT_EQ(RunCommand({std::string(kPgBin) + "/pg_restore", "--clean", "--if-exists",
                              "--exit-on-error", "-d", conninfo_, dump},
                             &out),
                  0)
            << out;
      },
      [&] { return TenantSeq(); });
}

TEST_F(BackupTest, SqliteOnlineBackupRestoredDevicesResendWhatItMissed) {
  const std::string db = dir_ + "/crmsync.db";
  const std::string backup = dir_ + "/backup.db";
  auto seq = [&]() -> int64_t {
    std::string out;
    if (RunCommand({"/usr/bin/sqlite3", db,
                    "SELECT latest_seq FROM tenant_seq WHERE tenant_id = 't-demo'"},
                   &out) != 0) {
      ADD_FAILURE() << out;
      return -1;
    }
    return std::atoll(out.c_str());
  };
  BackupSyncRestore(
      "sqlite:" + db,
      [&] {
        std::string out;
        ASSERT_EQ(RunCommand({"/usr/bin/sqlite3", db, ".backup '" + backup + "'"}, &out), 0) << out;
      },
      [&] {
        for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db + suffix);
        fs::copy_file(backup, db);
      },
      seq);
}

}  // namespace
}  // namespace crmsync::testing
