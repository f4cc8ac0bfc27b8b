// Runs a real crm-syncd process for integration tests.
#ifndef CRMSYNC_TESTS_INTEGRATION_SERVER_PROCESS_H_
#define CRMSYNC_TESTS_INTEGRATION_SERVER_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace crmsync::testing {

// A child process running crm-syncd with the given flags plus
// "--listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --ready-file <tmp>".
// Not thread-safe.
class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess();  // SIGKILLs the process if still running.

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts crm-syncd and waits until it serves (its ready file appears) or it
  // exits. Returns false (with `error`) on failure; the captured output is in
  // `error` then. Called again (a restart), it starts a new process with a
  // new output.
  bool Start(const std::vector<std::string>& args, std::string* error,
             std::chrono::seconds timeout = std::chrono::seconds(30));

  // The --listen address Start() passes (default 127.0.0.1:0).
  void set_listen(const std::string& listen) { listen_ = listen; }

  int port() const { return port_; }
  // Port of the Prometheus /metrics listener (started on 127.0.0.1:0).
  int metrics_port() const { return metrics_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }

  // Sends `signal` and waits for exit up to `timeout`. Returns the exit
  // status as from waitpid, or -1 on timeout.
  int Stop(int signal, std::chrono::seconds timeout = std::chrono::seconds(30));

  // After Start() failed because the process exited: its exit code, else -1.
  int exit_code() const { return exit_code_; }

  // Everything the process wrote to stdout/stderr so far.
  std::string Output() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
  int exit_code_ = -1;
  std::string listen_ = "127.0.0.1:0";
  std::string dir_;
};

// Polls `done` every 50 ms until it holds or `limit` passes; returns its
// last answer. For waiting on another process (its log, its health).
bool Eventually(const std::function<bool()>& done,
                std::chrono::seconds limit = std::chrono::seconds(20));

// Runs a command to completion, capturing stdout+stderr. Returns its exit
// code (or -1 if it could not run).
int RunCommand(const std::vector<std::string>& argv, std::string* output);

// A fresh temporary directory, removed by RemoveTree.
std::string MakeTempDir(const std::string& prefix);
void RemoveTree(const std::string& path);

}  // namespace crmsync::testing

#endif  // CRMSYNC_TESTS_INTEGRATION_SERVER_PROCESS_H_
