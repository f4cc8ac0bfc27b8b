// The fixture shared by the crash and network-fault tests: a working
// directory kept on failure (device stores and crm-device output), a
// PostgreSQL schema, crm-syncd processes and device workers on them.
#ifndef CRMSYNC_TESTS_INTEGRATION_FAULT_TEST_BASE_H_
#define CRMSYNC_TESTS_INTEGRATION_FAULT_TEST_BASE_H_

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

#include "device_worker.h"
#include "fault_checks.h"
#include "pg_cluster.h"
#include "server_process.h"

namespace crmsync::testing {

// The demo tenant's id (crm-syncd --demo-tenant).
inline constexpr char kDemoTenantId[] = "t-demo";

class FaultTestBase : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("crmsync-fault-");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    if (HasFailure()) {
      std::printf("device stores and crm-device output kept in %s\n", dir_.c_str());
    } else {
      RemoveTree(dir_);
    }
  }

  // A schema in the binary's shared cluster (PgClusterEnvironment must be
  // registered by the test binary).
  void UseSharedCluster() {
    auto cluster = PgClusterEnvironment::Instance()->Cluster();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    auto conninfo =
        (*cluster)->NewSchema(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(conninfo.ok()) << conninfo.status();
    conninfo_ = *conninfo;
  }

  // crm-syncd on conninfo_ with the demo tenant, development identity and
  // 1 s heartbeats.
  std::unique_ptr<ServerProcess> StartServer() {
    auto server = std::make_unique<ServerProcess>();
    std::string error;
    EXPECT_TRUE(server->Start({"--dev-insecure", "--dev-identity", "--demo-tenant",
                               "--heartbeat-seconds", "1", "--store", "postgres:" + conninfo_},
                              &error))
        << error;
    return server;
  }

  // A device worker with its store in dir_.
  std::unique_ptr<DeviceWorker> Device(const std::string& user, const std::string& device,
                                       uint64_t seed) {
    DeviceIdentity id{user, device, dir_ + "/" + device + ".db", "key-" + device};
    return std::make_unique<DeviceWorker>(id, dir_, seed);
  }

  int64_t TenantSeq() {
    auto seq = ReadTenantSeq(conninfo_, kDemoTenantId);
    EXPECT_TRUE(seq.ok()) << seq.status();
    return seq.ok() ? *seq : -1;
  }

  std::string dir_;
  std::string conninfo_;
};

}  // namespace crmsync::testing

#endif  // CRMSYNC_TESTS_INTEGRATION_FAULT_TEST_BASE_H_
