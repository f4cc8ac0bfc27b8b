// Starts the real crm-syncd and talks to it over gRPC: health checking,
// server reflection, TLS, flag validation and clean shutdown.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "server_process.h"

namespace crmsync::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsSupersetOf;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

grpc::health::v1::HealthCheckResponse::ServingStatus CheckHealth(
    const std::shared_ptr<grpc::Channel>& channel, grpc::Status* status_out) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest req;  // empty service = the whole server
  grpc::health::v1::HealthCheckResponse resp;
  *status_out = stub->Check(&ctx, req, &resp);
  return resp.status();
}

class SyncdProcessTest : public ::testing::Test {
 protected:
  void TearDown() override { RemoveTree(dir_); }
  std::string dir_ = MakeTempDir("crmsync-syncd-test-");
};

TEST_F(SyncdProcessTest, PlaintextDevServerReportsServingAndStopsOnSigterm) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--dev-insecure", "--store", "sqlite:" + dir_ + "/crm.db"}, &error))
      << error;
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  grpc::Status status;
  EXPECT_EQ(CheckHealth(channel, &status), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_TRUE(status.ok()) << status.error_message();

  int exit_status = server.Stop(SIGTERM);
  ASSERT_NE(exit_status, -1) << "crm-syncd did not stop on SIGTERM";
  EXPECT_TRUE(WIFEXITED(exit_status));
  EXPECT_EQ(WEXITSTATUS(exit_status), 0);
  EXPECT_THAT(server.Output(), HasSubstr("received SIGTERM"));
  EXPECT_THAT(server.Output(), HasSubstr("stopped"));
}

TEST_F(SyncdProcessTest, StopsCleanlyOnSigint) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--dev-insecure", "--store", "sqlite:" + dir_ + "/crm.db"}, &error))
      << error;
  int exit_status = server.Stop(SIGINT);
  ASSERT_NE(exit_status, -1);
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0);
}

TEST_F(SyncdProcessTest, ServesReflectionListingHealthService) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--dev-insecure", "--store", "sqlite:" + dir_ + "/crm.db"}, &error))
      << error;
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto stream = stub->ServerReflectionInfo(&ctx);
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  req.set_list_services("*");
  ASSERT_TRUE(stream->Write(req));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::vector<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.push_back(s.name());
  EXPECT_THAT(names,
              IsSupersetOf({"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(SyncdProcessTest, TlsServerReportsServingToClientTrustingItsCa) {
  std::string out;
  ASSERT_EQ(RunCommand({"/bin/bash", std::string(CRMSYNC_SOURCE_DIR) + "/deploy/make-dev-certs.sh",
                        dir_ + "/certs"},
                       &out),
            0)
      << out;
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start(
      {"--tls-cert", dir_ + "/certs/server.pem", "--tls-key", dir_ + "/certs/server.key",
       "--token-key", dir_ + "/certs/token.key", "--store", "sqlite:" + dir_ + "/crm.db"},
      &error))
      << error;
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(dir_ + "/certs/ca.pem");
  auto channel = grpc::CreateChannel(server.address(), grpc::SslCredentials(ssl));
  grpc::Status status;
  EXPECT_EQ(CheckHealth(channel, &status), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_TRUE(status.ok()) << status.error_message();

  // A plaintext client cannot talk to the TLS listener.
  auto plain = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  grpc::Status plain_status;
  CheckHealth(plain, &plain_status);
  EXPECT_FALSE(plain_status.ok());
}

TEST_F(SyncdProcessTest, MutualTlsRejectsClientWithoutCertificate) {
  std::string out;
  ASSERT_EQ(RunCommand({"/bin/bash", std::string(CRMSYNC_SOURCE_DIR) + "/deploy/make-dev-certs.sh",
                        dir_ + "/certs"},
                       &out),
            0)
      << out;
  ServerProcess server;
  std::string error;
  const std::string c = dir_ + "/certs/";
  ASSERT_TRUE(server.Start(
      {"--tls-cert", c + "server.pem", "--tls-key", c + "server.key", "--tls-client-ca",
       c + "ca.pem", "--token-key", c + "token.key", "--store", "sqlite:" + dir_ + "/db"},
      &error))
      << error;
  grpc::SslCredentialsOptions anonymous;
  anonymous.pem_root_certs = ReadFile(c + "ca.pem");
  grpc::Status status;
  CheckHealth(grpc::CreateChannel(server.address(), grpc::SslCredentials(anonymous)), &status);
  EXPECT_FALSE(status.ok()) << "mTLS server accepted a client without a certificate";

  grpc::SslCredentialsOptions terminal = anonymous;
  terminal.pem_cert_chain = ReadFile(c + "terminal.pem");
  terminal.pem_private_key = ReadFile(c + "terminal.key");
  EXPECT_EQ(
      CheckHealth(grpc::CreateChannel(server.address(), grpc::SslCredentials(terminal)), &status),
      grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST(SyncdFlagsTest, RefusesToStartWithoutTlsOrDevFlag) {
  std::string out;
  EXPECT_EQ(RunCommand({CRMSYNC_SYNCD_PATH, "--listen", "127.0.0.1:0"}, &out), 2);
  EXPECT_THAT(out, HasSubstr("TLS is required"));
}

TEST(SyncdFlagsTest, RefusesPlaintextOnNonLoopbackAddress) {
  std::string out;
  EXPECT_EQ(RunCommand({CRMSYNC_SYNCD_PATH, "--dev-insecure", "--listen", "0.0.0.0:0"}, &out), 2);
  EXPECT_THAT(out, HasSubstr("only allowed on a loopback address"));
}

TEST(SyncdFlagsTest, RejectsUnknownStoreKind) {
  std::string out;
  EXPECT_EQ(RunCommand({CRMSYNC_SYNCD_PATH, "--dev-insecure", "--store", "mysql:x"}, &out), 2);
  EXPECT_THAT(out, HasSubstr("unknown store kind 'mysql'"));
}

TEST(SyncdFlagsTest, HelpDocumentsEveryFlagAndExitsZero) {
  std::string out;
  EXPECT_EQ(RunCommand({CRMSYNC_SYNCD_PATH, "--help"}, &out), 0);
  for (const char* flag :
       {"--listen", "--store", "--demo-tenant", "--tls-cert", "--tls-key", "--tls-client-ca",
        "--dev-insecure", "--log-level", "--log-format", "--max-message-bytes",
        "--shutdown-grace-seconds", "--ready-file", "--config"}) {
    EXPECT_THAT(out, HasSubstr(flag));
  }
}

TEST(SyncdFlagsTest, ReadsSettingsFromConfigFileAndEnvironment) {
  std::string dir = MakeTempDir("crmsync-cfg-");
  {
    std::ofstream cfg(dir + "/crm.toml");
    cfg << "listen = \"0.0.0.0:0\"\ndev-insecure = true\n";
  }
  std::string out;
  // The file's non-loopback listen address must be refused for plaintext.
  EXPECT_EQ(RunCommand({CRMSYNC_SYNCD_PATH, "--config", dir + "/crm.toml"}, &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("--listen 0.0.0.0:0"));
  RemoveTree(dir);
}

}  // namespace
}  // namespace crmsync::testing
