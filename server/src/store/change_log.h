// The change log: the store role that holds every tenant's records and
// their change feed (see docs/protocol.md, "Change feed").
//
// Model:
//  * Every tenant has one change sequence. A write transaction holds the
//    tenant's write lock from its first statement to commit, so sequence
//    numbers are committed in increasing order: a reader that has seen seq N
//    will never later find a committed change < N it has not seen
//    (gap-free cursors).
//  * A record row holds the record's whole RecordState; its `version` is the
//    sequence of its last change. The change feed is the records table read
//    in version order (each record appears once, at its latest change);
//    deletions stay as tombstone rows until pruned.
//  * When a record's scope keys change, the previous scope is kept in a
//    scope history, so a Pull can tell a device that a record left its scope.
//  * Applied mutations are kept per (device, client_seq) with a hash of their
//    payload and their result, which makes Push exactly-once. Each device
//    has an applied floor: its rows at or below it are gone (the device
//    acknowledged their results, or was forgotten after the retention), and
//    a mutation at or below it must never be applied again.
//
// Two implementations (SqliteChangeLog, PostgresChangeLog): this is the one
// role whose SQL is written per database, because the write lock is (see
// sqlite_change_log.h and postgres_change_log.h). Input is validated here,
// once, in the public non-virtual methods; implementations override the
// protected Do* methods and see only validated input.
//
// Thread-safety: a ChangeLog is shared by all server threads; every method is
// thread-safe. Errors are returned as absl::Status (never thrown):
//  INVALID_ARGUMENT for input the store refuses (names the field),
//  UNAVAILABLE for connection loss / busy database (retryable),
//  ABORTED for serialization failures that exhausted their retries,
//  INTERNAL for anything else unexpected.
#ifndef CRMSYNC_SERVER_STORE_CHANGE_LOG_H_
#define CRMSYNC_SERVER_STORE_CHANGE_LOG_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crmsync/v1/entities.pb.h"
#include "crmsync/v1/sync.pb.h"
#include "google/protobuf/arena.h"

namespace crmsync::server {

namespace v1 = ::crmsync::v1;

// Where a tenant's change feed stands.
struct FeedState {
  int64_t latest_seq = 0;
  int64_t pruned_through = 0;
  // Names this history of the feed: random, replaced by StartNewHistory
  // (after a restore from a backup). Empty for a tenant that never wrote.
  std::string history_id;
};

// One row of the change feed.
struct RecordRow {
  v1::RecordState state;
  // Version of the last change that altered the record's scope keys (0 if
  // never changed since creation).
  int64_t scope_changed_version = 0;
};

// A feed row whose state lives on an arena (ChangeLog::ReadSinceOn).
struct ArenaRecordRow {
  v1::RecordState* state = nullptr;  // owned by the arena
  int64_t scope_changed_version = 0;
};

// A mutation already applied, for exactly-once Push.
struct AppliedMutation {
  std::string device_id;
  int64_t client_seq = 0;
  // SHA-256 (raw 32 bytes or hex, as written) of the mutation's canonical
  // encoding; a retry with a different hash is a client_seq reuse.
  std::string payload_hash;
  v1::MutationResult result;
};

// A device's applied floor after RaiseAppliedFloor / ForgetAppliedResults.
struct AppliedFloor {
  // Every applied-mutation row of the device with client_seq <= floor is
  // gone; 0 if none was ever removed.
  int64_t floor = 0;
  // Rows deleted by this call.
  int64_t rows_removed = 0;
};

// One unique-claim counter (WriteTx::ListClaims).
struct ClaimRow {
  std::string key;
  int64_t value = 0;
};

// One value of a record's field kept for its lineage (WriteTx::PutRecord
// adds them; docs/stewardship.md). `entry` is an encoded FieldHistoryEntry.
struct FieldHistoryRow {
  std::string path;
  int64_t version = 0;
  std::string entry;
};

// Secondary index of records by integer keys, kept by the server logic
// (logic/coupon_index.h): which cells a coupon's geofence or a store's
// location covers, and when a coupon expires; the normalised identity keys
// of leads, contacts and accounts (logic/duplicates.h).
enum class IndexKind : int {
  kGeoCell = 1,
  kExpiry = 2,
  kDuplicateKey = 3,
  kReference = 4,
  // A custom field definition, keyed by the number of the entity type it
  // belongs to (logic/custom_fields.h).
  kCustomFieldOf = 5,
};

// Whether FindIndexed takes ranges of `kind` wider than one key: geo cells
// and expiry times only. The other kinds are looked up one key at a time
// (lo == hi), which lets PostgreSQL keep them in a hash index.
inline bool IndexKindHasRanges(IndexKind kind) {
  return kind == IndexKind::kGeoCell || kind == IndexKind::kExpiry;
}

// A closed range of index keys.
struct KeyRange {
  int64_t lo = 0;
  int64_t hi = 0;
};

// Operations inside one write transaction of one tenant. Obtained only from
// ChangeLog::Write; not thread-safe; invalid after the callback returns.
// The public methods validate their input and call the Do* methods.
class WriteTx {
 public:
  virtual ~WriteTx() = default;

  // Most claims ListClaims returns and DeleteClaims takes in one call.
  static constexpr int kMaxClaimPage = 1000;

  // Allocates the next change sequence of the tenant (latest + 1). Sequences
  // allocated in a transaction that rolls back are reused.
  absl::StatusOr<int64_t> NextSeq() { return DoNextSeq(); }

  // The record, or nullopt if it never existed (tombstones are returned).
  absl::StatusOr<std::optional<v1::RecordState>> GetRecord(const v1::RecordRef& ref);

  // Inserts or replaces the record row. `state.version` must be a sequence
  // allocated in this transaction. If `previous_scope` is set, the record's
  // scope changed in this write and the old keys go to the scope history.
  // Field history (when the change log keeps it, depth > 1): copy on write,
  // each field this write set (its FieldState.version is state.version)
  // keeps the value it replaces with that value's stamp (version, clock
  // reading, provenance); a create keeps nothing; a tombstone (delete,
  // erasure) drops the record's history. Conflict records keep none.
  absl::Status PutRecord(const v1::RecordState& state, const v1::ScopeKeys* previous_scope);
  // Drops the field history of one record (its replaced values), this
  // transaction's rows included: erasing personal values it held.
  absl::Status DropFieldHistory(const v1::RecordRef& ref);

  // The stored result of (device_id, client_seq), if that mutation was applied.
  absl::StatusOr<std::optional<AppliedMutation>> GetApplied(const std::string& device_id,
                                                            int64_t client_seq);
  // ALREADY_EXISTS if (device_id, client_seq) is already recorded; the
  // stored record is kept and the transaction stays usable.
  absl::Status PutApplied(const AppliedMutation& applied);

  // Unique-claim counters (coupon limits): adds `delta` to the counter named
  // `key` (created at 0) and returns the new value.
  absl::StatusOr<int64_t> AddToClaim(const std::string& key, int64_t delta);
  absl::StatusOr<int64_t> GetClaim(const std::string& key);
  // Claims whose key starts with `prefix` and sorts after `after_key`
  // (bytewise), in key order, at most `limit` (1..kMaxClaimPage).
  absl::StatusOr<std::vector<ClaimRow>> ListClaims(const std::string& prefix,
                                                   const std::string& after_key, int limit);
  // Deletes the named claims (absent ones are ignored); returns how many
  // rows went. A deleted counter reads 0 again.
  absl::StatusOr<int64_t> DeleteClaims(const std::vector<std::string>& keys);

  // Bounded exactly-once log (docs/storage.md, "Bounded storage"):
  //  * RaiseAppliedFloor sets the device's floor to max(floor, through)
  //    (through >= 0; 0 only reads it) and deletes the device's applied
  //    mutations at or below the new floor, in this transaction. Returns
  //    the floor in effect. The caller must never apply a mutation of the
  //    device at or below it: its result is gone, so a retry could not be
  //    recognised.
  //  * ForgetAppliedResults raises the floor to the device's highest applied
  //    client_seq and deletes all its rows (a device silent past the
  //    retention, or revoked).
  absl::StatusOr<AppliedFloor> RaiseAppliedFloor(const std::string& device_id, int64_t through);
  absl::StatusOr<AppliedFloor> ForgetAppliedResults(const std::string& device_id);

  // Batching (a performance hint; results never depend on it):
  //  * Prefetch loads the records `refs` and the applied mutations
  //    (device_id, client_seqs[i]) in a few statements, so that later
  //    GetRecord/GetApplied of them are served from the transaction without
  //    a database round trip (absent rows are remembered as absent).
  //    Duplicates are allowed; rows this transaction already wrote or read
  //    keep their value. Refs (or a device id) that GetRecord (GetApplied)
  //    would refuse are skipped, to be reported by that call. A database
  //    error poisons the transaction.
  //  * PutRecord/PutApplied may be buffered and written in multi-row
  //    statements before commit; GetRecord/GetApplied of this transaction
  //    always see them, other readers only after commit, and a rollback
  //    discards them. Validation errors and ALREADY_EXISTS of PutApplied are
  //    still returned by the call itself; should the database nevertheless
  //    refuse a buffered row when it is written, Write rolls back and
  //    returns that error (ALREADY_EXISTS for a duplicate key).
  //  * NextSeq may count in memory; the tenant's latest sequence is written
  //    once before commit.
  absl::Status Prefetch(const std::vector<v1::RecordRef>& refs, const std::string& device_id,
                        const std::vector<int64_t>& client_seqs);
  //  * PrefetchIndexed loads what FindIndexed/FindIndexedIn of single keys
  //    `keys` of `kind` among `types` will find (and the records found), so
  //    that those lookups are served from the transaction; the
  //    transaction's own SetIndexKeys keep that knowledge current.
  absl::Status PrefetchIndexed(IndexKind kind, const std::vector<v1::EntityType>& types,
                               const std::vector<int64_t>& keys);

  // Replaces the index keys of kind `kind` of the record (none: removes it
  // from that index). Keys are independent of the record row: the caller
  // keeps them in step with the record.
  absl::Status SetIndexKeys(const v1::RecordRef& ref, IndexKind kind,
                            const std::vector<int64_t>& keys);
  // Records of `type` with a key of `kind` inside one of `ranges`, each
  // once, in version order, at most `limit` (0 = all); sees this
  // transaction's writes.
  absl::StatusOr<std::vector<v1::RecordState>> FindIndexed(IndexKind kind, v1::EntityType type,
                                                           const std::vector<KeyRange>& ranges,
                                                           int limit);
  // The same over several types at once (one read where the store can).
  absl::StatusOr<std::vector<v1::RecordState>> FindIndexedIn(
      IndexKind kind, const std::vector<v1::EntityType>& types, const std::vector<KeyRange>& ranges,
      int limit);

 protected:
  // The operations above, called with validated input.
  virtual absl::StatusOr<int64_t> DoNextSeq() = 0;
  virtual absl::StatusOr<std::optional<v1::RecordState>> DoGetRecord(const v1::RecordRef& ref) = 0;
  virtual absl::Status DoPutRecord(const v1::RecordState& state,
                                   const v1::ScopeKeys* previous_scope) = 0;
  virtual absl::StatusOr<std::optional<AppliedMutation>> DoGetApplied(const std::string& device_id,
                                                                      int64_t client_seq) = 0;
  virtual absl::Status DoPutApplied(const AppliedMutation& applied) = 0;
  virtual absl::StatusOr<int64_t> DoAddToClaim(const std::string& key, int64_t delta) = 0;
  virtual absl::StatusOr<int64_t> DoGetClaim(const std::string& key) = 0;
  virtual absl::StatusOr<std::vector<ClaimRow>> DoListClaims(const std::string& prefix,
                                                             const std::string& after_key,
                                                             int limit) = 0;
  virtual absl::StatusOr<int64_t> DoDeleteClaims(const std::vector<std::string>& keys) = 0;
  // `through` >= 0, or kThroughHighestApplied (ForgetAppliedResults).
  static constexpr int64_t kThroughHighestApplied = -1;
  virtual absl::StatusOr<AppliedFloor> DoRaiseAppliedFloor(const std::string& device_id,
                                                           int64_t through) = 0;
  virtual absl::Status DoPrefetch(const std::vector<v1::RecordRef>& refs,
                                  const std::string& device_id,
                                  const std::vector<int64_t>& client_seqs) = 0;
  // By default nothing (a store whose reads are cheap).
  virtual absl::Status DoPrefetchIndexed(IndexKind kind, const std::vector<v1::EntityType>& types,
                                         const std::vector<int64_t>& keys) {
    return absl::OkStatus();
  }
  virtual absl::Status DoSetIndexKeys(const v1::RecordRef& ref, IndexKind kind,
                                      const std::vector<int64_t>& keys) = 0;
  virtual absl::StatusOr<std::vector<v1::RecordState>> DoFindIndexed(
      IndexKind kind, v1::EntityType type, const std::vector<KeyRange>& ranges, int limit) = 0;
  // By default one DoFindIndexed per type.
  virtual absl::StatusOr<std::vector<v1::RecordState>> DoFindIndexedIn(
      IndexKind kind, const std::vector<v1::EntityType>& types, const std::vector<KeyRange>& ranges,
      int limit);
  // Field history of one record: adds rows (a row with the same path and
  // version replaces the earlier one), or drops all of the record's rows.
  virtual absl::Status DoAddFieldHistory(const v1::RecordRef& ref,
                                         std::vector<FieldHistoryRow> rows) = 0;
  virtual absl::Status DoDropFieldHistory(const v1::RecordRef& ref) = 0;

 private:
  friend class ChangeLog;
  // Values kept per field; 0: no field history is written.
  int field_history_depth_ = 0;
};

class ChangeLog {
 public:
  virtual ~ChangeLog() = default;

  // Runs `fn` in one transaction holding `tenant_id`'s write lock. Commits if
  // `fn` returns OK; rolls back and returns fn's status otherwise. On a
  // retryable failure (serialization, deadlock, busy) the transaction is
  // rolled back and `fn` re-run, a bounded number of times, so `fn` must not
  // have side effects outside the transaction. A database error inside the
  // transaction (not a validation error) poisons it: later WriteTx calls
  // return that error and the transaction rolls back even if `fn` returns
  // OK. `fn` may call the read methods of the store's roles but not Write.
  absl::Status Write(const std::string& tenant_id, const std::function<absl::Status(WriteTx&)>& fn);

  // ---- the change feed (committed data only) ----

  // Records with version > after_version, in version order, at most `limit`.
  absl::StatusOr<std::vector<RecordRow>> ReadSince(const std::string& tenant_id,
                                                   int64_t after_version, int limit);
  // The same rows with each state parsed onto `arena` (not null; the rows
  // are valid while it is): a reader that drops its rows after each batch
  // frees them in one go, without a free per string and map entry.
  absl::StatusOr<std::vector<ArenaRecordRow>> ReadSinceOn(const std::string& tenant_id,
                                                          int64_t after_version, int limit,
                                                          google::protobuf::Arena* arena);
  // Records of one entity type with version > after_version, in version
  // order, at most `limit` (tombstones included): what ReadSince returns of
  // that type, read from an index of the type, so listing a rare type
  // (conflicts, stores, coupons) does not walk the whole feed.
  absl::StatusOr<std::vector<RecordRow>> ReadTypeSince(const std::string& tenant_id,
                                                       v1::EntityType type, int64_t after_version,
                                                       int limit);
  absl::StatusOr<std::optional<v1::RecordState>> GetRecord(const std::string& tenant_id,
                                                           const v1::RecordRef& ref);
  // Every scope the record had at some moment from right after change
  // `from` through right after change `to` (from <= to), oldest first: the
  // scope in effect after `from`, then the scope after each scope change up
  // to `to`. Empty if the record did not exist by `to`. Scope history is
  // pruned with the feed: `from` must not be older than PrunedThrough.
  absl::StatusOr<std::vector<v1::ScopeKeys>> ScopesDuring(const std::string& tenant_id,
                                                          const v1::RecordRef& ref, int64_t from,
                                                          int64_t to);
  // The scope keys the record had right after change `version` (the
  // previous scope of the first scope change after `version`, else its
  // current scope). nullopt if the record did not exist at `version`.
  absl::StatusOr<std::optional<v1::ScopeKeys>> ScopeAt(const std::string& tenant_id,
                                                       const v1::RecordRef& ref, int64_t version);
  // WriteTx::FindIndexed on committed data.
  absl::StatusOr<std::vector<v1::RecordState>> FindIndexed(const std::string& tenant_id,
                                                           IndexKind kind, v1::EntityType type,
                                                           const std::vector<KeyRange>& ranges,
                                                           int limit);
  // Latest committed change sequence (0 for an empty tenant).
  absl::StatusOr<int64_t> LatestSeq(const std::string& tenant_id);
  // LatestSeq, PrunedThrough and the history id in one read.
  absl::StatusOr<FeedState> GetFeedState(const std::string& tenant_id);
  // Gives the tenant's change history a new random id (after the store was
  // restored from a backup: cursors of the old history are then refused).
  // No-op for a tenant that never wrote.
  absl::Status StartNewHistory(const std::string& tenant_id);
  // Highest version whose tombstones/scope history were pruned (0 = none).
  absl::StatusOr<int64_t> PrunedThrough(const std::string& tenant_id);
  // Deletes tombstones and scope history with version <= horizon and records
  // the horizon (PrunedThrough never decreases). Returns the number of rows
  // removed. INVALID_ARGUMENT unless 0 <= horizon <= LatestSeq.
  absl::StatusOr<int64_t> Prune(const std::string& tenant_id, int64_t horizon);

  // Erasure: removes the record's values from the stored results of
  // applied mutations (the exactly-once log) of the tenant, keeping their
  // outcome. Returns how many results were scrubbed.
  absl::StatusOr<int64_t> ScrubAppliedResults(const std::string& tenant_id,
                                              const v1::RecordRef& ref);

  // ---- field history (lineage) ----

  // Values of a field that lineage shows, the current one included (0 =
  // lineage off, the default; the store keeps depth - 1 replaced values
  // per field). Set once at start-up, before any Write.
  void SetFieldHistoryDepth(int depth) { field_history_depth_ = depth < 0 ? 0 : depth; }
  int field_history_depth() const { return field_history_depth_; }
  // The values the record's fields held before later writes replaced them,
  // newest first (by version; ties by path): at most `limit` per field
  // (capped at depth - 1), of one field (`path`) or of all (empty). The
  // current values are the record's own (logic/lineage.h puts them first).
  absl::StatusOr<std::vector<v1::FieldHistoryEntry>> ReadFieldHistory(const std::string& tenant_id,
                                                                      const v1::RecordRef& ref,
                                                                      const std::string& path,
                                                                      int limit);
  // Deletes the replaced values beyond depth - 1 of every field of the
  // tenant; returns how many went (the pruner calls it).
  absl::StatusOr<int64_t> TrimFieldHistory(const std::string& tenant_id);

 protected:
  // The operations above, called with validated input (ScopeAt is
  // ScopesDuring(version, version)).
  virtual absl::Status DoWrite(const std::string& tenant_id,
                               const std::function<absl::Status(WriteTx&)>& fn) = 0;
  virtual absl::StatusOr<std::vector<RecordRow>> DoReadSince(const std::string& tenant_id,
                                                             int64_t after_version, int limit) = 0;
  // Default: DoReadSince, each state copied onto the arena. Stores override
  // it to parse onto the arena directly.
  virtual absl::StatusOr<std::vector<ArenaRecordRow>> DoReadSinceOn(const std::string& tenant_id,
                                                                    int64_t after_version,
                                                                    int limit,
                                                                    google::protobuf::Arena* arena);
  virtual absl::StatusOr<std::vector<RecordRow>> DoReadTypeSince(const std::string& tenant_id,
                                                                 v1::EntityType type,
                                                                 int64_t after_version,
                                                                 int limit) = 0;
  virtual absl::StatusOr<std::optional<v1::RecordState>> DoGetRecord(const std::string& tenant_id,
                                                                     const v1::RecordRef& ref) = 0;
  virtual absl::StatusOr<std::vector<v1::ScopeKeys>> DoScopesDuring(const std::string& tenant_id,
                                                                    const v1::RecordRef& ref,
                                                                    int64_t from, int64_t to) = 0;
  virtual absl::StatusOr<std::vector<v1::RecordState>> DoFindIndexed(
      const std::string& tenant_id, IndexKind kind, v1::EntityType type,
      const std::vector<KeyRange>& ranges, int limit) = 0;
  virtual absl::StatusOr<int64_t> DoLatestSeq(const std::string& tenant_id) = 0;
  virtual absl::StatusOr<FeedState> DoGetFeedState(const std::string& tenant_id) = 0;
  virtual absl::Status DoStartNewHistory(const std::string& tenant_id) = 0;
  virtual absl::StatusOr<int64_t> DoPrunedThrough(const std::string& tenant_id) = 0;
  virtual absl::StatusOr<int64_t> DoPrune(const std::string& tenant_id, int64_t horizon) = 0;
  virtual absl::StatusOr<int64_t> DoScrubAppliedResults(const std::string& tenant_id,
                                                        const v1::RecordRef& ref) = 0;
  // Encoded FieldHistoryEntry rows as ReadFieldHistory returns them.
  virtual absl::StatusOr<std::vector<std::string>> DoReadFieldHistory(const std::string& tenant_id,
                                                                      const v1::RecordRef& ref,
                                                                      const std::string& path,
                                                                      int limit) = 0;
  virtual absl::StatusOr<int64_t> DoTrimFieldHistory(const std::string& tenant_id, int depth) = 0;

 private:
  int field_history_depth_ = 0;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_CHANGE_LOG_H_
