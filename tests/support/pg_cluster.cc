#include "pg_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <pqxx/connection>
#include <pqxx/nontransaction>

namespace crmsync::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kPgBin[] = "/usr/lib/postgresql/15/bin";
constexpr char kRole[] = "crmsync_test";
constexpr char kDatabase[] = "crmsync_test";

bool RunningAsRoot() { return geteuid() == 0; }

// Runs argv (as the postgres user when we are root) with stdout and stderr
// appended to `log`. Returns the exit status, or -1 if it could not run.
int RunCommand(std::vector<std::string> argv, const std::string& log) {
  if (RunningAsRoot()) {
    // An absolute path: the child may only call async-signal-safe functions
    // before exec, which rules out a PATH search.
    const char* runuser =
        access("/usr/sbin/runuser", X_OK) == 0 ? "/usr/sbin/runuser" : "/sbin/runuser";
    argv.insert(argv.begin(), {runuser, "-u", "postgres", "--"});
  }
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    // The postgres user may not be able to read our working directory.
    if (chdir("/") != 0) _exit(126);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The last lines of a log, for error messages.
std::string Tail(const std::string& path) {
  std::string text = ReadFile(path);
  if (text.size() > 2000) text = "..." + text.substr(text.size() - 2000);
  return text;
}

}  // namespace

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

namespace {

void StopServerIn(const std::string& dir) {
  const std::string data = dir + "/data";
  if (fs::exists(data + "/postmaster.pid")) {
    RunCommand({std::string(kPgBin) + "/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"},
               "/dev/null");
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

bool OwnerAlive(const std::string& dir) {
  std::ifstream in(dir + "/owner.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 0) {
    // No owner recorded yet: another test binary may have just created the
    // directory. Only an old one is abandoned.
    struct stat st {};
    return stat(dir.c_str(), &st) == 0 && time(nullptr) - st.st_mtime < 120;
  }
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// Appends a libpq option to a key=value string or a postgresql:// URI.
std::string WithSearchPath(const std::string& conninfo, const std::string& schema) {
  if (conninfo.rfind("postgres://", 0) == 0 || conninfo.rfind("postgresql://", 0) == 0) {
    const char sep = conninfo.find('?') == std::string::npos ? '?' : '&';
    return conninfo + sep + "options=-csearch_path%3D" + schema;
  }
  return conninfo + " options='-csearch_path=" + schema + "'";
}

}  // namespace

std::string PgCluster::DefaultRoot() {
  if (const char* root = std::getenv("CRMSYNC_TEST_PG_ROOT"); root != nullptr && *root != '\0') {
    return root;
  }
  return "/tmp/crmsync-pg-" + std::to_string(geteuid());
}

int PgCluster::SweepStale(const std::string& root) {
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (!entry.is_directory() || entry.path().filename().string().rfind("cluster-", 0) != 0) {
      continue;
    }
    if (OwnerAlive(entry.path().string())) continue;
    StopServerIn(entry.path().string());
    ++removed;
  }
  return removed;
}

absl::StatusOr<std::unique_ptr<PgCluster>> PgCluster::Start() {
  std::unique_ptr<PgCluster> cluster(new PgCluster());
  if (const char* uri = std::getenv("CRMSYNC_TEST_PG_URI"); uri != nullptr && *uri != '\0') {
    cluster->external_ = true;
    cluster->conninfo_ = uri;
    try {
      pqxx::connection check(cluster->conninfo_);
    } catch (const std::exception& e) {
      return absl::UnavailableError(std::string("CRMSYNC_TEST_PG_URI: cannot connect: ") +
                                    e.what());
    }
    return cluster;
  }
  if (auto s = cluster->StartOwn(); !s.ok()) return s;  // the destructor cleans up
  return cluster;
}

absl::StatusOr<std::unique_ptr<PgCluster>> PgCluster::StartLocal() {
  std::unique_ptr<PgCluster> cluster(new PgCluster());
  if (auto s = cluster->StartOwn(); !s.ok()) return s;
  return cluster;
}

absl::Status PgCluster::StartOwn() {
  if (!fs::exists(std::string(kPgBin) + "/initdb")) {
    return absl::FailedPreconditionError(std::string(kPgBin) +
                                         "/initdb not found: install postgresql-15");
  }
  if (auto s = MakeDir(); !s.ok()) return s;
  const std::string log = dir_ + "/setup.log";
  // --no-sync only skips flushing initdb's own files (a throwaway cluster);
  // the server itself runs with fsync=on.
  int rc = RunCommand({std::string(kPgBin) + "/initdb", "-A", "trust", "-U", "postgres", "-E",
                       "UTF8", "--locale=C", "--no-sync", "-D", dir_ + "/data"},
                      log);
  if (rc != 0) return absl::InternalError("initdb failed:\n" + Tail(log));

  absl::Status started;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = FreeLoopbackPort();
    if (port_ == 0) return absl::InternalError("no free TCP port on 127.0.0.1");
    started = StartPostmaster();
    if (started.ok()) break;
  }
  if (!started.ok()) return started;

  const std::string base = "host=127.0.0.1 port=" + std::to_string(port_);
  try {
    pqxx::connection admin(base + " user=postgres dbname=postgres");
    pqxx::nontransaction tx(admin);
    tx.exec0(std::string("CREATE ROLE ") + kRole + " LOGIN");
    tx.exec0(std::string("CREATE DATABASE ") + kDatabase + " OWNER " + kRole);
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("creating the test role/database: ") + e.what());
  }
  conninfo_ = base + " user=" + kRole + " dbname=" + kDatabase;
  return absl::OkStatus();
}

absl::Status PgCluster::MakeDir() {
  const std::string root = DefaultRoot();
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return absl::InternalError("cannot create " + root + ": " + ec.message());
  // The postgres user must be able to reach its directory below the root.
  chmod(root.c_str(), 0755);
  SweepStale(root);

  std::string templ = root + "/cluster-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError("mkdtemp in " + root + ": " + std::strerror(errno));
  }
  dir_ = templ;
  std::ofstream(dir_ + "/owner.pid") << getpid() << "\n";
  if (RunningAsRoot()) {
    struct passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      return absl::FailedPreconditionError("running as root but there is no 'postgres' user");
    }
    if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return absl::InternalError("chown " + dir_ + ": " + std::strerror(errno));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PgCluster>> PgCluster::StartStandby(const std::string& name,
                                                                   bool synchronous) {
  if (external_ || dir_.empty()) {
    return absl::FailedPreconditionError("not an own cluster: cannot make a standby of it");
  }
  std::unique_ptr<PgCluster> standby(new PgCluster());
  if (auto s = standby->MakeDir(); !s.ok()) return s;
  const std::string log = standby->dir_ + "/setup.log";
  // -R writes standby.signal and primary_conninfo (with this
  // application_name, which synchronous_standby_names refers to).
  const std::string source =
      "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres application_name=" + name;
  int rc =
      RunCommand({std::string(kPgBin) + "/pg_basebackup", "-d", source, "-D",
                  standby->dir_ + "/data", "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"},
                 log);
  if (rc != 0) return absl::InternalError("pg_basebackup failed:\n" + Tail(log));
  std::error_code ignored;
  fs::remove(standby->dir_ + "/data/postmaster.pid", ignored);
  absl::Status started;
  for (int attempt = 0; attempt < 3; ++attempt) {
    standby->port_ = FreeLoopbackPort();
    if (standby->port_ == 0) return absl::InternalError("no free TCP port on 127.0.0.1");
    started = standby->StartPostmaster();
    if (started.ok()) break;
  }
  if (!started.ok()) return started;
  standby->conninfo_ = "host=127.0.0.1 port=" + std::to_string(standby->port_) + " user=" + kRole +
                       " dbname=" + kDatabase;

  const std::string admin_conninfo =
      "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=postgres";
  try {
    pqxx::connection admin(admin_conninfo);
    pqxx::nontransaction tx(admin);
    if (synchronous) {
      tx.exec0("ALTER SYSTEM SET synchronous_standby_names = " + tx.quote(name));
      tx.exec("SELECT pg_reload_conf()");
    }
    const std::string wanted = synchronous ? "sync" : "async";
    for (int i = 0; i < 600; ++i) {  // up to 60 s
      pqxx::result r = tx.exec(
          "SELECT sync_state FROM pg_stat_replication WHERE application_name = " + tx.quote(name) +
          " AND state = 'streaming'");
      if (!r.empty() && r[0][0].c_str() == wanted) return standby;
      usleep(100 * 1000);  // poll interval
    }
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("configuring replication: ") + e.what());
  }
  return absl::DeadlineExceededError("the standby " + name + " did not reach " +
                                     (synchronous ? "sync" : "streaming") + " state in 60 s");
}

absl::Status PgCluster::Promote() {
  if (external_ || dir_.empty()) {
    return absl::FailedPreconditionError("not an own cluster: cannot promote it");
  }
  const std::string log = dir_ + "/setup.log";
  const int rc = RunCommand(
      {std::string(kPgBin) + "/pg_ctl", "-D", dir_ + "/data", "-w", "-t", "60", "promote"}, log);
  if (rc != 0) return absl::InternalError("pg_ctl promote failed:\n" + Tail(log));
  return absl::OkStatus();
}

absl::Status PgCluster::StartPostmaster() {
  const std::string log = dir_ + "/setup.log";
  const std::string options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " +
                              dir_ + " -c fsync=on -c max_connections=100" +
                              // After a crash (immediate stop), sync the data directory
                              // with one syncfs() instead of an fsync per file: seconds
                              // less per restart, just as durable.
                              " -c recovery_init_sync_method=syncfs";
  const int rc =
      RunCommand({std::string(kPgBin) + "/pg_ctl", "-w", "-t", "60", "-D", dir_ + "/data", "-l",
                  dir_ + "/data/server.log", "-o", options, "start"},
                 log);
  if (rc != 0) {
    return absl::InternalError("pg_ctl start failed:\n" + Tail(log) + "\n" +
                               Tail(dir_ + "/data/server.log"));
  }
  return absl::OkStatus();
}

absl::Status PgCluster::StopServer(const std::string& mode) {
  if (external_ || dir_.empty()) {
    return absl::FailedPreconditionError("not an own cluster: cannot stop the server");
  }
  if (mode != "fast" && mode != "immediate" && mode != "smart") {
    return absl::InvalidArgumentError("pg_ctl stop mode: " + mode);
  }
  const std::string log = dir_ + "/setup.log";
  const int rc = RunCommand(
      {std::string(kPgBin) + "/pg_ctl", "-D", dir_ + "/data", "-m", mode, "-w", "-t", "60", "stop"},
      log);
  if (rc != 0) return absl::InternalError("pg_ctl stop -m " + mode + " failed:\n" + Tail(log));
  return absl::OkStatus();
}

absl::Status PgCluster::StartServer() {
  if (external_ || dir_.empty()) {
    return absl::FailedPreconditionError("not an own cluster: cannot start the server");
  }
  return StartPostmaster();
}

void PgCluster::Stop() {
  if (external_) {
    try {
      pqxx::connection conn(conninfo_);
      pqxx::nontransaction tx(conn);
      for (const std::string& schema : schemas_) {
        tx.exec0("DROP SCHEMA IF EXISTS " + tx.quote_name(schema) + " CASCADE");
      }
    } catch (const std::exception&) {
      // Leftover schemas on a shared server are harmless; never throw here.
    }
    return;
  }
  if (!dir_.empty()) StopServerIn(dir_);
  dir_.clear();
}

PgCluster::~PgCluster() { Stop(); }

absl::StatusOr<std::string> PgCluster::NewSchema(const std::string& hint) {
  std::string name = "t";
  for (char c : hint) {
    if (name.size() >= 40) break;
    name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  }
  name += "_" + std::to_string(getpid()) + "_" + std::to_string(next_schema_++);
  try {
    pqxx::connection conn(conninfo_);
    pqxx::nontransaction tx(conn);
    tx.exec0("CREATE SCHEMA " + tx.quote_name(name));
  } catch (const std::exception& e) {
    return absl::UnavailableError("creating schema " + name + ": " + e.what());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    schemas_.push_back(name);
  }
  return WithSearchPath(conninfo_, name);
}

PgClusterEnvironment* PgClusterEnvironment::Instance() {
  static PgClusterEnvironment* const instance = new PgClusterEnvironment();
  return instance;
}

absl::StatusOr<PgCluster*> PgClusterEnvironment::Cluster() {
  std::lock_guard<std::mutex> lock(mu_);
  if (cluster_ != nullptr) return cluster_.get();
  if (!start_error_.ok()) return start_error_;
  auto started = PgCluster::Start();
  if (!started.ok()) {
    start_error_ = started.status();
    return start_error_;
  }
  cluster_ = std::move(*started);
  return cluster_.get();
}

void PgClusterEnvironment::TearDown() {
  std::lock_guard<std::mutex> lock(mu_);
  cluster_.reset();
}

}  // namespace crmsync::testing
