// crm-syncd on PostgreSQL as operators run it: health follows the database
// (NOT_SERVING while it is down, SERVING again once it is back), clients get
// UNAVAILABLE without the database's address, the connections carry
// application_name, and the password can come from a file.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <pqxx/pqxx>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "pg_cluster.h"
#include "server_process.h"
#include "sync_client.h"

namespace crmsync::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using HealthStatus = grpc::health::v1::HealthCheckResponse;

HealthStatus::ServingStatus Health(const std::string& address) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest req;
  HealthStatus resp;
  if (!stub->Check(&ctx, req, &resp).ok()) return HealthStatus::UNKNOWN;
  return resp.status();
}

int Healthz(int metrics_port) {
  httplib::Client http("127.0.0.1", metrics_port);
  auto res = http.Get("/healthz");
  return res ? res->status : -1;
}

class StoreOutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = PgCluster::StartLocal();  // stopped and started by the tests
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    auto conninfo = cluster_->NewSchema("outage");
    ASSERT_TRUE(conninfo.ok()) << conninfo.status();
    conninfo_ = *conninfo;
  }
  void TearDown() override { RemoveTree(dir_); }

  std::unique_ptr<PgCluster> cluster_;
  std::string conninfo_;
  std::string dir_ = MakeTempDir("crmsync-outage-test-");
};

TEST_F(StoreOutageTest, HealthFollowsTheDatabaseAndClientsNeverSeeItsAddress) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(
      server.Start({"--dev-insecure", "--dev-identity", "--demo-tenant", "--password-memory-kib",
                    "64", "--health-check-seconds", "1", "--store", "postgres:" + conninfo_},
                   &error))
      << error;
  EXPECT_EQ(Health(server.address()), HealthStatus::SERVING);
  EXPECT_EQ(Healthz(server.metrics_port()), 200);
  DevSyncClient phone(server.address(), "demo", "alice", "alice-phone");
  v1::PullRequest pull;
  pull.mutable_client()->set_protocol_version(1);
  v1::PullResponse page;
  ASSERT_TRUE(phone.Pull(pull, &page).ok());

  ASSERT_TRUE(cluster_->StopServer("fast").ok());
  EXPECT_TRUE(Eventually([&] { return Health(server.address()) == HealthStatus::NOT_SERVING; }))
      << server.Output();
  EXPECT_EQ(Healthz(server.metrics_port()), 503);

  grpc::Status down = phone.Pull(pull, &page);
  EXPECT_EQ(down.error_code(), grpc::StatusCode::UNAVAILABLE) << down.error_message();
  const std::string port = std::to_string(cluster_->port());
  EXPECT_THAT(down.error_message(), Not(HasSubstr(port)));
  EXPECT_THAT(down.error_message(), Not(HasSubstr("127.0.0.1")));
  EXPECT_THAT(down.error_message(), HasSubstr("retry later"));
  // The operator finds the database's own words in the log.
  EXPECT_THAT(server.Output(), HasSubstr(port));
  EXPECT_THAT(server.Output(), HasSubstr("health NOT_SERVING"));

  ASSERT_TRUE(cluster_->StartServer().ok());
  EXPECT_TRUE(Eventually([&] { return Health(server.address()) == HealthStatus::SERVING; }))
      << server.Output();
  EXPECT_EQ(Healthz(server.metrics_port()), 200);
  EXPECT_TRUE(Eventually([&] { return phone.Pull(pull, &page).ok(); }));
}

TEST_F(StoreOutageTest, ConnectionsAreNamedAndThePasswordComesFromAFile) {
  const std::string password = "s3cret with 'quotes' \\ and spaces";
  {
    pqxx::connection admin("host=127.0.0.1 port=" + std::to_string(cluster_->port()) +
                           " user=postgres dbname=postgres");
    pqxx::nontransaction tx(admin);
    tx.exec0("ALTER ROLE crmsync_test PASSWORD " + tx.quote(password));
    // The test role must now authenticate with its password over TCP.
    const std::string hba = cluster_->dir() + "/data/pg_hba.conf";
    std::ifstream in(hba);
    std::string rest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(hba, std::ios::trunc) << "host all crmsync_test 127.0.0.1/32 scram-sha-256\n"
                                        << rest;
    tx.exec("SELECT pg_reload_conf()");
  }
  // The postmaster applies pg_hba.conf asynchronously: wait until a
  // password-less connection is refused.
  ASSERT_TRUE(Eventually([&] {
    try {
      pqxx::connection probe(conninfo_);
      return false;
    } catch (const std::exception&) {
      return true;
    }
  }));
  const std::string base = "postgres:" + conninfo_;

  ServerProcess without;
  std::string error;
  EXPECT_FALSE(without.Start({"--dev-insecure", "--store", base}, &error));
  EXPECT_EQ(without.exit_code(), 1);
  EXPECT_THAT(error, HasSubstr("password"));

  const std::string file = dir_ + "/pgpass";
  std::ofstream(file) << password << "\n";
  ServerProcess server;
  ASSERT_TRUE(
      server.Start({"--dev-insecure", "--store", base, "--store-password-file", file}, &error))
      << error;
  EXPECT_EQ(Health(server.address()), HealthStatus::SERVING);
  EXPECT_THAT(server.Output(), Not(HasSubstr(password)));

  pqxx::connection admin("host=127.0.0.1 port=" + std::to_string(cluster_->port()) +
                         " user=postgres dbname=postgres");
  pqxx::nontransaction tx(admin);
  auto named = tx.exec1(
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'crm-syncd' AND "
      "usename = 'crmsync_test'");
  EXPECT_GE(named[0].as<int>(), 1);
}

}  // namespace
}  // namespace crmsync::testing
