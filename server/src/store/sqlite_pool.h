// SqlitePool: a small pool of connections to one SQLite file, shared by the
// SQLite store's roles.
//
// At most Options::max_connections connections exist, opened on demand;
// Acquire waits for a free one. A connection goes back to the pool when its
// Lease ends, with any transaction it still has open rolled back.
//
// Thread-safety: Acquire and Lease destruction on any thread; a leased
// connection is used by one thread at a time. The pool outlives its leases.
#ifndef CRMSYNC_SERVER_STORE_SQLITE_POOL_H_
#define CRMSYNC_SERVER_STORE_SQLITE_POOL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "store/sqlite_db.h"

namespace crmsync::server {

class SqlitePool {
 public:
  struct Options {
    // Most open connections (>= 2); callers beyond it wait for a free one.
    int max_connections = 8;
    // How long a statement waits for a lock held by another process before
    // failing with UNAVAILABLE.
    int busy_timeout_ms = 5000;
  };

  class Lease {
   public:
    Lease(SqlitePool* pool, std::unique_ptr<SqliteDb> db) : pool_(pool), db_(std::move(db)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    SqliteDb& operator*() const { return *db_; }
    SqliteDb* operator->() const { return db_.get(); }
    // Closes the connection when the lease ends instead of pooling it (its
    // settings could not be restored).
    void Discard() { discard_ = true; }

   private:
    SqlitePool* pool_;
    std::unique_ptr<SqliteDb> db_;
    bool discard_ = false;
  };

  // Opens one connection to `path` (creating the file if needed) so a bad
  // path fails here, not at first use.
  static absl::StatusOr<std::unique_ptr<SqlitePool>> Open(const std::string& path, Options options);

  absl::StatusOr<Lease> Acquire();

  int max_connections() const { return options_.max_connections; }
  // Connections open (idle or leased) and open but idle; for metrics.
  int open_connections() {
    absl::MutexLock lock(&mu_);
    return open_connections_;
  }
  int idle_connections() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(idle_.size());
  }

 private:
  SqlitePool(std::string path, Options options) : path_(std::move(path)), options_(options) {}
  void Release(std::unique_ptr<SqliteDb> db);
  void Drop(std::unique_ptr<SqliteDb> db);

  const std::string path_;
  const Options options_;
  bool CanLease() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !idle_.empty() || open_connections_ < options_.max_connections;
  }

  absl::Mutex mu_;
  std::vector<std::unique_ptr<SqliteDb>> idle_ ABSL_GUARDED_BY(mu_);
  int open_connections_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_SQLITE_POOL_H_
