// Starts the real crm-syncd and talks to it over gRPC: health checking,
// server reflection, TLS, flag validation and clean shutdown.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <set>
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
  // The environment wins over the file, the command line over both.
  ASSERT_EQ(setenv("CRMSYNC_LISTEN", "127.0.0.2:0", 1), 0);
  {
    std::ofstream cfg(dir + "/crm.toml");
    cfg << "listen = \"0.0.0.0:0\"\ndev-insecure = true\nlog-format = \"text\"\n";
  }
  ServerProcess server;
  std::string error;
  ASSERT_EQ(setenv("CRMSYNC_LOG_FORMAT", "json", 1), 0);
  const bool started =
      server.Start({"--config", dir + "/crm.toml", "--store", "sqlite:" + dir + "/crm.db"}, &error);
  unsetenv("CRMSYNC_LISTEN");
  unsetenv("CRMSYNC_LOG_FORMAT");
  // ServerProcess passes --listen 127.0.0.1:0, which wins over both.
  ASSERT_TRUE(started) << error;
  EXPECT_THAT(server.Output(), HasSubstr("log_format=json")) << server.Output();
  EXPECT_THAT(server.Output(), HasSubstr("listen=127.0.0.1:0"));
  server.Stop(SIGTERM);
  RemoveTree(dir);
}

// The notification socket systemd gives a Type=notify service
// (NOTIFY_SOCKET): a unix datagram socket; crm-syncd inherits its path.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    timeval tv{20, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  bool bound() const { return bound_; }
  // The next datagram ("" after 20 s without one).
  std::string Next() {
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

// Under systemd (Type=notify): READY=1 once serving, RELOADING=1 then
// READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM.
TEST_F(SyncdProcessTest, NotifiesSystemdWhenReadyReloadingAndStopping) {
  NotifySocket notify(dir_ + "/notify");
  ASSERT_TRUE(notify.bound());
  ASSERT_EQ(setenv("NOTIFY_SOCKET", (dir_ + "/notify").c_str(), 1), 0);
  ServerProcess server;
  std::string error;
  const bool started =
      server.Start({"--dev-insecure", "--store", "sqlite:" + dir_ + "/crm.db"}, &error);
  unsetenv("NOTIFY_SOCKET");
  ASSERT_TRUE(started) << error;
  std::string ready = notify.Next();
  EXPECT_THAT(ready, HasSubstr("READY=1"));
  EXPECT_THAT(ready, HasSubstr("MAINPID=" + std::to_string(server.pid())));
  EXPECT_THAT(ready, HasSubstr("STATUS=serving on port " + std::to_string(server.port())));
  ASSERT_EQ(kill(server.pid(), SIGHUP), 0);
  EXPECT_THAT(notify.Next(), HasSubstr("RELOADING=1"));
  EXPECT_THAT(notify.Next(), HasSubstr("READY=1"));
  ASSERT_EQ(kill(server.pid(), SIGTERM), 0);
  EXPECT_THAT(notify.Next(), HasSubstr("STOPPING=1"));
  int exit_status = server.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0) << server.Output();
}

// deploy/systemd/crm-syncd.service passes systemd's own checks (unit
// syntax, known settings, the commands exist), with ExecStart pointed at
// this build's crm-syncd.
TEST_F(SyncdProcessTest, SystemdUnitVerifies) {
  std::string unit = ReadFile(CRMSYNC_SOURCE_DIR "/deploy/systemd/crm-syncd.service");
  ASSERT_THAT(unit, HasSubstr("ExecStart=/usr/bin/crm-syncd "));
  ASSERT_THAT(unit, HasSubstr("Type=notify"));
  unit = std::regex_replace(unit, std::regex("/usr/bin/crm-syncd"), CRMSYNC_SYNCD_PATH);
  {
    std::ofstream out(dir_ + "/crm-syncd.service");
    out << unit;
  }
  std::string out;
  EXPECT_EQ(RunCommand({"/usr/bin/systemd-analyze", "verify", dir_ + "/crm-syncd.service"}, &out),
            0)
      << out;
  EXPECT_EQ(out, "") << "systemd-analyze verify has findings";
  // Hardening, as systemd scores it (0 = locked down, 10 = exposed).
  ASSERT_EQ(RunCommand({"/usr/bin/systemd-analyze", "security", "--offline=yes", "--threshold=20",
                        dir_ + "/crm-syncd.service"},
                       &out),
            0)
      << out;
  std::smatch level;
  ASSERT_TRUE(std::regex_search(out, level, std::regex(R"(exposure level for \S+: ([0-9.]+))")))
      << out;
  EXPECT_LE(std::stod(level[1]), 2.0) << out;
}

// deploy/crm-syncd.toml, the packaged /etc/crmsync/crm-syncd.toml: it names
// every setting of --help (set or commented out), and crm-syncd serves with
// it (paths overridden by flags, which win over the file).
TEST_F(SyncdProcessTest, ExampleConfigNamesEverySettingAndIsAccepted) {
  const std::string example = ReadFile(CRMSYNC_SOURCE_DIR "/deploy/crm-syncd.toml");
  ASSERT_FALSE(example.empty());
  std::string help;
  ASSERT_EQ(RunCommand({CRMSYNC_SYNCD_PATH, "--help"}, &help), 0);
  // Commands and meta flags are not settings.
  const std::set<std::string> not_settings = {"help", "config", "version", "new-history",
                                              "migrate-only"};
  std::regex flag(R"(^\s+(?:-\w,)?--([a-z0-9-]+))");
  int checked = 0;
  std::istringstream lines(help);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, flag) || not_settings.count(m[1]) > 0) continue;
    std::regex key("(^|\n)#? ?" + std::string(m[1]) + " = ");
    EXPECT_TRUE(std::regex_search(example, key)) << "deploy/crm-syncd.toml lacks " << m[1];
    ++checked;
  }
  EXPECT_GE(checked, 35);

  std::string make;
  ASSERT_EQ(RunCommand({CRMSYNC_SOURCE_DIR "/deploy/make-dev-certs.sh", dir_ + "/certs"}, &make), 0)
      << make;
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start(
      {"--config", CRMSYNC_SOURCE_DIR "/deploy/crm-syncd.toml", "--store",
       "sqlite:" + dir_ + "/crm.db", "--tls-cert", dir_ + "/certs/server.pem", "--tls-key",
       dir_ + "/certs/server.key", "--token-key", dir_ + "/certs/token.key"},
      &error))
      << error;
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFile(dir_ + "/certs/ca.pem");
  // By IP (the certificate names 127.0.0.1 too): no name lookup in the test.
  auto channel = grpc::CreateChannel(server.address(), grpc::SslCredentials(tls));
  grpc::Status status;
  EXPECT_EQ(CheckHealth(channel, &status), grpc::health::v1::HealthCheckResponse::SERVING)
      << status.error_message();
}

}  // namespace
}  // namespace crmsync::testing
