// SqliteStore: connection pool, write transactions and the change feed.
// The directory tables are in sqlite_directory.cc.
#include "store/sqlite_store.h"

#include <fcntl.h>
#include <unistd.h>

#include "store/sqlite_schema.h"
#include "store/sqlite_write_tx.h"
#include "store/store_codec.h"

namespace crmsync::server {

namespace codec = store_codec;

namespace {
// Set while this thread runs a Write callback, to refuse re-entrant writes.
thread_local bool in_write = false;
}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               Options options) {
  if (path.empty() || path == ":memory:" || path.rfind("file::memory:", 0) == 0) {
    return absl::InvalidArgumentError("sqlite store needs a file path, got '" + path + "'");
  }
  if (options.max_connections < 2) options.max_connections = 2;
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, options));
  // A new store file is the owner's only (it holds password hashes and
  // customer data); SQLite gives its -wal and -shm files the same mode. Only
  // when the file is missing: closing a descriptor of a file this process
  // has open in SQLite would drop SQLite's locks on it.
  if (::access(path.c_str(), F_OK) != 0) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
  // Open one connection now so a bad path fails here, not at first use.
  auto db = SqliteDb::Open(path, /*create=*/true, options.busy_timeout_ms);
  if (!db.ok()) return db.status();
  store->open_connections_ = 1;
  store->idle_.push_back(std::move(*db));
  return store;
}

SqliteStore::~SqliteStore() = default;

SqliteStore::Lease::~Lease() {
  if (db_ != nullptr) store_->Release(std::move(db_));
}

absl::StatusOr<SqliteStore::Lease> SqliteStore::Acquire() {
  std::unique_lock<std::mutex> lock(pool_mu_);
  pool_cv_.wait(lock, [&] { return !idle_.empty() || open_connections_ < options_.max_connections; });
  if (!idle_.empty()) {
    std::unique_ptr<SqliteDb> db = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(db));
  }
  ++open_connections_;
  lock.unlock();
  auto db = SqliteDb::Open(path_, /*create=*/true, options_.busy_timeout_ms);
  if (!db.ok()) {
    lock.lock();
    --open_connections_;
    pool_cv_.notify_one();
    return db.status();
  }
  return Lease(this, std::move(*db));
}

void SqliteStore::Release(std::unique_ptr<SqliteDb> db) {
  if (db->InTransaction()) db->Exec("ROLLBACK").IgnoreError();  // never pool an open transaction
  std::lock_guard<std::mutex> lock(pool_mu_);
  idle_.push_back(std::move(db));
  pool_cv_.notify_one();
}

absl::Status SqliteStore::Migrate() {
  auto db = Acquire();
  if (!db.ok()) return db.status();
  absl::Status status;
  for (int attempt = 0; attempt < codec::kMaxWriteAttempts; ++attempt) {
    status = ApplySqliteMigrations(**db);
    if (!absl::IsUnavailable(status)) break;
  }
  return status;
}

absl::Status SqliteStore::RunWrite(
    const std::string& tenant_id,
    const std::function<absl::Status(SqliteDb&, bool* retryable)>& fn) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (in_write) {
    return absl::FailedPreconditionError("Store::Write called from inside a Write callback");
  }
  absl::Status status;
  for (int attempt = 0; attempt < codec::kMaxWriteAttempts; ++attempt) {
    std::lock_guard<std::mutex> writer(write_mu_);
    auto db = Acquire();
    if (!db.ok()) return db.status();
    // BEGIN IMMEDIATE takes the write lock now (not at the first write), so
    // the sequence read below is the latest committed one and stays so.
    status = (*db)->Exec("BEGIN IMMEDIATE");
    if (absl::IsUnavailable(status)) continue;
    if (!status.ok()) return status;
    bool retryable = false;
    auto seq_row = (*db)->Prepare("INSERT OR IGNORE INTO tenant_seq (tenant_id, history_id) "
                                  "VALUES (?1, lower(hex(randomblob(8))))");
    if (!seq_row.ok()) {
      status = seq_row.status();
    } else {
      seq_row->Bind(1, tenant_id);
      status = seq_row->Run();
      retryable = absl::IsUnavailable(status);
    }
    if (status.ok()) {
      in_write = true;
      status = fn(**db, &retryable);
      in_write = false;
    }
    if (status.ok()) {
      status = (*db)->Exec("COMMIT");
      if (status.ok()) return status;
      retryable = absl::IsUnavailable(status);
    }
    (*db)->Exec("ROLLBACK").IgnoreError();
    if (!retryable) return status;
  }
  return status;  // still busy after every attempt: UNAVAILABLE
}

absl::Status SqliteStore::Write(const std::string& tenant_id,
                                const std::function<absl::Status(WriteTx&)>& fn) {
  return RunWrite(tenant_id, [&](SqliteDb& db, bool* retryable) {
    SqliteWriteTx tx(db, tenant_id);
    absl::Status status = fn(tx);
    if (status.ok()) status = tx.Finish();  // the sequence, before COMMIT
    *retryable = tx.retryable_failure();
    // A database error poisons the transaction even if fn went on.
    if (status.ok() && !tx.failure().ok()) status = tx.failure();
    return status;
  });
}

absl::StatusOr<int64_t> SqliteStore::Prune(const std::string& tenant_id, int64_t horizon) {
  int64_t removed = 0;
  absl::Status status = RunWrite(tenant_id, [&](SqliteDb& db, bool* retryable) {
    SqliteWriteTx tx(db, tenant_id);
    auto n = tx.Prune(horizon);
    *retryable = tx.retryable_failure();
    if (!n.ok()) return n.status();
    removed = *n;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return removed;
}

absl::StatusOr<std::vector<RecordRow>> SqliteStore::ReadSince(const std::string& tenant_id,
                                                              int64_t after_version, int limit) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (limit <= 0) return absl::InvalidArgumentError("ReadSince limit must be positive");
  if (after_version < 0) return absl::InvalidArgumentError("ReadSince version must not be negative");
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "SELECT state, scope_changed_version FROM records WHERE tenant_id = ?1 AND version > ?2 "
      "ORDER BY version LIMIT ?3");  // versions are unique per tenant: the index gives the order
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id).Bind(2, after_version).Bind(3, int64_t{limit});
  std::vector<RecordRow> rows;
  while (true) {
    auto more = stmt->Step();
    if (!more.ok()) return more.status();
    if (!*more) break;
    RecordRow row;
    if (auto s = codec::Decode(stmt->ColumnBlob(0), &row.state, "record"); !s.ok()) return s;
    row.scope_changed_version = stmt->ColumnInt(1);
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<std::optional<v1::RecordState>> SqliteStore::GetRecord(const std::string& tenant_id,
                                                                     const v1::RecordRef& ref) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  SqliteWriteTx reader(**db, tenant_id);  // its GetRecord is a plain SELECT
  return reader.GetRecord(ref);
}

absl::StatusOr<std::vector<v1::ScopeKeys>> SqliteStore::ScopesDuring(const std::string& tenant_id,
                                                                    const v1::RecordRef& ref,
                                                                    int64_t from, int64_t to) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckRef(ref); !s.ok()) return s;
  if (from > to) return absl::InvalidArgumentError("scope window ends before it starts");
  auto db = Acquire();
  if (!db.ok()) return db.status();
  // One statement, so the record and its history come from one snapshot.
  auto stmt = (*db)->Prepare(
      "SELECT r.created_version, r.state, h.version, h.scope FROM records r "
      "LEFT JOIN scope_history h ON h.tenant_id = r.tenant_id "
      "  AND h.entity_type = r.entity_type AND h.record_id = r.record_id AND h.version > ?4 "
      "WHERE r.tenant_id = ?1 AND r.entity_type = ?2 AND r.record_id = ?3 "
      "ORDER BY h.version");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id).Bind(2, int64_t{ref.entity_type()}).Bind(3, ref.id()).Bind(4, from);
  codec::ScopesDuringBuilder builder(from, to);
  bool found = false;
  int64_t created_version = 0;
  std::string state;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (!found) {
      found = true;
      created_version = stmt->ColumnInt(0);
      state = stmt->ColumnBlob(1);
    }
    if (stmt->ColumnIsNull(2)) break;
    auto wanted = builder.AddHistory(stmt->ColumnInt(2), stmt->ColumnBlob(3));
    if (!wanted.ok()) return wanted.status();
    if (!*wanted) break;
  }
  if (!found) return std::vector<v1::ScopeKeys>();
  return builder.Finish(created_version, state);
}

namespace {

absl::StatusOr<int64_t> ReadSeqColumn(SqliteDb& db, const char* sql, const std::string& tenant_id) {
  auto stmt = db.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id);
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row ? stmt->ColumnInt(0) : int64_t{0};
}

}  // namespace

absl::StatusOr<int64_t> SqliteStore::LatestSeq(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  return ReadSeqColumn(**db, "SELECT latest_seq FROM tenant_seq WHERE tenant_id = ?1", tenant_id);
}

absl::StatusOr<FeedState> SqliteStore::GetFeedState(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "SELECT latest_seq, pruned_through, history_id FROM tenant_seq WHERE tenant_id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id);
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  FeedState feed;
  if (*row) {
    feed.latest_seq = stmt->ColumnInt(0);
    feed.pruned_through = stmt->ColumnInt(1);
    feed.history_id = stmt->ColumnText(2);
  }
  return feed;
}

absl::Status SqliteStore::StartNewHistory(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "UPDATE tenant_seq SET history_id = lower(hex(randomblob(8))) WHERE tenant_id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id);
  return stmt->Run();
}

absl::StatusOr<int64_t> SqliteStore::PrunedThrough(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  return ReadSeqColumn(**db, "SELECT pruned_through FROM tenant_seq WHERE tenant_id = ?1",
                       tenant_id);
}

}  // namespace crmsync::server
