#include "server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace crmsync::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

pid_t Spawn(const std::vector<std::string>& argv, const std::string& output_path) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int fd = open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

// Waits for `pid` to exit, up to `timeout`; returns waitpid status or -1.
int WaitWithTimeout(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval, not a race fix
  }
}

}  // namespace

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  char* made = mkdtemp(tmpl.data());
  return made ? std::string(made) : std::string();
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  if (!path.empty()) std::filesystem::remove_all(path, ec);
}

int RunCommand(const std::vector<std::string>& argv, std::string* output) {
  std::string dir = MakeTempDir("crmsync-cmd-");
  std::string out = dir + "/out";
  pid_t pid = Spawn(argv, out);
  int status = WaitWithTimeout(pid, std::chrono::minutes(2));
  if (status == -1) kill(pid, SIGKILL), waitpid(pid, nullptr, 0);
  if (output) *output = ReadAll(out);
  RemoveTree(dir);
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    // Killed, it could not remove its TLS staging directory
    // (server/src/tls_files.h); the next crm-syncd would, but the last
    // one of a test run has no next.
    std::error_code ec;
    const std::string prefix = "crm-syncd-tls-" + std::to_string(pid_) + "-";
    namespace fs = std::filesystem;
    for (fs::directory_iterator it(fs::temp_directory_path(ec), ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it->path().filename().string().rfind(prefix, 0) == 0) RemoveTree(it->path().string());
    }
  }
  RemoveTree(dir_);
}

bool ServerProcess::Start(const std::vector<std::string>& args, std::string* error,
                          std::chrono::seconds timeout) {
  // A restart: the previous run's output is no longer read (Output() is this
  // run's), and its directory would otherwise be left behind.
  RemoveTree(dir_);
  dir_ = MakeTempDir("crmsync-syncd-");
  std::string ready = dir_ + "/ready";
  std::vector<std::string> argv = {CRMSYNC_SYNCD_PATH, "--listen",     listen_, "--metrics-listen",
                                   "127.0.0.1:0",      "--ready-file", ready};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = Spawn(argv, dir_ + "/output.log");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string port_text = ReadAll(ready);
    if (!port_text.empty()) {
      std::istringstream lines(port_text);
      lines >> port_ >> metrics_port_;
      return port_ > 0;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) exit_code_ = WEXITSTATUS(status);
      *error = "crm-syncd exited before serving: " + Output();
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval
  }
  *error = "crm-syncd did not become ready in time: " + Output();
  return false;
}

int ServerProcess::Stop(int signal, std::chrono::seconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  int status = WaitWithTimeout(pid_, timeout);
  if (status != -1) pid_ = -1;
  return status;
}

bool Eventually(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // poll interval
  }
  return done();
}

std::string ServerProcess::Output() const { return ReadAll(dir_ + "/output.log"); }

}  // namespace crmsync::testing
