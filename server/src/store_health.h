// Health that follows the store: a thread pings the store every interval and
// reports each change between reachable and unreachable, so that
// grpc.health.v1 and /healthz say NOT_SERVING while the database is down
// and SERVING again once it answers.
#ifndef CRMSYNC_SERVER_STORE_HEALTH_H_
#define CRMSYNC_SERVER_STORE_HEALTH_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "store/store.h"

namespace crmsync::server {

class StoreHealth {
 public:
  // `on_change(up)` runs on the checking thread after each change (not for
  // the initial state, which is "up": the store was just opened).
  StoreHealth(Store* store, std::chrono::milliseconds interval,
              std::function<void(bool up)> on_change);
  ~StoreHealth();  // stops the thread
  StoreHealth(const StoreHealth&) = delete;
  StoreHealth& operator=(const StoreHealth&) = delete;

  void Start();
  bool up() const { return up_.load(); }

 private:
  void Run();
  // Waits one interval; true once the destructor asked the thread to stop.
  bool WaitForStop();
  void CheckOnce();

  Store* store_;
  std::chrono::milliseconds interval_;
  std::function<void(bool)> on_change_;
  std::atomic<bool> up_{true};
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_HEALTH_H_
