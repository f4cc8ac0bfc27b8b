// SqliteWriteTx: the WriteTx of SqliteChangeLog. Internal to the store.
//
// Lives on the stack of SqliteChangeLog::DoWrite for the duration of one
// BEGIN IMMEDIATE transaction; borrows the connection. Not thread-safe.
// After the first database error the transaction is poisoned, as on
// PostgreSQL: every later call returns that error and Write rolls back
// whatever the callback returns.
#ifndef CRMSYNC_SERVER_STORE_SQLITE_WRITE_TX_H_
#define CRMSYNC_SERVER_STORE_SQLITE_WRITE_TX_H_

#include <string>
#include <vector>

#include "store/change_log.h"
#include "store/sqlite_db.h"

namespace crmsync::server {

// FindIndexed on `db` (inside a transaction or not); used by SqliteWriteTx
// and SqliteChangeLog.
absl::StatusOr<std::vector<v1::RecordState>> SqliteFindIndexed(SqliteDb& db,
                                                               const std::string& tenant_id,
                                                               IndexKind kind, v1::EntityType type,
                                                               const std::vector<KeyRange>& ranges,
                                                               int limit);

class SqliteWriteTx final : public WriteTx {
 public:
  SqliteWriteTx(SqliteDb& db, std::string tenant_id) : db_(db), tenant_id_(std::move(tenant_id)) {}

  // Writes the tenant's latest sequence (NextSeq counts in memory). Write
  // calls it after a successful callback, before COMMIT.
  absl::Status Finish();

  // Deletes tombstones and scope history at or below `horizon` and raises
  // the tenant's pruned_through. Used by SqliteChangeLog::DoPrune.
  absl::StatusOr<int64_t> Prune(int64_t horizon);

  // The first database error (OK if none).
  const absl::Status& failure() const { return failure_; }
  // True if a statement failed because the database was busy: the whole
  // transaction should be rolled back and run again.
  bool retryable_failure() const { return absl::IsUnavailable(failure_); }

 protected:
  absl::StatusOr<int64_t> DoNextSeq() override;
  absl::StatusOr<std::optional<v1::RecordState>> DoGetRecord(const v1::RecordRef& ref) override;
  absl::Status DoPutRecord(const v1::RecordState& state,
                           const v1::ScopeKeys* previous_scope) override;
  absl::StatusOr<std::optional<AppliedMutation>> DoGetApplied(const std::string& device_id,
                                                              int64_t client_seq) override;
  absl::Status DoPutApplied(const AppliedMutation& applied) override;
  absl::StatusOr<int64_t> DoAddToClaim(const std::string& key, int64_t delta) override;
  absl::StatusOr<int64_t> DoGetClaim(const std::string& key) override;
  absl::StatusOr<std::vector<ClaimRow>> DoListClaims(const std::string& prefix,
                                                     const std::string& after_key,
                                                     int limit) override;
  absl::StatusOr<int64_t> DoDeleteClaims(const std::vector<std::string>& keys) override;
  absl::StatusOr<AppliedFloor> DoRaiseAppliedFloor(const std::string& device_id,
                                                   int64_t through) override;
  // Does nothing (returns the poisoning error, if any): SQLite reads are
  // in-process and cheap, so there is nothing to batch.
  absl::Status DoPrefetch(const std::vector<v1::RecordRef>& refs, const std::string& device_id,
                          const std::vector<int64_t>& client_seqs) override;
  absl::Status DoSetIndexKeys(const v1::RecordRef& ref, IndexKind kind,
                              const std::vector<int64_t>& keys) override;
  absl::StatusOr<std::vector<v1::RecordState>> DoFindIndexed(IndexKind kind, v1::EntityType type,
                                                             const std::vector<KeyRange>& ranges,
                                                             int limit) override;
  absl::Status DoAddFieldHistory(const v1::RecordRef& ref,
                                 std::vector<FieldHistoryRow> rows) override;
  absl::Status DoDropFieldHistory(const v1::RecordRef& ref) override;

 private:
  // Remembers the first database error, then returns `status`.
  absl::Status Note(absl::Status status);

  SqliteDb& db_;
  const std::string tenant_id_;
  // Sequences allocated by this transaction: [first_seq_, last_seq_]; the
  // latest committed one is read at the first NextSeq (the write lock is
  // held from BEGIN IMMEDIATE).
  int64_t first_seq_ = 0;
  int64_t last_seq_ = 0;
  absl::Status failure_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_SQLITE_WRITE_TX_H_
