// ChangeNotifier across crm-syncd instances sharing one PostgreSQL:
// Publish delivers locally and sends NOTIFY on channel "crmsync_changes"
// (payload "tenant_id:seq"); a listener thread LISTENs on its own connection
// and delivers what other instances announce. After a lost connection it
// reconnects with backoff and wakes every local listener once, since
// notifications may have been missed meanwhile.
#ifndef CRMSYNC_SERVER_NOTIFY_PG_NOTIFIER_H_
#define CRMSYNC_SERVER_NOTIFY_PG_NOTIFIER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "logic/notifier.h"

namespace crmsync::server {

class PostgresNotifier final : public InProcessNotifier {
 public:
  // `conninfo`: a libpq connection string or URI. Starts the listener thread.
  explicit PostgresNotifier(std::string conninfo);
  ~PostgresNotifier() override;

  void Publish(const std::string& tenant_id, int64_t latest_seq) override;

  // Whether the LISTEN connection is up (for health and tests).
  bool listening() const { return listening_.load(); }

 private:
  void ListenLoop();
  void Wake(const std::string& payload);
  void WakeAll();

  std::string conninfo_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> listening_{false};
  absl::Mutex publish_mu_;
  struct PublishConnection;  // wraps the libpqxx connection used for NOTIFY
  std::unique_ptr<PublishConnection> publish_conn_ ABSL_GUARDED_BY(publish_mu_);
  std::thread thread_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_NOTIFY_PG_NOTIFIER_H_
