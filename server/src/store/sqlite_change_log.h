// SqliteChangeLog: the change log of the embedded store (one SQLite file,
// WAL mode).
//
// Why it is written apart from PostgresChangeLog: the two databases give the
// per-tenant write lock differently. SQLite has one write lock per file:
// a write transaction starts with BEGIN IMMEDIATE, which takes it at the
// first statement and holds it to COMMIT, so writers are serialised and
// every tenant's sequence numbers commit in increasing order (gap-free
// cursors). Writers of this process additionally queue on a mutex so they
// wait in order instead of polling SQLITE_BUSY; another process sharing the
// file is handled by the busy timeout. Statements run one at a time on the
// local file, so nothing is batched. Reads run on any pooled connection in
// autocommit mode and proceed while a writer commits (WAL).
//
// Thread-safety: every method may be called from any thread. A Write
// callback must not call Write again (it would wait for itself; such a call
// fails with FAILED_PRECONDITION), but may call the read methods.
#ifndef CRMSYNC_SERVER_STORE_SQLITE_CHANGE_LOG_H_
#define CRMSYNC_SERVER_STORE_SQLITE_CHANGE_LOG_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "store/change_log.h"
#include "store/sql_session.h"
#include "store/sqlite_pool.h"

namespace crmsync::server {

class SqliteChangeLog final : public ChangeLog {
 public:
  // `pool` and `sql` (an adapter over the same pool) must outlive it.
  SqliteChangeLog(SqlitePool* pool, SqlDatabase* sql) : pool_(pool), sql_(sql) {}

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
  // Runs `fn` on one connection inside BEGIN IMMEDIATE ... COMMIT with the
  // tenant's sequence row present, retrying busy failures.
  absl::Status RunWrite(const std::string& tenant_id,
                        const std::function<absl::Status(SqliteDb&, bool* retryable)>& fn);

  SqlitePool* pool_;
  SqlDatabase* sql_;
  // Serialises this process's writers (see the file comment).
  absl::Mutex write_mu_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_SQLITE_CHANGE_LOG_H_
