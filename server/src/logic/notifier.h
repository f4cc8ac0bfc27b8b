// Fan-out of "tenant T has committed changes up to seq S" to Subscribe
// streams. In-process for SQLite; PostgresNotifier (store/pg_notifier.h)
// adds LISTEN/NOTIFY so streams on every instance hear about every commit.
#ifndef CRMSYNC_SERVER_LOGIC_NOTIFIER_H_
#define CRMSYNC_SERVER_LOGIC_NOTIFIER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace crmsync::server {

class ChangeNotifier {
 public:
  // Called with (tenant_id, latest_seq) from any thread; must not block and
  // must not call Listen or Unlisten (it runs under the notifier's lock).
  using Listener = std::function<void(const std::string&, int64_t)>;

  virtual ~ChangeNotifier() = default;
  // Registers a listener for one tenant; returns a handle for Unlisten.
  virtual uint64_t Listen(const std::string& tenant_id, Listener listener) = 0;
  // After Unlisten returns, the listener is not running and will not run.
  virtual void Unlisten(uint64_t handle) = 0;
  // Announces a commit (call after it is durable).
  virtual void Publish(const std::string& tenant_id, int64_t latest_seq) = 0;
  // Listeners registered now.
  virtual int64_t ListenerCount() = 0;
};

// Delivers to listeners of this process only. Thread-safe.
class InProcessNotifier : public ChangeNotifier {
 public:
  uint64_t Listen(const std::string& tenant_id, Listener listener) override;
  void Unlisten(uint64_t handle) override;
  void Publish(const std::string& tenant_id, int64_t latest_seq) override;
  int64_t ListenerCount() override;

 protected:
  // Delivers to this process's listeners (used by subclasses that receive
  // remote notifications).
  void Deliver(const std::string& tenant_id, int64_t latest_seq);
  // Tenants that have at least one listener.
  std::set<std::string> Tenants();

 private:
  struct Entry {
    std::string tenant_id;
    Listener listener;
  };
  // Held while delivering, so Unlisten waits for a running delivery.
  absl::Mutex mu_;
  uint64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Entry> listeners_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_NOTIFIER_H_
