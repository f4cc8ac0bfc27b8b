// PgPool: a bounded pool of libpqxx connections.
//
//  * At most Options::max_size connections exist; they are opened on demand
//    (outside the pool lock) and kept idle for reuse.
//  * Acquire blocks until a connection is free or Options::acquire_timeout
//    passes (then UNAVAILABLE). The returned Lease gives the connection back
//    when it ends; a lease marked broken (or whose connection closed) is
//    dropped instead and a fresh connection is opened by a later Acquire.
//  * Options::on_connect runs on every new connection before first use
//    (PostgresStore registers its prepared statements there).
//
// Thread-safety: Acquire and Lease destruction may happen on any thread; a
// leased connection is used by one thread at a time. The pool must outlive
// its leases. No libpqxx exception escapes.
#ifndef CRMSYNC_SERVER_STORE_PG_POOL_H_
#define CRMSYNC_SERVER_STORE_PG_POOL_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <pqxx/connection>
#include <pqxx/transaction_base>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace crmsync::server {

class PgPool {
 public:
  struct Options {
    // libpq connection string or URI.
    std::string conninfo;
    // Most connections open at once (>= 1).
    int max_size = 8;
    // How long Acquire waits for a free connection.
    std::chrono::milliseconds acquire_timeout{10000};
    // Called once on each new connection; may throw (the connection is then
    // discarded and Acquire fails).
    std::function<void(pqxx::connection&)> on_connect;
  };

  class Lease {
   public:
    Lease(PgPool* pool, std::unique_ptr<pqxx::connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& conn() const { return *conn_; }
    // The connection failed: close it instead of returning it to the pool.
    void MarkBroken() { broken_ = true; }

   private:
    PgPool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
    bool broken_ = false;
  };

  // Opens one connection to check the connection string and server.
  static absl::StatusOr<std::unique_ptr<PgPool>> Create(Options options);
  ~PgPool();

  absl::StatusOr<Lease> Acquire();

  // Runs one statement-level unit of work on a pooled connection in
  // autocommit mode (pqxx::nontransaction). `fn` may throw libpqxx
  // exceptions: they become statuses (pg_errors.h). When the connection
  // turns out to be lost, it is dropped and the work run once more on a
  // fresh one, so `fn` must be idempotent. `what` names the work in errors.
  absl::Status RunAutocommit(const char* what,
                             const std::function<absl::Status(pqxx::transaction_base&)>& fn);
  // The same in one transaction with synchronous_commit off (SET LOCAL, so
  // the connection goes back to the pool as it was): its COMMIT does not
  // wait for the WAL flush (Durability::kRelaxed, sql_session.h). Commits
  // if `fn` returns OK.
  absl::Status RunRelaxedCommit(const char* what,
                                const std::function<absl::Status(pqxx::transaction_base&)>& fn);

  int max_size() const { return options_.max_size; }
  // Connections currently open (idle or leased); for tests and metrics.
  int open_connections();
  // Open connections not leased right now; for metrics.
  int idle_connections();

 private:
  explicit PgPool(Options options) : options_(std::move(options)) {}
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect();
  // RunAutocommit's loop: `fn` on a leased connection, once more on a fresh
  // one if the connection was lost before the outcome could be in doubt.
  absl::Status RunWithRetry(const char* what, const std::function<absl::Status(Lease&)>& fn);
  void Release(std::unique_ptr<pqxx::connection> conn, bool broken);

  const Options options_;
  bool CanLease() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !idle_.empty() || open_ < options_.max_size;
  }

  absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_PG_POOL_H_
