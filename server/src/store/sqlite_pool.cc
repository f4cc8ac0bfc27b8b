#include "store/sqlite_pool.h"

namespace crmsync::server {

absl::StatusOr<std::unique_ptr<SqlitePool>> SqlitePool::Open(const std::string& path,
                                                             Options options) {
  if (options.max_connections < 2) options.max_connections = 2;
  std::unique_ptr<SqlitePool> pool(new SqlitePool(path, options));
  auto db = SqliteDb::Open(path, /*create=*/true, options.busy_timeout_ms);
  if (!db.ok()) return db.status();
  absl::MutexLock lock(&pool->mu_);
  pool->open_connections_ = 1;
  pool->idle_.push_back(std::move(*db));
  return pool;
}

SqlitePool::Lease::~Lease() {
  if (db_ == nullptr) return;
  if (discard_) {
    pool_->Drop(std::move(db_));
  } else {
    pool_->Release(std::move(db_));
  }
}

absl::StatusOr<SqlitePool::Lease> SqlitePool::Acquire() {
  {
    absl::MutexLock lock(&mu_, absl::Condition(this, &SqlitePool::CanLease));
    if (!idle_.empty()) {
      std::unique_ptr<SqliteDb> db = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(db));
    }
    ++open_connections_;
  }
  auto db = SqliteDb::Open(path_, /*create=*/true, options_.busy_timeout_ms);
  if (!db.ok()) {
    absl::MutexLock lock(&mu_);
    --open_connections_;
    return db.status();
  }
  return Lease(this, std::move(*db));
}

void SqlitePool::Release(std::unique_ptr<SqliteDb> db) {
  if (db->InTransaction()) db->Exec("ROLLBACK").IgnoreError();  // never pool an open transaction
  absl::MutexLock lock(&mu_);
  idle_.push_back(std::move(db));
}

void SqlitePool::Drop(std::unique_ptr<SqliteDb> db) {
  db.reset();  // closes it
  absl::MutexLock lock(&mu_);
  --open_connections_;
}

}  // namespace crmsync::server
