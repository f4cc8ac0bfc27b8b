// crm-syncd run the way an operator runs it: a second instance on a busy
// address or on the same SQLite file, the store file's permissions, unknown
// configuration settings, usage errors, --version on every binary, and
// SIGHUP reloading certificates, log level and policies without a restart.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "server_process.h"

namespace crmsync::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using HealthStatus = grpc::health::v1::HealthCheckResponse;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

void CopyFile(const std::string& from, const std::string& to) { WriteFile(to, ReadFile(from)); }

// Health of the whole server as seen by a client trusting `ca_pem` (TLS)
// or over plaintext when `ca_pem` is empty. `ok` is false when the call
// failed (for instance: TLS handshake refused).
HealthStatus::ServingStatus Health(const std::string& address, const std::string& ca_pem,
                                   bool* ok) {
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!ca_pem.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca_pem;
    creds = grpc::SslCredentials(ssl);
  }
  // A channel of its own per call: a TLS handshake happens every time.
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  auto channel = grpc::CreateCustomChannel(address, creds, args);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest req;
  HealthStatus resp;
  grpc::Status status = stub->Check(&ctx, req, &resp);
  *ok = status.ok();
  return resp.status();
}

// Sets TMPDIR (which child processes inherit) for a scope.
class ScopedTmpdir {
 public:
  explicit ScopedTmpdir(const std::string& dir) {
    if (const char* v = std::getenv("TMPDIR")) saved_ = v;
    ::setenv("TMPDIR", dir.c_str(), 1);
  }
  ~ScopedTmpdir() {
    if (saved_) {
      ::setenv("TMPDIR", saved_->c_str(), 1);
    } else {
      ::unsetenv("TMPDIR");
    }
  }
  ScopedTmpdir(const ScopedTmpdir&) = delete;
  ScopedTmpdir& operator=(const ScopedTmpdir&) = delete;

 private:
  std::optional<std::string> saved_;
};

class OperatorTest : public ::testing::Test {
 protected:
  void TearDown() override { RemoveTree(dir_); }
  void MakeCerts(const std::string& name) {
    std::string out;
    ASSERT_EQ(
        RunCommand({"/bin/bash", std::string(CRMSYNC_SOURCE_DIR) + "/deploy/make-dev-certs.sh",
                    dir_ + "/" + name},
                   &out),
        0)
        << out;
  }
  std::string dir_ = MakeTempDir("crmsync-operator-test-");
};

TEST_F(OperatorTest, SecondServerOnTheSameAddressRefusesToStartNamingIt) {
  ServerProcess first;
  std::string error;
  ASSERT_TRUE(first.Start({"--dev-insecure", "--store", "sqlite:" + dir_ + "/a.db"}, &error))
      << error;

  ServerProcess second;
  second.set_listen(first.address());
  EXPECT_FALSE(second.Start({"--dev-insecure", "--store", "sqlite:" + dir_ + "/b.db"}, &error,
                            std::chrono::seconds(20)))
      << "a second crm-syncd served on " << first.address() << " beside the first";
  EXPECT_EQ(second.exit_code(), 1);
  EXPECT_THAT(error, HasSubstr("cannot listen on " + first.address()));

  bool ok = false;
  EXPECT_EQ(Health(first.address(), "", &ok), HealthStatus::SERVING);
  EXPECT_TRUE(ok);
}

TEST_F(OperatorTest, SecondServerOnTheSameSqliteFileRefusesToStart) {
  const std::string store = "sqlite:" + dir_ + "/crm.db";
  ServerProcess first;
  std::string error;
  ASSERT_TRUE(first.Start({"--dev-insecure", "--store", store}, &error)) << error;

  ServerProcess second;
  EXPECT_FALSE(second.Start({"--dev-insecure", "--store", store}, &error, std::chrono::seconds(20)))
      << "a second crm-syncd served the same SQLite file";
  EXPECT_EQ(second.exit_code(), 1);
  EXPECT_THAT(error, HasSubstr("in use by another crm-syncd"));
  EXPECT_THAT(error, HasSubstr("PostgreSQL"));

  // --new-history must not rewrite a store a server is using either.
  std::string out;
  EXPECT_EQ(RunCommand({CRMSYNC_SYNCD_PATH, "--store", store, "--new-history"}, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("in use by another crm-syncd"));

  // Once the first has stopped, the file is free again.
  ASSERT_EQ(WEXITSTATUS(first.Stop(SIGTERM)), 0);
  ServerProcess third;
  EXPECT_TRUE(third.Start({"--dev-insecure", "--store", store}, &error)) << error;
}

// The migration step of a rollout (or a Kubernetes Job): migrates an empty
// store to this build's version, says so, and exits without serving; run
// again it changes nothing; it needs no TLS settings.
TEST_F(OperatorTest, MigrateOnlyMigratesAndExits) {
  const std::string db = dir_ + "/crm.db";
  std::string out;
  ASSERT_EQ(RunCommand({CRMSYNC_SYNCD_PATH, "--store", "sqlite:" + db, "--migrate-only"}, &out), 0)
      << out;
  EXPECT_TRUE(std::regex_search(
      out, std::regex(R"(store schema at version ([0-9]+) \(was 0; this build's newest is \1\))")))
      << out;
  ASSERT_EQ(RunCommand({CRMSYNC_SYNCD_PATH, "--store", "sqlite:" + db, "--migrate-only"}, &out), 0)
      << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(store schema at version ([0-9]+) \(was \1;)")))
      << "nothing to do the second time: " << out;
  EXPECT_EQ(
      RunCommand({CRMSYNC_SYNCD_PATH, "--store", "sqlite:" + db, "--migrate-only", "--new-history"},
                 &out),
      2)
      << "one action at a time: " << out;
  EXPECT_THAT(out, HasSubstr("excludes"));
}

TEST_F(OperatorTest, StoreFileAndItsWalAreReadableByTheOwnerOnly) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--dev-insecure", "--store", "sqlite:" + dir_ + "/crm.db"}, &error))
      << error;
  for (const char* file : {"/crm.db", "/crm.db-wal", "/crm.db-shm"}) {
    struct stat st {};
    ASSERT_EQ(::stat((dir_ + file).c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << file << " has mode " << std::oct << (st.st_mode & 0777);
  }
}

TEST_F(OperatorTest, UnknownConfigSettingsAndSectionsAreRefusedByName) {
  WriteFile(dir_ + "/crm.toml",
            "dev-insecure = true\nlistn = \"127.0.0.1:7\"\n[server]\nlisten = \"127.0.0.1:8\"\n");
  std::string out;
  EXPECT_EQ(RunCommand({CRMSYNC_SYNCD_PATH, "--config", dir_ + "/crm.toml"}, &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("'listn'"));
  EXPECT_THAT(out, HasSubstr("'server.listen'"));
  EXPECT_THAT(out, Not(HasSubstr("'dev-insecure'")));
}

TEST_F(OperatorTest, EveryUsageOrConfigurationErrorExitsTwo) {
  const std::vector<std::vector<std::string>> bad = {
      {"--no-such-flag"},
      {"--dev-insecure", "--max-batch", "lots"},
      {"--dev-insecure", "--max-batch", "0"},
      {"--dev-insecure", "--log-level", "loud"},
      {"--dev-insecure", "--listen"},
      {"--dev-insecure", "--store", "mysql:db"},
      {"--dev-insecure", "--store-password-file", dir_ + "/missing", "--store", "postgres:x"},
      {"--dev-insecure", "--config", dir_ + "/missing.toml"},
      {"positional"},
  };
  for (const auto& args : bad) {
    std::vector<std::string> argv = {CRMSYNC_SYNCD_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out;
    EXPECT_EQ(RunCommand(argv, &out), 2) << ::testing::PrintToString(args) << ": " << out;
  }
}

TEST_F(OperatorTest, EveryBinaryPrintsItsVersionRevisionAndProtocolRange) {
  for (const auto& [binary, name] :
       std::vector<std::pair<std::string, std::string>>{{CRMSYNC_SYNCD_PATH, "crm-syncd"},
                                                        {CRMSYNC_CRMCTL_PATH, "crmctl"},
                                                        {CRMSYNC_CRM_DEVICE_PATH, "crm-device"},
                                                        {CRMSYNC_CRM_SIM_PATH, "crm-sim"}}) {
    std::string out;
    EXPECT_EQ(RunCommand({binary, "--version"}, &out), 0) << name << ": " << out;
    EXPECT_THAT(out, ::testing::MatchesRegex(name + " [0-9]+\\.[0-9]+\\.[0-9]+ \\(git [^)]+\\)\n"
                                                    "sync protocol versions [0-9]+-[0-9]+\n"))
        << name;
  }
}

// Certificate rotation: the files behind --tls-cert/--tls-key are replaced
// by a certificate of another CA and SIGHUP sent; new connections get the
// new certificate, and the server never stopped. A broken file and SIGHUP
// then keep the certificate in use.
TEST_F(OperatorTest, SighupRotatesTheCertificateAndAFailedReloadKeepsTheOld) {
  MakeCerts("old");
  MakeCerts("new");
  const std::string cert = dir_ + "/server.pem", key = dir_ + "/server.key";
  CopyFile(dir_ + "/old/server.pem", cert);
  CopyFile(dir_ + "/old/server.key", key);
  const std::string old_ca = ReadFile(dir_ + "/old/ca.pem");
  const std::string new_ca = ReadFile(dir_ + "/new/ca.pem");

  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--tls-cert", cert, "--tls-key", key, "--token-key",
                            dir_ + "/old/token.key", "--store", "sqlite:" + dir_ + "/crm.db"},
                           &error))
      << error;
  bool ok = false;
  EXPECT_EQ(Health(server.address(), old_ca, &ok), HealthStatus::SERVING);
  EXPECT_TRUE(ok);
  Health(server.address(), new_ca, &ok);
  EXPECT_FALSE(ok) << "a client trusting only the new CA was served before the rotation";

  CopyFile(dir_ + "/new/server.pem", cert);
  CopyFile(dir_ + "/new/server.key", key);
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  EXPECT_TRUE(Eventually([&] {
    bool served = false;
    return Health(server.address(), new_ca, &served) == HealthStatus::SERVING && served;
  })) << server.Output();
  Health(server.address(), old_ca, &ok);
  EXPECT_FALSE(ok) << "the old certificate is still served after the reload";
  EXPECT_THAT(server.Output(), HasSubstr("reload: TLS certificate"));

  // A half-written certificate: the reload fails, the new one stays.
  WriteFile(cert, "-----BEGIN CERTIFICATE-----\ntruncated");
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  EXPECT_TRUE(Eventually([&] {
    return server.Output().find("kept the previous TLS certificate") != std::string::npos;
  })) << server.Output();
  EXPECT_EQ(Health(server.address(), new_ca, &ok), HealthStatus::SERVING);
  EXPECT_TRUE(ok);

  EXPECT_EQ(WEXITSTATUS(server.Stop(SIGTERM)), 0) << server.Output();
}

// The TLS staging directory (a copy of the private key) of a crm-syncd that
// was killed is removed by the next crm-syncd started with the same
// temporary directory; one of a process still running stays, and a server
// stopped normally leaves none.
TEST_F(OperatorTest, TlsFilesOfAKilledServerAreRemovedByTheNextOne) {
  MakeCerts("certs");
  const std::string c = dir_ + "/certs/", tmp = dir_ + "/tmp";
  ASSERT_TRUE(std::filesystem::create_directory(tmp));
  ScopedTmpdir scoped_tmpdir(tmp);  // for the servers started below
  auto staging_dirs = [&] {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(tmp)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("crm-syncd-tls-", 0) == 0) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
  };
  const std::vector<std::string> args = {
      "--tls-cert",  c + "server.pem", "--tls-key", c + "server.key",
      "--token-key", c + "token.key",  "--store",   "sqlite:" + dir_ + "/crm.db"};
  // Another user's process or a live one: a directory named after this
  // test's own pid must stay.
  const std::string live = "crm-syncd-tls-" + std::to_string(::getpid()) + "-kept00";
  ASSERT_TRUE(std::filesystem::create_directory(tmp + "/" + live));

  std::string error;
  std::vector<std::string> killed_dirs;
  {
    ServerProcess killed;
    ASSERT_TRUE(killed.Start(args, &error)) << error;
    const std::string prefix = "crm-syncd-tls-" + std::to_string(killed.pid()) + "-";
    killed.Stop(SIGKILL);
    for (const std::string& name : staging_dirs()) {
      if (name.rfind(prefix, 0) == 0) killed_dirs.push_back(name);
    }
    ASSERT_EQ(killed_dirs.size(), 1u) << "the killed server left no staging directory";
    EXPECT_TRUE(std::filesystem::exists(tmp + "/" + killed_dirs[0] + "/current/key.pem"));
  }

  ServerProcess next;
  ASSERT_TRUE(next.Start(args, &error)) << error;
  const std::string own = "crm-syncd-tls-" + std::to_string(next.pid()) + "-";
  std::vector<std::string> now = staging_dirs();
  EXPECT_THAT(now, Not(::testing::Contains(killed_dirs[0])));
  EXPECT_THAT(now, ::testing::Contains(live));
  ASSERT_EQ(now.size(), 2u) << ::testing::PrintToString(now);
  const std::string& other = now[0] == live ? now[1] : now[0];
  EXPECT_EQ(other.rfind(own, 0), 0u) << other;
  EXPECT_THAT(next.Output(),
              HasSubstr("removed 1 TLS staging directory left by crm-syncd processes"));
  bool ok = false;
  EXPECT_EQ(Health(next.address(), ReadFile(c + "ca.pem"), &ok), HealthStatus::SERVING);
  EXPECT_TRUE(ok);

  EXPECT_EQ(WEXITSTATUS(next.Stop(SIGTERM)), 0) << next.Output();
  EXPECT_EQ(staging_dirs(), std::vector<std::string>{live});
}

TEST_F(OperatorTest, SighupReloadsLogLevelAndPoliciesFromTheConfigFile) {
  const std::string config = dir_ + "/crm.toml", policies = dir_ + "/policies.txt";
  WriteFile(policies, "opportunity.amount = manual\n");
  WriteFile(config, "dev-insecure = true\nlog-level = \"info\"\npolicy-file = \"" + policies +
                        "\"\nstore = \"sqlite:" + dir_ + "/crm.db\"\n");
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--config", config}, &error)) << error;

  WriteFile(config, "dev-insecure = true\nlog-level = \"debug\"\npolicy-file = \"" + policies +
                        "\"\nstore = \"sqlite:" + dir_ + "/crm.db\"\nworker-threads = 3\n");
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  ASSERT_TRUE(Eventually([&] {
    return server.Output().find("reload finished") != std::string::npos;
  })) << server.Output();
  EXPECT_THAT(server.Output(), HasSubstr("reload: log level debug (was info)"));
  EXPECT_THAT(server.Output(), HasSubstr("reload: conflict policies from " + policies));
  EXPECT_THAT(server.Output(), HasSubstr("only after a restart: worker-threads"));

  // A policy file that no longer parses keeps the previous policies.
  WriteFile(policies, "opportunity.amount = sometimes\n");
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  ASSERT_TRUE(Eventually([&] {
    return server.Output().find("kept the previous conflict policies") != std::string::npos;
  })) << server.Output();

  // A config file that no longer parses changes nothing.
  WriteFile(config, "dev-insecure = true\nlistn = 1\n");
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  ASSERT_TRUE(Eventually([&] {
    return server.Output().find("no longer parses") != std::string::npos;
  })) << server.Output();
  bool ok = false;
  EXPECT_EQ(Health(server.address(), "", &ok), HealthStatus::SERVING);
  EXPECT_TRUE(ok);
  EXPECT_EQ(WEXITSTATUS(server.Stop(SIGTERM)), 0) << server.Output();
}

// A store terminal on a server that requires client certificates: the till
// syncs with its certificate and API key through crm-device; without the
// certificate it is refused; crmctl presents one too.
TEST_F(OperatorTest, TillSyncsOverMutualTlsAndClientsWithoutACertificateAreRefused) {
  MakeCerts("certs");
  const std::string c = dir_ + "/certs/";
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start(
      {"--tls-cert", c + "server.pem", "--tls-key", c + "server.key", "--tls-client-ca",
       c + "ca.pem", "--token-key", c + "token.key", "--demo-tenant", "--password-memory-kib", "64",
       "--store", "sqlite:" + dir_ + "/crm.db"},
      &error))
      << error;
  const std::vector<std::string> till = {CRMSYNC_CRM_DEVICE_PATH,
                                         "--server",
                                         server.address(),
                                         "--ca",
                                         c + "ca.pem",
                                         "--tenant",
                                         "demo",
                                         "--user",
                                         "till-paris",
                                         "--api-key",
                                         "crmk.demo-till.demo-till-secret-not-for-production",
                                         "--db",
                                         dir_ + "/till.db"};
  auto run = [&](std::vector<std::string> argv, const std::vector<std::string>& more,
                 std::string* out) {
    argv.insert(argv.end(), more.begin(), more.end());
    return RunCommand(argv, out);
  };
  std::string out;
  EXPECT_NE(run(till, {"sync"}, &out), 0) << "synced without a client certificate: " << out;
  EXPECT_EQ(
      run(till, {"--client-cert", c + "terminal.pem", "--client-key", c + "terminal.key", "sync"},
          &out),
      0)
      << out;
  EXPECT_EQ(run(till,
                {"--client-cert", c + "terminal.pem", "--client-key", c + "terminal.key", "list",
                 "coupon"},
                &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("coupon-welcome")) << out;
  EXPECT_EQ(run(till, {"--client-cert", c + "terminal.pem", "sync"}, &out), 2)
      << "a certificate without its key is a usage error: " << out;

  const std::vector<std::string> crmctl = {
      CRMSYNC_CRMCTL_PATH, "--config", dir_ + "/crmctl.toml", "--server",
      server.address(),    "--ca",     c + "ca.pem"};
  std::string login_out;
  const std::string login = "printf 'admin-demo-password\\n' | ";
  auto crmctl_line = [&](const std::string& extra) {
    std::string line = login;
    for (const auto& a : crmctl) line += "'" + a + "' ";
    return line + extra + " login --tenant demo --user admin --password-stdin";
  };
  EXPECT_EQ(RunCommand({"/bin/sh", "-c", crmctl_line("")}, &login_out), 3) << login_out;
  EXPECT_EQ(RunCommand({"/bin/sh", "-c",
                        crmctl_line("--client-cert '" + c + "terminal.pem' --client-key '" + c +
                                    "terminal.key'")},
                       &login_out),
            0)
      << login_out;
}

}  // namespace
}  // namespace crmsync::testing
