// A child process whose stdout the test reads line by line, for crash tests.
#ifndef CRMSYNC_TESTS_CLIENT_CRASH_PROCESS_H_
#define CRMSYNC_TESTS_CLIENT_CRASH_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace crmsync::client::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();  // SIGKILLs and reaps the child if still running.
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] with stdout on a pipe (stderr inherited).
  bool Start(const std::vector<std::string>& argv);
  // Reads complete lines until `count` lines were read, stdout closed, or
  // `timeout` passed.
  std::vector<std::string> ReadLines(size_t count, std::chrono::milliseconds timeout);
  // SIGKILL and reap; returns the wait status.
  int Kill();
  // Waits for a normal exit up to `timeout`; -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
};

}  // namespace crmsync::client::testing

#endif  // CRMSYNC_TESTS_CLIENT_CRASH_PROCESS_H_
