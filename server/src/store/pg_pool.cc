#include "store/pg_pool.h"

#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "absl/time/time.h"
#include "store/internal_detail.h"
#include "store/pg_errors.h"

namespace crmsync::server {

absl::StatusOr<std::unique_ptr<PgPool>> PgPool::Create(Options options) {
  if (options.max_size < 1) options.max_size = 1;
  std::unique_ptr<PgPool> pool(new PgPool(std::move(options)));
  auto conn = pool->Connect();
  if (!conn.ok()) return conn.status();
  absl::MutexLock lock(&pool->mu_);
  pool->open_ = 1;
  pool->idle_.push_back(std::move(*conn));
  return pool;
}

PgPool::~PgPool() {
  absl::MutexLock lock(&mu_);
  idle_.clear();  // pqxx::connection closes in its destructor
}

absl::Status PgPool::RunAutocommit(const char* what,
                                   const std::function<absl::Status(pqxx::transaction_base&)>& fn) {
  return RunWithRetry(what, [&](Lease& lease) {
    pqxx::nontransaction tx(lease.conn());
    return fn(tx);
  });
}

absl::Status PgPool::RunRelaxedCommit(
    const char* what, const std::function<absl::Status(pqxx::transaction_base&)>& fn) {
  return RunWithRetry(what, [&](Lease& lease) {
    pqxx::work tx(lease.conn());
    tx.exec0("SET LOCAL synchronous_commit TO OFF");
    absl::Status status = fn(tx);
    if (status.ok()) tx.commit();  // otherwise the destructor rolls back
    return status;
  });
}

absl::Status PgPool::RunWithRetry(const char* what, const std::function<absl::Status(Lease&)>& fn) {
  absl::Status status;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto lease = Acquire();
    if (!lease.ok()) return lease.status();
    try {
      return fn(*lease);
    } catch (...) {
      PgError error = ClassifyPgError(std::current_exception(), what);
      status = error.status;
      if (!error.connection_broken) return status;
      lease->MarkBroken();
      // A pooled connection may have been cut while idle: try the work once
      // on a fresh one, unless its outcome is unknown.
      if (!error.retryable) return status;
    }
  }
  return status;
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> PgPool::Connect() {
  try {
    auto conn = std::make_unique<pqxx::connection>(options_.conninfo);
    if (options_.on_connect) options_.on_connect(*conn);
    return conn;
  } catch (...) {
    PgError error = ClassifyPgError(std::current_exception(), "connecting to PostgreSQL");
    // Any failure to connect is worth retrying later (server starting,
    // network), except a malformed connection string.
    if (error.status.code() == absl::StatusCode::kInternal) return error.status;
    return WithCode(error.status, absl::StatusCode::kUnavailable);
  }
}

absl::StatusOr<PgPool::Lease> PgPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(absl::Condition(this, &PgPool::CanLease),
                              absl::FromChrono(options_.acquire_timeout))) {
      return absl::UnavailableError("no PostgreSQL connection free within " +
                                    std::to_string(options_.acquire_timeout.count()) +
                                    " ms (pool of " + std::to_string(options_.max_size) + ")");
    }
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    ++open_;
  }
  auto conn = Connect();
  if (!conn.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
    return conn.status();
  }
  return Lease(this, std::move(*conn));
}

void PgPool::Release(std::unique_ptr<pqxx::connection> conn, bool broken) {
  bool usable = !broken;
  if (usable) {
    try {
      usable = conn->is_open();
    } catch (...) {
      usable = false;
    }
  }
  absl::MutexLock lock(&mu_);
  if (usable) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
    conn.reset();
  }
}

int PgPool::open_connections() {
  absl::MutexLock lock(&mu_);
  return open_;
}

int PgPool::idle_connections() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(idle_.size());
}

PgPool::Lease::~Lease() {
  if (conn_ != nullptr) pool_->Release(std::move(conn_), broken_);
}

}  // namespace crmsync::server
