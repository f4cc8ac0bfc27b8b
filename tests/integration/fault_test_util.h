// Small helpers of the crash and network-fault tests.
#ifndef CRMSYNC_TESTS_INTEGRATION_FAULT_TEST_UTIL_H_
#define CRMSYNC_TESTS_INTEGRATION_FAULT_TEST_UTIL_H_

#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "server_process.h"

namespace crmsync::testing {

using SteadyClock = std::chrono::steady_clock;

inline double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// Waits for `pred` (polled every 10 ms) up to `timeout`: waiting for a
// condition with a deadline, never a fixed sleep.
template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (!pred()) {
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval
  }
  return true;
}

// True while the server process runs (it is reaped if it exited).
inline bool Alive(const ServerProcess& server) {
  int status = 0;
  return server.pid() > 0 && waitpid(server.pid(), &status, WNOHANG) == 0;
}

}  // namespace crmsync::testing

#endif  // CRMSYNC_TESTS_INTEGRATION_FAULT_TEST_UTIL_H_
