// SqliteChangeLog: write transactions and the change feed on SQLite. The
// record index is in sqlite_index.cc, the transaction's operations in
// sqlite_write_tx.cc.
#include "store/sqlite_change_log.h"

#include "store/sql_field_history.h"
#include "store/sql_roles.h"
#include "store/sqlite_write_tx.h"
#include "store/store_codec.h"

namespace crmsync::server {

namespace codec = store_codec;

namespace {
// Set while this thread runs a Write callback, to refuse re-entrant writes.
thread_local bool in_write = false;
}  // namespace

absl::Status SqliteChangeLog::RunWrite(
    const std::string& tenant_id,
    const std::function<absl::Status(SqliteDb&, bool* retryable)>& fn) {
  if (in_write) {
    return absl::FailedPreconditionError("ChangeLog::Write called from inside a Write callback");
  }
  absl::Status status;
  for (int attempt = 0; attempt < codec::kMaxWriteAttempts; ++attempt) {
    absl::MutexLock writer(&write_mu_);
    auto db = pool_->Acquire();
    if (!db.ok()) return db.status();
    // BEGIN IMMEDIATE takes the write lock now (not at the first write), so
    // the sequence read below is the latest committed one and stays so.
    status = (*db)->Exec("BEGIN IMMEDIATE");
    if (absl::IsUnavailable(status)) continue;
    if (!status.ok()) return status;
    bool retryable = false;
    auto seq_row = (*db)->Prepare(
        "INSERT OR IGNORE INTO tenant_seq (tenant_id, history_id) "
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

absl::Status SqliteChangeLog::DoWrite(const std::string& tenant_id,
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

absl::StatusOr<int64_t> SqliteChangeLog::DoPrune(const std::string& tenant_id, int64_t horizon) {
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

namespace {

// Hands each feed row after `after_version` (state bytes in place, scope
// change version) to `visit`, in version order, at most `limit`.
template <typename Visit>
absl::Status ScanFeed(SqlitePool* pool, const std::string& tenant_id, int64_t after_version,
                      int limit, Visit visit) {
  auto db = pool->Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "SELECT state, scope_changed_version FROM records WHERE tenant_id = ?1 AND version > ?2 "
      "ORDER BY version LIMIT ?3");  // versions are unique per tenant: the index gives the order
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id).Bind(2, after_version).Bind(3, int64_t{limit});
  while (true) {
    auto more = stmt->Step();
    if (!more.ok()) return more.status();
    if (!*more) return absl::OkStatus();
    if (auto s = visit(stmt->ColumnBlobView(0), stmt->ColumnInt(1)); !s.ok()) return s;
  }
}

}  // namespace

absl::StatusOr<std::vector<RecordRow>> SqliteChangeLog::DoReadSince(const std::string& tenant_id,
                                                                    int64_t after_version,
                                                                    int limit) {
  std::vector<RecordRow> rows;
  absl::Status status =
      ScanFeed(pool_, tenant_id, after_version, limit,
               [&](absl::string_view state, int64_t scope_changed_version) -> absl::Status {
                 RecordRow& row = rows.emplace_back();
                 row.scope_changed_version = scope_changed_version;
                 return codec::DecodeState(state, &row.state);
               });
  if (!status.ok()) return status;
  return rows;
}

absl::StatusOr<std::vector<RecordRow>> SqliteChangeLog::DoReadTypeSince(
    const std::string& tenant_id, v1::EntityType type, int64_t after_version, int limit) {
  auto db = pool_->Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "SELECT state, scope_changed_version FROM records WHERE tenant_id = ?1 AND entity_type = ?2 "
      "AND version > ?3 ORDER BY version LIMIT ?4");  // records_by_type gives the order
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id).Bind(2, int64_t{type}).Bind(3, after_version).Bind(4, int64_t{limit});
  std::vector<RecordRow> rows;
  while (true) {
    auto more = stmt->Step();
    if (!more.ok()) return more.status();
    if (!*more) return rows;
    RecordRow& row = rows.emplace_back();
    row.scope_changed_version = stmt->ColumnInt(1);
    if (auto s = codec::DecodeState(stmt->ColumnBlobView(0), &row.state); !s.ok()) return s;
  }
}

absl::StatusOr<std::vector<ArenaRecordRow>> SqliteChangeLog::DoReadSinceOn(
    const std::string& tenant_id, int64_t after_version, int limit,
    google::protobuf::Arena* arena) {
  std::vector<ArenaRecordRow> rows;
  absl::Status status =
      ScanFeed(pool_, tenant_id, after_version, limit,
               [&](absl::string_view state, int64_t scope_changed_version) -> absl::Status {
                 auto* message = google::protobuf::Arena::CreateMessage<v1::RecordState>(arena);
                 rows.push_back({message, scope_changed_version});
                 return codec::DecodeState(state, message);
               });
  if (!status.ok()) return status;
  return rows;
}

absl::StatusOr<std::optional<v1::RecordState>> SqliteChangeLog::DoGetRecord(
    const std::string& tenant_id, const v1::RecordRef& ref) {
  auto db = pool_->Acquire();
  if (!db.ok()) return db.status();
  SqliteWriteTx reader(**db, tenant_id);  // its GetRecord is a plain SELECT
  return reader.GetRecord(ref);
}

absl::StatusOr<std::vector<v1::ScopeKeys>> SqliteChangeLog::DoScopesDuring(
    const std::string& tenant_id, const v1::RecordRef& ref, int64_t from, int64_t to) {
  auto db = pool_->Acquire();
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

absl::StatusOr<int64_t> SqliteChangeLog::DoLatestSeq(const std::string& tenant_id) {
  auto db = pool_->Acquire();
  if (!db.ok()) return db.status();
  return ReadSeqColumn(**db, "SELECT latest_seq FROM tenant_seq WHERE tenant_id = ?1", tenant_id);
}

absl::StatusOr<FeedState> SqliteChangeLog::DoGetFeedState(const std::string& tenant_id) {
  auto db = pool_->Acquire();
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

absl::Status SqliteChangeLog::DoStartNewHistory(const std::string& tenant_id) {
  auto db = pool_->Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "UPDATE tenant_seq SET history_id = lower(hex(randomblob(8))) WHERE tenant_id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id);
  return stmt->Run();
}

absl::StatusOr<int64_t> SqliteChangeLog::DoPrunedThrough(const std::string& tenant_id) {
  auto db = pool_->Acquire();
  if (!db.ok()) return db.status();
  return ReadSeqColumn(**db, "SELECT pruned_through FROM tenant_seq WHERE tenant_id = ?1",
                       tenant_id);
}

absl::StatusOr<int64_t> SqliteChangeLog::DoScrubAppliedResults(const std::string& tenant_id,
                                                               const v1::RecordRef& ref) {
  return SqlScrubAppliedResults(*sql_, tenant_id, ref);
}

absl::StatusOr<std::vector<std::string>> SqliteChangeLog::DoReadFieldHistory(
    const std::string& tenant_id, const v1::RecordRef& ref, const std::string& path, int limit) {
  return SqlReadFieldHistory(*sql_, tenant_id, ref, path, limit);
}

absl::StatusOr<int64_t> SqliteChangeLog::DoTrimFieldHistory(const std::string& tenant_id,
                                                            int depth) {
  return SqlTrimFieldHistory(*sql_, tenant_id, depth);
}

}  // namespace crmsync::server
