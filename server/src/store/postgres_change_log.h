// PostgresChangeLog: the change log of the production store (PostgreSQL via
// libpqxx 6.4).
//
// Why it is written apart from SqliteChangeLog: PostgreSQL has no single
// write lock, and several crm-syncd instances may share one database. The
// per-tenant write lock is a row: every write transaction (READ COMMITTED)
// first locks its tenant's row in tenant_seq with SELECT ... FOR UPDATE and
// keeps it to COMMIT. Writers of one tenant are therefore serialised across
// all instances, each allocates sequences above every committed one, and
// they commit in sequence order: a reader that saw version N can never later
// find a committed version < N it has not seen (gap-free cursors). A
// rolled-back transaction's sequence increment rolls back with it, so
// numbers are reused rather than skipped. Because every statement is a
// network round trip, the transaction batches: Prefetch loads many rows in
// one statement, writes are buffered and flushed in multi-row statements.
//  * Serialization failures, deadlocks and connections lost before COMMIT
//    roll back and re-run the callback (store_codec::kMaxWriteAttempts in
//    all); a COMMIT whose outcome is unknown is never re-run (UNAVAILABLE).
//  * At most half of the pool may be held by write transactions, so a Write
//    callback that reads through the store (as Push does with ScopeAt)
//    always finds a connection.
//
// Thread-safety: every method may be called from any thread. A Write
// callback must not call Write again (it would wait for its own lock).
#ifndef CRMSYNC_SERVER_STORE_POSTGRES_CHANGE_LOG_H_
#define CRMSYNC_SERVER_STORE_POSTGRES_CHANGE_LOG_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "store/change_log.h"
#include "store/sql_session.h"

namespace pqxx {
class transaction_base;
}  // namespace pqxx

namespace crmsync::server {

class PgPool;
struct PgError;

class PostgresChangeLog final : public ChangeLog {
 public:
  // `pool` and `sql` (an adapter over the same pool) must outlive it.
  // `writer_wait`: how long a write waits for a writer slot.
  PostgresChangeLog(PgPool* pool, SqlDatabase* sql, std::chrono::milliseconds writer_wait);

 protected:
  absl::Status DoWrite(const std::string& tenant_id,
                       const std::function<absl::Status(WriteTx&)>& fn) override;
  absl::StatusOr<std::vector<RecordRow>> DoReadTypeSince(const std::string& tenant_id,
                                                         v1::EntityType type, int64_t after_version,
                                                         int limit) override;
  absl::StatusOr<std::vector<RecordRow>> DoReadSince(const std::string& tenant_id,
                                                     int64_t after_version, int limit) override;
  absl::StatusOr<std::vector<ArenaRecordRow>> DoReadSinceOn(
      const std::string& tenant_id, int64_t after_version, int limit,
      google::protobuf::Arena* arena) override;
  absl::StatusOr<std::optional<v1::RecordState>> DoGetRecord(const std::string& tenant_id,
                                                             const v1::RecordRef& ref) override;
  absl::StatusOr<std::vector<v1::ScopeKeys>> DoScopesDuring(const std::string& tenant_id,
                                                            const v1::RecordRef& ref, int64_t from,
                                                            int64_t to) override;
  absl::StatusOr<std::vector<v1::RecordState>> DoFindIndexed(const std::string& tenant_id,
                                                             IndexKind kind, v1::EntityType type,
                                                             const std::vector<KeyRange>& ranges,
                                                             int limit) override;
  absl::StatusOr<int64_t> DoLatestSeq(const std::string& tenant_id) override;
  absl::StatusOr<FeedState> DoGetFeedState(const std::string& tenant_id) override;
  absl::Status DoStartNewHistory(const std::string& tenant_id) override;
  absl::StatusOr<int64_t> DoPrunedThrough(const std::string& tenant_id) override;
  absl::StatusOr<int64_t> DoPrune(const std::string& tenant_id, int64_t horizon) override;
  absl::StatusOr<int64_t> DoScrubAppliedResults(const std::string& tenant_id,
                                                const v1::RecordRef& ref) override;
  absl::StatusOr<std::vector<std::string>> DoReadFieldHistory(const std::string& tenant_id,
                                                              const v1::RecordRef& ref,
                                                              const std::string& path,
                                                              int limit) override;
  absl::StatusOr<int64_t> DoTrimFieldHistory(const std::string& tenant_id, int depth) override;

 private:
  // Runs `body` in a write transaction holding `tenant_id`'s row lock,
  // retrying retryable failures. `body` gets the locked latest sequence and
  // reports database errors it caught in `failure`.
  using WriteBody = std::function<absl::Status(pqxx::transaction_base& work, int64_t latest_seq,
                                               PgError* failure)>;
  absl::Status RunWrite(const std::string& tenant_id, const WriteBody& body);

  // The record index's hash index (migration 14) without statistics (a new
  // database, a restored one, a table filled faster than autovacuum
  // analyses it) is read with a bitmap scan per key, several times the
  // cost of the plain scan statistics lead to. After a write, at most once
  // a second until statistics exist, this looks for them and, when they
  // are missing and the table holds at least kIndexStatsMinPages pages,
  // analyses it: what PostgreSQL advises after a bulk load. Best effort:
  // an error waits for the next check.
  void EnsureIndexStatistics();
  static constexpr int64_t kIndexStatsMinPages = 10;
  std::atomic<bool> index_stats_seen_{false};
  std::atomic<int64_t> next_index_stats_check_ms_{0};

  PgPool* pool_;
  SqlDatabase* sql_;
  const std::chrono::milliseconds writer_wait_;
  // Write transactions in flight, at most max_writers_ (see file comment).
  bool WriterSlotFree() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(writers_mu_) {
    return writers_ < max_writers_;
  }
  absl::Mutex writers_mu_;
  int writers_ ABSL_GUARDED_BY(writers_mu_) = 0;
  const int max_writers_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_POSTGRES_CHANGE_LOG_H_
