// crm-device processes (client-sdk/tools) driven by integration tests.
#ifndef CRMSYNC_TESTS_INTEGRATION_DEVICE_PROCESS_H_
#define CRMSYNC_TESTS_INTEGRATION_DEVICE_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

namespace crmsync::testing {

// Who a device is: its user (development identity), its id and its local
// store file with the store's key.
struct DeviceIdentity {
  std::string user;
  std::string device_id;
  std::string db;
  std::string key;
};

// One crm-device run. Not copyable; Kill() and Signal() may be called from
// another thread than Start/Wait (a chaos thread killing a busy device).
class DeviceProcess {
 public:
  DeviceProcess() = default;
  ~DeviceProcess();  // SIGKILLs and reaps the process if still running.
  DeviceProcess(const DeviceProcess&) = delete;
  DeviceProcess& operator=(const DeviceProcess&) = delete;

  // Starts `crm-device --server <server> --insecure --user ... --device-id
  // ... --db ... --key ... <args>` with stdout and stderr appended to
  // `output_path`. Returns false if it could not be started.
  bool Start(const DeviceIdentity& id, const std::string& server,
             const std::vector<std::string>& args, const std::string& output_path);
  // Waits for the process to end, up to `timeout`. Returns the wait status,
  // or -1 on timeout (the process keeps running).
  int Wait(std::chrono::milliseconds timeout);
  // SIGKILL (no-op once the process was reaped). Returns true if a running
  // process was signalled.
  bool Kill();
  bool Signal(int signal);
  pid_t pid() const;

 private:
  mutable std::mutex mu_;  // pid_ against a concurrent Kill
  pid_t pid_ = -1;
};

// Runs crm-device to completion (at most `timeout`, then SIGKILL) and
// returns its exit code (-1 if it did not exit normally); its output goes to
// *output.
int RunDevice(const DeviceIdentity& id, const std::string& server,
              const std::vector<std::string>& args, std::string* output,
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Reads a whole file ("" if missing).
std::string ReadText(const std::string& path);
// Writes a whole file; returns false on failure.
bool WriteText(const std::string& path, const std::string& text);

}  // namespace crmsync::testing

#endif  // CRMSYNC_TESTS_INTEGRATION_DEVICE_PROCESS_H_
