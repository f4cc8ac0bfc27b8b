#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace crmsync::bench::e2e {
namespace {

int MillisUntil(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(left.count(), 1000)));
}

}  // namespace

ChildProcess::~ChildProcess() { Kill(); }

void ChildProcess::Kill() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdin_fd_ = stdout_fd_ = -1;
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

absl::Status ChildProcess::Start(const std::string& name, const std::vector<std::string>& argv,
                                 const std::string& log_path) {
  if (argv.empty()) return absl::InvalidArgumentError("no command");
  name_ = name;
  log_path_ = log_path;
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return absl::InternalError(std::strerror(errno));
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return absl::InternalError(std::strerror(errno));
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    dup2(in[0], 0);
    dup2(out[1], 1);
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) dup2(fd, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  pid_ = pid;
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
  return absl::OkStatus();
}

bool ChildProcess::ReadLine(std::string* line, Deadline deadline, bool* timed_out) {
  *timed_out = false;
  for (;;) {
    size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      *line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return true;
    }
    if (stdout_fd_ < 0) return false;
    if (std::chrono::steady_clock::now() >= deadline) {
      *timed_out = true;
      return false;
    }
    pollfd p{stdout_fd_, POLLIN, 0};
    int r = poll(&p, 1, MillisUntil(deadline));
    if (r < 0 && errno != EINTR) return false;
    if (r <= 0) continue;
    char chunk[65536];
    ssize_t n = read(stdout_fd_, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(stdout_fd_);
      stdout_fd_ = -1;
      continue;  // a last line without a newline is dropped
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

absl::StatusOr<nlohmann::json> ChildProcess::Expect(const std::string& event, Deadline deadline) {
  std::string line;
  bool timed_out = false;
  while (ReadLine(&line, deadline, &timed_out)) {
    nlohmann::json message = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (message.is_discarded() || !message.is_object()) continue;  // not ours
    if (message.contains("error")) {
      return absl::InternalError(name_ + ": " + message["error"].get<std::string>() + "\n" +
                                 LogTail());
    }
    if (message.value("event", "") == event) return message;
  }
  if (timed_out) {
    return absl::DeadlineExceededError(name_ + ": no '" + event + "' in time\n" + LogTail());
  }
  return absl::UnavailableError(name_ + ": exited before '" + event + "'\n" + LogTail());
}

absl::Status ChildProcess::Send(const std::string& command) {
  if (stdin_fd_ < 0) return absl::FailedPreconditionError(name_ + ": stdin closed");
  std::string text = command + "\n";
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(stdin_fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::UnavailableError(name_ + ": cannot write to the client");
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status ChildProcess::Finish(Deadline deadline) {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
  while (pid_ > 0) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
      return absl::InternalError(name_ + ": exited with status " + std::to_string(status) + "\n" +
                                 LogTail());
    }
    if (r < 0) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      Kill();
      return absl::DeadlineExceededError(name_ + ": did not exit in time (killed)\n" + LogTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval
  }
  return absl::OkStatus();
}

std::string ChildProcess::LogTail() const {
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  if (s.size() > 3000) s = "..." + s.substr(s.size() - 3000);
  return s.empty() ? "(" + log_path_ + " is empty)" : s;
}

}  // namespace crmsync::bench::e2e
