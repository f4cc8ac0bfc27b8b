// A benchmark client process, driven through its standard streams: it
// prints one JSON object per line on stdout ({"event": "ready"}, ...,
// {"event": "result", ...}, or {"error": "..."}) and reads command lines
// ("go", ...) on stdin. Its stderr goes to a log file.
//
// The child gets SIGKILL when the process that started it dies, so an
// interrupted run leaves no client behind. Not thread-safe.
#ifndef CRMSYNC_BENCH_E2E_CHILD_PROCESS_H_
#define CRMSYNC_BENCH_E2E_CHILD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace crmsync::bench::e2e {

using Deadline = std::chrono::steady_clock::time_point;

class ChildProcess {
 public:
  ChildProcess() = default;
  // SIGKILLs and reaps a child that is still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] (an absolute path) with argv; stderr to `log_path`.
  // `name` labels error messages.
  absl::Status Start(const std::string& name, const std::vector<std::string>& argv,
                     const std::string& log_path);

  // Reads messages until one whose "event" is `event` and returns it.
  // Errors: the child reported {"error": ...} (INTERNAL), exited
  // (UNAVAILABLE) or `deadline` passed (DEADLINE_EXCEEDED); the message
  // ends with the tail of its log.
  absl::StatusOr<nlohmann::json> Expect(const std::string& event, Deadline deadline);

  // Writes one command line to the child's stdin.
  absl::Status Send(const std::string& command);

  // Closes stdin and waits for the child to exit; SIGKILLs it at
  // `deadline`. OK only for exit code 0.
  absl::Status Finish(Deadline deadline);

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }

 private:
  // One line from stdout; false on end of file or deadline.
  bool ReadLine(std::string* line, Deadline deadline, bool* timed_out);
  std::string LogTail() const;
  void Kill();

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  std::string log_path_;
  std::string name_;
};

}  // namespace crmsync::bench::e2e

#endif  // CRMSYNC_BENCH_E2E_CHILD_PROCESS_H_
