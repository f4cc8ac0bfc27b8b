// High availability with real processes on loopback:
//
//  - three crm-syncd on one PostgreSQL behind HAProxy, run with the shipped
//    deploy/haproxy/haproxy.cfg and its grpc.health.v1 check script; eight
//    devices (crm-device processes) sync through the proxy while one
//    instance is SIGKILLed and later restarted;
//  - PostgreSQL primary + synchronous streaming standby, two crm-syncd on a
//    multi-host connection string (target_session_attrs=read-write); the
//    primary is killed under load and the standby promoted.
//
// Afterwards (SettleAndCheck, device_worker.h): nothing a device committed
// is lost or applied twice, the feed grew by exactly the committed count,
// and every replica equals the server's records in its scope.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include <httplib.h>
#include "crmsync/v1/auth.grpc.pb.h"
#include "device_worker.h"
#include "fault_checks.h"
#include "fault_test_base.h"
#include "fault_test_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "pg_cluster.h"
#include "server_process.h"
#include "sync_client.h"

namespace crmsync::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using HealthStatus = grpc::health::v1::HealthCheckResponse;

::testing::Environment* const kPgEnvironment =
    ::testing::AddGlobalTestEnvironment(PgClusterEnvironment::Instance());

constexpr char kHaproxy[] = "/usr/sbin/haproxy";

HealthStatus::ServingStatus Health(const std::string& address) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + seconds(3));
  grpc::health::v1::HealthCheckRequest req;
  HealthStatus resp;
  if (!stub->Check(&ctx, req, &resp).ok()) return HealthStatus::UNKNOWN;
  return resp.status();
}

// What a test may change of the HAProxy below: the check script (the
// shipped one by default) and the interval (the config's default, or 6 s
// under the sanitizers).
struct HaproxyOptions {
  std::string check_script = CRMSYNC_SOURCE_DIR "/deploy/haproxy/crmsync-health-check";
  std::string check_interval;
};

// HAProxy running deploy/haproxy/haproxy.cfg unchanged: the settings go in
// through the environment, the health-check script is copied into a
// directory of its own next to a crmsync-check.toml that says `insecure`.
class Haproxy {
 public:
  ~Haproxy() { Stop(); }

  bool Start(const std::string& dir, const std::vector<std::string>& backends, std::string* error,
             const HaproxyOptions& options = HaproxyOptions()) {
    if (access(kHaproxy, X_OK) != 0) {
      *error = std::string(kHaproxy) + " not found: install haproxy (deploy/install-deps.sh)";
      return false;
    }
    const std::string check_dir = dir + "/haproxy";
    RemoveTree(check_dir);
    if (mkdir(check_dir.c_str(), 0755) != 0) {
      *error = "mkdir " + check_dir;
      return false;
    }
    const std::string check = check_dir + "/crmsync-health-check";
    std::string out;
    if (RunCommand({"/bin/cp", options.check_script, check}, &out) != 0) {
      *error = "copying the check script: " + out;
      return false;
    }
    std::ofstream(check_dir + "/crmsync-check.toml") << "insecure = true\n";
    port_ = FreeLoopbackPort();
    stats_ = check_dir + "/stats.sock";
    log_ = check_dir + "/haproxy.log";
    std::vector<std::string> env = {
        "CRMSYNC_LB_BIND=127.0.0.1:" + std::to_string(port_),
        "CRMSYNC_CHECK_COMMAND=" + check,
        // crmctl for the check script, then the system's sh and dirname.
        "CRMSYNC_CHECK_PATH=" + std::string(CRMSYNC_CRMCTL_DIR) + ":/usr/bin:/bin",
        "CRMSYNC_LB_STATS=" + stats_,
        "PATH=/usr/sbin:/usr/bin:/bin",
    };
    std::string interval = options.check_interval;
#if defined(__SANITIZE_ADDRESS__)
    // crmctl under the sanitizers takes 0.4 s of CPU to start; on two cores
    // busy with eight devices and three servers, all instrumented, a check
    // took 2-3 s. HAProxy kills a check that outlives the interval.
    if (interval.empty()) interval = "6s";
#endif
    if (!interval.empty()) env.push_back("CRMSYNC_CHECK_INTERVAL=" + interval);
    for (size_t i = 0; i < backends.size(); ++i) {
      env.push_back("CRMSYNC_BACKEND_" + std::to_string(i + 1) + "=" + backends[i]);
    }
    std::vector<std::string> argv = {kHaproxy, "-db", "-f",
                                     CRMSYNC_SOURCE_DIR "/deploy/haproxy/haproxy.cfg"};
    std::vector<char*> args, envp;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0) {
      *error = "fork";
      return false;
    }
    if (pid_ == 0) {
      const int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
      }
      execve(args[0], args.data(), envp.data());
      _exit(127);
    }
    if (!WaitFor([&] { return !Stat().empty(); }, seconds(15))) {
      *error = "haproxy did not open its stats socket:\n" + Log();
      return false;
    }
    return true;
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // Per backend server, from the runtime API's `show stat`: status ("UP",
  // "DOWN", ...), total sessions (stot), and its last health check. Empty if
  // unreachable.
  struct Server {
    std::string status;
    long sessions = 0;
    std::string check_status;  // of the last check: PROCOK, PROCERR, PROCTOUT, ...
    std::string check_ms;      // how long it took
    long failed_checks = 0;
    // e.g. "PROCOK 210 ms, 3 failed checks"
    std::string check() const {
      return check_status + " " + check_ms + " ms, " + std::to_string(failed_checks) +
             " failed checks";
    }
  };
  std::map<std::string, Server> Stat() const {
    std::map<std::string, Server> servers;
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", stats_.c_str());
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd);
      return servers;
    }
    const char cmd[] = "show stat\n";
    if (write(fd, cmd, sizeof(cmd) - 1) < 0) {
      close(fd);
      return servers;
    }
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) text.append(buf, n);
    close(fd);
    // CSV under a "# pxname,svname,..." header naming the columns.
    std::istringstream lines(text);
    std::map<std::string, size_t> column;
    auto split = [](const std::string& line) {
      std::vector<std::string> cols;
      std::istringstream fields(line);
      for (std::string f; std::getline(fields, f, ',');) cols.push_back(f);
      return cols;
    };
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("# ", 0) == 0) {
        const std::vector<std::string> names = split(line.substr(2));
        for (size_t i = 0; i < names.size(); ++i) column[names[i]] = i;
        continue;
      }
      const std::vector<std::string> cols = split(line);
      auto field = [&](const char* name) {
        auto it = column.find(name);
        return it != column.end() && it->second < cols.size() ? cols[it->second] : std::string();
      };
      if (field("pxname") != "crm_syncd" || field("svname") == "BACKEND" ||
          field("svname").empty()) {
        continue;
      }
      Server& server = servers[field("svname")];
      server.status = field("status");
      server.sessions = std::atol(field("stot").c_str());
      // Ends with '*' while a check runs.
      server.check_status = field("check_status");
      server.check_ms = field("check_duration");
      server.failed_checks = std::atol(field("chkfail").c_str());
    }
    return servers;
  }

  // HAProxy's own messages (servers going DOWN or UP and why), without the
  // request log.
  std::string Events() const {
    std::istringstream in(Log());
    std::string events;
    for (std::string line; std::getline(in, line);) {
      if (line.find(" HTTP/2.0\"") == std::string::npos) events += line + "\n";
    }
    return events;
  }

  bool AllUp(int n) const {
    auto s = Stat();
    int up = 0;
    for (const auto& [name, server] : s) up += server.status == "UP" ? 1 : 0;
    return up == n;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string stats_;
  std::string log_;
};

// How long eight devices get to make progress. Under the sanitizers every
// process (three crm-syncd, eight crm-device runs at a time, crmctl in the
// health checks) is several times slower on two cores: a round took about
// 16 s there against 2 s without.
#if defined(__SANITIZE_ADDRESS__)
constexpr seconds kProgressWait(300);
#else
constexpr seconds kProgressWait(120);
#endif
// How long HAProxy gets to move an instance in or out of rotation: two
// checks in a row must agree (fall 2, rise 2), an interval apart (2 s, or 6 s
// under the sanitizers), and one check lost to a slow start begins the count
// again.
#if defined(__SANITIZE_ADDRESS__)
constexpr seconds kRotationWait(120);
#else
constexpr seconds kRotationWait(40);
#endif

class HaTest : public FaultTestBase {
 protected:
  std::unique_ptr<ServerProcess> StartServerOn(int port, const std::string& conninfo) {
    auto server = std::make_unique<ServerProcess>();
    server->set_listen("127.0.0.1:" + std::to_string(port));
    std::string error;
    EXPECT_TRUE(
        server->Start({"--dev-insecure", "--dev-identity", "--demo-tenant", "--heartbeat-seconds",
                       "1", "--health-check-seconds", "1", "--store", "postgres:" + conninfo},
                      &error))
        << error;
    return server;
  }

  // `count` devices of three users, all on `server`.
  void AddDevices(DeviceFleet* fleet, const std::function<std::string()>& server, int count) {
    const char* users[] = {"alice", "bob", "maria"};
    for (int i = 0; i < count; ++i) {
      const std::string user = users[i % 3];
      fleet->Add(Device(user, user + "-device-" + std::to_string(i), 300 + i), server);
    }
  }
};

// Three instances behind HAProxy; one SIGKILLed under the load of eight
// devices, then restarted on its address. The proxy takes it out of
// rotation (its check fails), devices carry on through the other two, the
// restarted instance is back in rotation and serves requests again.
TEST_F(HaTest, InstanceKilledBehindLoadBalancer) {
  UseSharedCluster();
  const int ports[3] = {FreeLoopbackPort(), FreeLoopbackPort(), FreeLoopbackPort()};
  std::unique_ptr<ServerProcess> servers[3];
  std::vector<std::string> backends;
  for (int i = 0; i < 3; ++i) {
    servers[i] = StartServerOn(ports[i], conninfo_);
    ASSERT_TRUE(servers[i] && servers[i]->pid() > 0);
    backends.push_back(servers[i]->address());
  }
  Haproxy lb;
  std::string error;
  ASSERT_TRUE(lb.Start(dir_, backends, &error)) << error;
  ASSERT_TRUE(WaitFor([&] { return lb.AllUp(3); }, kRotationWait))
      << "HAProxy did not mark the three instances UP:\n"
      << lb.Events();
  EXPECT_EQ(Health(lb.address()), HealthStatus::SERVING) << "grpc.health.v1 through the proxy";

  const int64_t seq_before = TenantSeq();
  const auto start = SteadyClock::now();
  DeviceFleet fleet;
  const std::string address = lb.address();
  AddDevices(
      &fleet, [address] { return address; }, 8);
  fleet.Start();
  auto marks = fleet.Marks();
  ASSERT_TRUE(WaitFor([&] { return fleet.AllSyncedSince(marks, 2); }, kProgressWait))
      << "devices did not sync through the proxy:\n"
      << lb.Events();

  // Kill the second instance in the middle of the traffic.
  servers[1]->Stop(SIGKILL);
  const auto killed = SteadyClock::now();
  EXPECT_TRUE(
      WaitFor([&] { return lb.Stat()["syncd2"].status.rfind("DOWN", 0) == 0; }, kRotationWait))
      << "HAProxy did not take the killed instance out of rotation (last check: "
      << lb.Stat()["syncd2"].check() << "):\n"
      << lb.Events();
  const double out_after = SecondsSince(killed);
  marks = fleet.Marks();
  EXPECT_TRUE(WaitFor([&] { return fleet.AllSyncedSince(marks, 3); }, kProgressWait))
      << "devices did not carry on through the other two instances";

  // Back on its address: in rotation again, and serving.
  servers[1] = StartServerOn(ports[1], conninfo_);
  ASSERT_TRUE(servers[1] && servers[1]->pid() > 0);
  const auto restarted = SteadyClock::now();
  EXPECT_TRUE(WaitFor([&] { return lb.Stat()["syncd2"].status == "UP"; }, kRotationWait))
      << "the restarted instance did not come back into rotation (last check: "
      << lb.Stat()["syncd2"].check() << "):\n"
      << lb.Events();
  const double back_after = SecondsSince(restarted);
  const long sessions_back = lb.Stat()["syncd2"].sessions;
  marks = fleet.Marks();
  EXPECT_TRUE(WaitFor([&] { return fleet.AllSyncedSince(marks, 3); }, kProgressWait));
  fleet.Stop();
  EXPECT_GT(lb.Stat()["syncd2"].sessions, sessions_back)
      << "the restarted instance got no requests through the proxy";
  for (int i : {0, 2}) EXPECT_TRUE(Alive(*servers[i])) << servers[i]->Output();

  const SettleReport report = SettleAndCheck(fleet.workers(), address, conninfo_, seq_before);
  EXPECT_EQ(report.committed, report.seq_growth);
  std::printf(
      "[figures] 3 crm-syncd behind HAProxy, 1 SIGKILLed and restarted; out of rotation %.1f s "
      "after the kill, back %.1f s after the restart; %s; %lld records checked; %.1f s\n",
      out_after, back_after, fleet.Figures().c_str(),
      static_cast<long long>(report.records_checked), SecondsSince(start));
}

// The shipped config lets a health check run for its whole interval, as
// it says: a check that takes longer than the proxy's connect timeout (3 s)
// but less than the interval still counts. (With a "timeout check" in the
// backend, HAProxy kills an external check at the connect timeout; slow
// checks on a busy machine then took every instance out of rotation.)
TEST_F(HaTest, AHealthCheckMayTakeItsWholeInterval) {
  const std::string script = dir_ + "/slow-check";
  {
    std::ofstream out(script);
    out << "#!/bin/sh\n# A check that passes after 3.5 s.\nsleep 3.5\nexit 0\n";
  }
  ASSERT_EQ(chmod(script.c_str(), 0755), 0);
  Haproxy lb;
  std::string error;
  HaproxyOptions options;
  options.check_script = script;
  options.check_interval = "5s";
  // Nothing listens there: an external check does not connect by itself.
  ASSERT_TRUE(lb.Start(dir_, {"127.0.0.1:" + std::to_string(FreeLoopbackPort())}, &error, options))
      << error;
  // HAProxy starts a server UP; what counts is how its first check ends:
  // passed (PROCOK), or killed (PROCTOUT).
  auto finished = [&] {
    const std::string status = lb.Stat()["syncd1"].check_status;
    return status.rfind("PROC", 0) == 0 && status.back() != '*';
  };
  ASSERT_TRUE(WaitFor(finished, seconds(30))) << lb.Stat()["syncd1"].check() << "\n" << lb.Events();
  const Haproxy::Server server = lb.Stat()["syncd1"];
  EXPECT_EQ(server.check_status, "PROCOK")
      << "a 3.5 s check did not pass with a 5 s interval (" << server.check() << "):\n"
      << lb.Events();
  EXPECT_EQ(server.failed_checks, 0) << server.check();
  EXPECT_EQ(server.status, "UP") << server.check();
}

// crmctl import through HAProxy, which balances per request: an import's
// two batches on their way (the second naming the row it follows) mostly
// reach different instances, where the second waits for nothing and is
// refused until the first is in; crmctl sends it again. Every row lands
// once, each instance takes a share, and the import ends without errors.
TEST_F(HaTest, ImportThroughTheLoadBalancerLandsEveryRowOnce) {
  UseSharedCluster();
  // One signing key for both, as deployed: a token from either is good on
  // the other.
  const std::string key = dir_ + "/token.key";
  std::string out;
  ASSERT_EQ(RunCommand({CRMSYNC_SOURCE_DIR "/deploy/make-token-key.sh", key}, &out), 0) << out;
  std::unique_ptr<ServerProcess> servers[2];
  std::vector<std::string> backends;
  for (auto& server : servers) {
    server = std::make_unique<ServerProcess>();
    std::string error;
    ASSERT_TRUE(server->Start({"--dev-insecure", "--demo-tenant", "--password-memory-kib", "64",
                               "--rate-limit-per-second", "0", "--health-check-seconds", "1",
                               "--token-key", key, "--store", "postgres:" + conninfo_},
                              &error))
        << error;
    backends.push_back(server->address());
  }
  Haproxy lb;
  std::string error;
  ASSERT_TRUE(lb.Start(dir_, backends, &error)) << error;
  ASSERT_TRUE(WaitFor([&] { return lb.AllUp(2); }, kRotationWait))
      << "HAProxy did not mark the two instances UP:\n"
      << lb.Events();
  const std::string crmctl = CRMSYNC_CRMCTL_DIR "/crmctl";
  const std::string config = dir_ + "/crmctl.toml";
  ASSERT_EQ(RunCommand({"/bin/sh", "-c",
                        "printf 'admin-demo-password\\n' | '" + crmctl + "' --config '" + config +
                            "' --server " + lb.address() +
                            " --insecure login --tenant demo --user admin --password-stdin"},
                       &out),
            0)
      << out;
  constexpr int kRows = 2000;
  const std::string csv = dir_ + "/leads.csv";
  {
    std::ofstream f(csv);
    f << "id,first_name,last_name,email,owner_user_id\n";
    for (int i = 1; i <= kRows; ++i) {
      f << "lb-" << i << ",First" << i << ",Last" << i << ",lb" << i << "@example.com,u-bob\n";
    }
  }
  const std::map<std::string, long> sessions_before = {{"syncd1", lb.Stat()["syncd1"].sessions},
                                                       {"syncd2", lb.Stat()["syncd2"].sessions}};
  const int64_t seq_before = TenantSeq();
  ASSERT_EQ(RunCommand({crmctl, "--config", config, "--server", lb.address(), "--insecure",
                        "import", csv, "--type", "lead", "--batch-size", "40"},
                       &out),
            0)
      << out;
  EXPECT_NE(out.find(std::to_string(kRows) + " rows applied, 0 unchanged"), std::string::npos)
      << out;
  EXPECT_EQ(TenantSeq() - seq_before, kRows) << "every row written once";
  for (const char* name : {"syncd1", "syncd2"}) {
    EXPECT_GT(lb.Stat()[name].sessions, sessions_before.at(name))
        << name << " took no part of the import";
  }
}

// Replaces "host=127.0.0.1 port=P" of a test conninfo with both servers,
// read-write sessions only.
std::string MultiHost(const std::string& conninfo, int primary_port, int standby_port) {
  const std::string single = "host=127.0.0.1 port=" + std::to_string(primary_port);
  std::string multi = conninfo;
  const size_t at = multi.find(single);
  if (at == std::string::npos) return "";
  multi.replace(at, single.size(),
                "host=127.0.0.1,127.0.0.1 port=" + std::to_string(primary_port) + "," +
                    std::to_string(standby_port) +
                    " target_session_attrs=read-write connect_timeout=3");
  return multi;
}

// PostgreSQL primary killed (immediate shutdown, like a crash) under the
// load of eight devices on two crm-syncd; the synchronous standby is
// promoted. crm-syncd reconnects by itself (its connection string names
// both servers and wants a read-write session), says NOT_SERVING while no
// server accepts writes and SERVING again after the promotion; devices
// resume, and nothing acknowledged is lost (synchronous replication: every
// acknowledged commit was on the standby).
TEST_F(HaTest, PrimaryKilledStandbyPromoted) {
  auto primary = PgCluster::StartLocal();
  ASSERT_TRUE(primary.ok()) << primary.status();
  auto schema = (*primary)->NewSchema("failover");
  ASSERT_TRUE(schema.ok()) << schema.status();
  auto standby = (*primary)->StartStandby("standby1", /*synchronous=*/true);
  ASSERT_TRUE(standby.ok()) << standby.status();
  conninfo_ = MultiHost(*schema, (*primary)->port(), (*standby)->port());
  ASSERT_FALSE(conninfo_.empty()) << *schema;

  std::unique_ptr<ServerProcess> servers[2] = {StartServerOn(FreeLoopbackPort(), conninfo_),
                                               StartServerOn(FreeLoopbackPort(), conninfo_)};
  for (auto& s : servers) ASSERT_TRUE(s && s->pid() > 0);
  const int64_t seq_before = TenantSeq();
  const auto start = SteadyClock::now();
  DeviceFleet fleet;
  const std::string a = servers[0]->address(), b = servers[1]->address();
  AddDevices(
      &fleet, [a] { return a; }, 4);
  for (int i = 4; i < 8; ++i) {
    const char* users[] = {"alice", "bob", "maria"};
    const std::string user = users[i % 3];
    fleet.Add(Device(user, user + "-device-" + std::to_string(i), 300 + i), [b] { return b; });
  }
  fleet.Start();
  auto marks = fleet.Marks();
  ASSERT_TRUE(WaitFor([&] { return fleet.AllSyncedSince(marks, 2); }, kProgressWait));

  const auto failure = SteadyClock::now();
  ASSERT_TRUE((*primary)->StopServer("immediate").ok());
  for (auto& s : servers) {
    EXPECT_TRUE(
        WaitFor([&] { return Health(s->address()) == HealthStatus::NOT_SERVING; }, seconds(20)))
        << "health stayed SERVING with no writable database";
  }
  const double detected = SecondsSince(failure);
  ASSERT_TRUE((*standby)->Promote().ok());
  const auto promoted = SteadyClock::now();
  for (auto& s : servers) {
    EXPECT_TRUE(WaitFor([&] { return Health(s->address()) == HealthStatus::SERVING; }, seconds(30)))
        << "crm-syncd did not reconnect to the promoted standby:\n"
        << s->Output();
  }
  const double recovered = SecondsSince(promoted);
  marks = fleet.Marks();
  EXPECT_TRUE(WaitFor([&] { return fleet.AllSyncedSince(marks, 3); }, kProgressWait))
      << "devices did not resume after the promotion";
  fleet.Stop();
  for (auto& s : servers) EXPECT_TRUE(Alive(*s)) << s->Output();

  const SettleReport report = SettleAndCheck(fleet.workers(), a, conninfo_, seq_before);
  EXPECT_EQ(report.committed, report.seq_growth);
  std::printf(
      "[figures] primary killed, synchronous standby promoted; NOT_SERVING seen after %.1f s, "
      "SERVING %.1f s after the promotion; 2 crm-syncd; %s; %.1f s\n",
      detected, recovered, fleet.Figures().c_str(), SecondsSince(start));
}

// Failed sign-ins count on the shared store: an attacker alternating
// between two instances is throttled after --max-failed-logins attempts in
// all, on both, and the right password is refused too until the window
// passes; another user is not affected.
TEST_F(HaTest, LoginThrottlingHoldsAcrossInstances) {
  UseSharedCluster();
  std::unique_ptr<ServerProcess> servers[2];
  for (auto& s : servers) {
    s = std::make_unique<ServerProcess>();
    std::string error;
    ASSERT_TRUE(s->Start({"--dev-insecure", "--demo-tenant", "--password-memory-kib", "64",
                          "--max-failed-logins", "4", "--store", "postgres:" + conninfo_},
                         &error))
        << error;
  }
  auto login = [&](int instance, const std::string& user, const std::string& password) {
    auto stub = v1::AuthService::NewStub(
        grpc::CreateChannel(servers[instance]->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(10));
    v1::LoginRequest req;
    req.set_tenant("demo");
    req.set_username(user);
    req.set_password(password);
    v1::LoginResponse resp;
    return stub->Login(&ctx, req, &resp);
  };
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(login(i % 2, "alice", "guess-" + std::to_string(i)).error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << "attempt " << i;
  }
  for (int instance : {0, 1}) {
    const grpc::Status s = login(instance, "alice", "alice-demo-password");
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << "instance " << instance << " let a fifth attempt through: " << s.error_message();
    EXPECT_NE(s.error_message().find("retry in"), std::string::npos) << s.error_message();
  }
  EXPECT_TRUE(login(1, "bob", "bob-demo-password").ok()) << "another user is not throttled";
}

// The per-device request budget is shared through the store: a device that
// spent its burst on one instance is refused by the other as soon as the
// other has read the first one's usage report (about a second), while
// another device is not affected.
TEST_F(HaTest, RateLimitHoldsAcrossInstances) {
  UseSharedCluster();
  std::unique_ptr<ServerProcess> servers[2];
  for (auto& s : servers) {
    s = std::make_unique<ServerProcess>();
    std::string error;
    ASSERT_TRUE(
        s->Start({"--dev-insecure", "--dev-identity", "--demo-tenant", "--rate-limit-per-second",
                  "0.05", "--rate-limit-burst", "10", "--store", "postgres:" + conninfo_},
                 &error))
        << error;
  }
  auto pull = [](DevSyncClient& client) {
    v1::PullRequest req;
    req.mutable_client()->set_protocol_version(1);
    req.set_page_size(1);
    v1::PullResponse resp;
    return client.Pull(req, &resp).error_code();
  };
  DevSyncClient on_first(servers[0]->address(), "demo", "alice", "alice-phone");
  int accepted = 0;
  grpc::StatusCode code = grpc::StatusCode::OK;
  for (int i = 0; i < 20 && code == grpc::StatusCode::OK; ++i) {
    code = pull(on_first);
    if (code == grpc::StatusCode::OK) ++accepted;
  }
  EXPECT_EQ(code, grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(accepted, 10) << "the burst";

  // The second instance learns what the first let through.
  httplib::Client http("127.0.0.1", servers[1]->metrics_port());
  double imported = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto res = http.Get("/metrics");
        const std::string series = "crmsync_rate_usage_imported_total ";
        const size_t at = res ? res->body.find("\n" + series) : std::string::npos;
        imported =
            at == std::string::npos ? 0 : std::stod(res->body.substr(at + series.size() + 1));
        return imported >= 10;
      },
      seconds(15)))
      << "the second instance never read the first one's usage (" << imported << ")";
  DevSyncClient on_second(servers[1]->address(), "demo", "alice", "alice-phone");
  EXPECT_EQ(pull(on_second), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << "the device's budget was spent on the other instance";
  DevSyncClient tablet(servers[1]->address(), "demo", "alice", "alice-tablet");
  EXPECT_EQ(pull(tablet), grpc::StatusCode::OK) << "another device has its own budget";
}

}  // namespace
}  // namespace crmsync::testing
