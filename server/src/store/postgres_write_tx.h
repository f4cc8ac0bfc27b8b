// PgWriteTx: the WriteTx of PostgresChangeLog. Internal to the store.
//
// Lives on the stack of PostgresChangeLog::DoWrite for one pqxx::work (READ
// COMMITTED) that already holds the tenant's row lock in tenant_seq. Not
// thread-safe. After the first database error the transaction is poisoned
// (PostgreSQL aborts it): every later call returns that error and Write
// rolls back whatever the callback returns.
//
// Round trips are what a Push costs, so the transaction batches them:
//  * NextSeq counts from the latest sequence read when the lock was taken;
//    Finish writes the last number back (a rollback discards it, so the
//    numbers are reused as before).
//  * Records and applied mutations it has read, prefetched or written are
//    kept in a transaction-local cache, absent rows included. Nobody else
//    can change them meanwhile: every write of the tenant's records and
//    applied mutations holds the same row lock.
//  * PutRecord, its scope history and PutApplied are buffered and written
//    by Flush in one multi-row statement per table (array parameters), at
//    Finish or when the buffer grows large. PutApplied knows whether the
//    key exists (cache, or one lookup), so it still answers ALREADY_EXISTS
//    itself; a duplicate the database finds at flush time fails the
//    transaction (unique violation: ALREADY_EXISTS from Write).
//  * SetIndexKeys is buffered too. FindIndexed reads the index without
//    flushing: records whose keys this transaction replaced are taken from
//    the buffer instead of the table, and every record it wrote from the
//    cache. Keys loaded by PrefetchIndexed are kept (with the records under
//    them) and updated by SetIndexKeys: a lookup of such keys is answered
//    without a round trip.
//  * Claims are not buffered (they are read-modify-write counters).
//  * A flush that starts while the batch is still being applied (the buffer
//    reached kEarlyFlushRows rows) runs on a helper thread, so PostgreSQL
//    writes those rows while the caller merges the next ones. One flush is
//    in flight at a time, and the connection is used by one thread at a
//    time: every other use of it (Guard, Finish, failure(), the destructor)
//    first waits for that flush and takes over its error, so statements
//    still run in the order they were issued.
#ifndef CRMSYNC_SERVER_STORE_POSTGRES_WRITE_TX_H_
#define CRMSYNC_SERVER_STORE_POSTGRES_WRITE_TX_H_

#include <cstddef>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <pqxx/result>
#include <pqxx/transaction_base>

#include "absl/container/flat_hash_map.h"
#include "store/change_log.h"
#include "store/pg_errors.h"

namespace crmsync::server {

// A record found through the record index: its type, id and encoded state.
struct PgIndexedRow {
  int entity_type = 0;
  std::string record_id;
  std::string state;
};

// The records of `types` with a key of `kind` in `ranges`, each once, as
// stored (not decoded), in version order.
absl::StatusOr<std::vector<PgIndexedRow>> PgFindIndexedRows(
    pqxx::transaction_base& tx, const std::string& tenant_id, IndexKind kind,
    const std::vector<v1::EntityType>& types, const std::vector<KeyRange>& ranges);

// FindIndexed inside `tx` (a write transaction or a read).
absl::StatusOr<std::vector<v1::RecordState>> PgFindIndexed(pqxx::transaction_base& tx,
                                                           const std::string& tenant_id,
                                                           IndexKind kind, v1::EntityType type,
                                                           const std::vector<KeyRange>& ranges,
                                                           int limit);

class PgWriteTx final : public WriteTx {
 public:
  // `latest_seq`: the tenant's sequence as read under the row lock.
  PgWriteTx(pqxx::transaction_base& work, std::string tenant_id, int64_t latest_seq)
      : work_(work), tenant_id_(std::move(tenant_id)), latest_seq_(latest_seq) {}
  // Waits for a flush still in flight: the transaction outlives no thread.
  ~PgWriteTx() override;
  PgWriteTx(const PgWriteTx&) = delete;
  PgWriteTx& operator=(const PgWriteTx&) = delete;

  // Writes buffered rows and the tenant's latest sequence. Write calls it
  // after a successful callback, before COMMIT.
  absl::Status Finish();

  // Deletes tombstones and scope history at or below `horizon` and raises
  // pruned_through.
  absl::StatusOr<int64_t> Prune(int64_t horizon);

  // The first database error, if any (OK otherwise), once no flush is in
  // flight.
  const PgError& failure() {
    Join();
    return failure_;
  }

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
  // Flushes buffered rows first, then raises and deletes in one statement;
  // cached rows at or below the floor are then known absent.
  absl::StatusOr<AppliedFloor> DoRaiseAppliedFloor(const std::string& device_id,
                                                   int64_t through) override;
  absl::Status DoPrefetch(const std::vector<v1::RecordRef>& refs, const std::string& device_id,
                          const std::vector<int64_t>& client_seqs) override;
  absl::Status DoPrefetchIndexed(IndexKind kind, const std::vector<v1::EntityType>& types,
                                 const std::vector<int64_t>& keys) override;
  absl::Status DoSetIndexKeys(const v1::RecordRef& ref, IndexKind kind,
                              const std::vector<int64_t>& keys) override;
  absl::StatusOr<std::vector<v1::RecordState>> DoFindIndexed(IndexKind kind, v1::EntityType type,
                                                             const std::vector<KeyRange>& ranges,
                                                             int limit) override;
  absl::StatusOr<std::vector<v1::RecordState>> DoFindIndexedIn(
      IndexKind kind, const std::vector<v1::EntityType>& types, const std::vector<KeyRange>& ranges,
      int limit) override;
  absl::Status DoAddFieldHistory(const v1::RecordRef& ref,
                                 std::vector<FieldHistoryRow> rows) override;
  absl::Status DoDropFieldHistory(const v1::RecordRef& ref) override;

 private:
  using RecordKey = std::pair<int, std::string>;       // (entity_type, record_id)
  using AppliedKey = std::pair<std::string, int64_t>;  // (device_id, client_seq)

  // One buffered records row (the last write of its key in this batch).
  struct PendingRecord {
    RecordKey key;
    int64_t version = 0;
    int64_t created_version = 0;  // used if the row is inserted
    int64_t set_created = 0;      // > 0: replaces an existing created_version
    bool deleted = false;
    std::string owner_user_id;
    std::string team_id;
    int64_t scope_changed_version = 0;
    std::string state;  // encoded RecordState
    // Known not to exist in the database: inserted without a lookup.
    bool known_absent = false;
  };
  struct PendingScope {
    RecordKey key;
    int64_t version = 0;
    std::string scope;  // encoded ScopeKeys
  };
  struct PendingApplied {
    AppliedKey key;
    std::string payload_hash;
    std::string result;  // encoded MutationResult
  };

  // Rows buffered for the next flush.
  struct Buffered {
    std::vector<PendingRecord> records;
    std::vector<PendingScope> scopes;
    std::vector<PendingApplied> applied;
    // Field history: records whose rows go (written first), then rows to
    // add by (record, path, version).
    std::set<RecordKey> history_drops;
    std::map<std::tuple<RecordKey, std::string, int64_t>, std::string> history;
    // Index keys by (record, kind): they replace what the table holds.
    std::map<std::pair<RecordKey, int>, std::vector<int64_t>> index;
    size_t size() const {
      return records.size() + scopes.size() + applied.size() + history_drops.size() +
             history.size() + index.size();
    }
  };

  // Runs `fn` (which may throw libpqxx exceptions) unless the transaction
  // is already poisoned; records the first failure. Waits for a flush in
  // flight first.
  template <typename T, typename Fn>
  absl::StatusOr<T> Guard(const char* what, Fn&& fn);

  // Writes the buffered rows (not the sequence), after a flush in flight.
  absl::Status Flush();
  // Flushes a large buffer now, or hands a middling one to the helper
  // thread (unless a flush is still in flight there).
  absl::Status FlushIfLarge();
  // Takes the buffer out, leaving it empty.
  Buffered TakeBuffered();
  // Writes `rows` in one statement per table (throws as libpqxx does).
  void WriteBuffered(const Buffered& rows);
  // Waits for the flush in flight, if any; its error becomes failure_.
  void Join();
  // Deletes the rows at the addresses (ctid) `rows` holds, with `statement`
  // (tenant, tid[]); throws as libpqxx does.
  void DeleteRows(const char* statement, const pqxx::result& rows);
  // Reads one applied mutation from the database into the cache.
  absl::Status LoadApplied(const AppliedKey& key);

  pqxx::transaction_base& work_;
  const std::string tenant_id_;
  const int64_t latest_seq_;
  // Sequences allocated by this transaction: [first_seq_, last_seq_].
  int64_t first_seq_ = 0;
  int64_t last_seq_ = 0;
  PgError failure_;

  // What this transaction knows of rows: their stored bytes (EncodeState;
  // nullopt: known absent), decoded when read.
  std::map<RecordKey, std::optional<std::string>> records_;
  std::map<AppliedKey, std::optional<AppliedMutation>> applied_;
  // Per device whose floor this transaction raised: no applied mutation of
  // it is stored above this client_seq (the floor, or the highest row
  // then), so a lookup above it needs no round trip. Rows this transaction
  // adds are in applied_.
  std::map<std::string, int64_t> applied_high_;

  Buffered pending_;
  std::map<RecordKey, size_t> pending_record_index_;  // its place in pending_.records
  std::set<std::pair<RecordKey, int64_t>> pending_scope_keys_;
  // What the index holds under prefetched (kind, entity_type, key) slots,
  // this transaction's writes included; and, per (record, kind), the
  // prefetched slots it is in.
  using IndexSlot = std::tuple<int, int, int64_t>;
  // Hashed: it holds every key a batch prefetched, and every duplicate
  // check of the batch looks its keys up in it.
  absl::flat_hash_map<IndexSlot, std::set<RecordKey>> index_cache_;
  std::map<std::pair<RecordKey, int>, std::set<int64_t>> cached_keys_of_;
  size_t pending_bytes_ = 0;
  std::future<PgError> in_flight_;  // the flush on the helper thread
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_POSTGRES_WRITE_TX_H_
