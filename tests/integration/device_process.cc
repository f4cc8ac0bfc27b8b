#include "device_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace crmsync::testing {

DeviceProcess::~DeviceProcess() {
  std::lock_guard<std::mutex> lock(mu_);
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

bool DeviceProcess::Start(const DeviceIdentity& id, const std::string& server,
                          const std::vector<std::string>& args, const std::string& output_path) {
  std::vector<std::string> argv = {
      CRMSYNC_CRM_DEVICE, "--server",   server, "--insecure", "--user", id.user,
      "--device-id",      id.device_id, "--db", id.db,        "--key",  id.key};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::lock_guard<std::mutex> lock(mu_);
  if (pid_ > 0) return false;
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    const int fd = open(output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  pid_ = pid;
  return true;
}

int DeviceProcess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pid_ <= 0) return -1;
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || r < 0) {
        pid_ = -1;
        return r < 0 ? -1 : status;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // poll interval, not a race fix
  }
}

bool DeviceProcess::Kill() { return Signal(SIGKILL); }

bool DeviceProcess::Signal(int signal) {
  // Under the lock the pid is either ours and not yet reaped (at worst a
  // zombie), or -1: never a recycled pid.
  std::lock_guard<std::mutex> lock(mu_);
  if (pid_ <= 0) return false;
  return kill(pid_, signal) == 0;
}

pid_t DeviceProcess::pid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pid_;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

int RunDevice(const DeviceIdentity& id, const std::string& server,
              const std::vector<std::string>& args, std::string* output,
              std::chrono::milliseconds timeout) {
  char tmpl[] = "/tmp/crmsync-devout-XXXXXX";
  const int fd = mkstemp(tmpl);
  if (fd < 0) return -1;
  close(fd);
  const std::string path = tmpl;
  int code = -1;
  {
    DeviceProcess p;
    if (p.Start(id, server, args, path)) {
      const int status = p.Wait(timeout);
      if (status != -1 && WIFEXITED(status)) code = WEXITSTATUS(status);
      // On timeout the destructor kills it.
    }
  }
  if (output) *output = ReadText(path);
  unlink(path.c_str());
  return code;
}

}  // namespace crmsync::testing
