// The storage interface of crm-syncd. Two implementations pass one
// conformance suite (tests/store/): SqliteStore (embedded default) and
// PostgresStore (production, libpqxx).
//
// Model (see docs/protocol.md, "Change feed"):
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
//    payload and their result, which makes Push exactly-once.
//
// Thread-safety: a Store is shared by all server threads; every method is
// thread-safe. Errors are returned as absl::Status (never thrown):
//  UNAVAILABLE for connection loss / busy database (retryable),
//  ABORTED for serialization failures that exhausted their retries,
//  INTERNAL for anything else unexpected.
#ifndef CRMSYNC_SERVER_STORE_STORE_H_
#define CRMSYNC_SERVER_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crmsync/v1/entities.pb.h"
#include "crmsync/v1/sync.pb.h"

namespace crmsync::server {

namespace v1 = ::crmsync::v1;

// What one request tells about its device (Store::TouchDevice).
struct DeviceContact {
  // Device.last_contact_at.
  int64_t now_unix_ms = 0;
  // >= 0: the position the device pulled up to (Device.cursor_seq, and
  // last_sync_at = now); -1 leaves both.
  int64_t cursor_seq = -1;
  // >= 0: the highest client_seq of a Push; Device.last_client_seq keeps the
  // largest ever seen. -1 leaves it.
  int64_t last_client_seq = -1;
  // From the request's ClientInfo; 0 / empty leave the stored value.
  uint32_t protocol_version = 0;
  std::string sdk_version;
};

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

// A mutation already applied, for exactly-once Push.
struct AppliedMutation {
  std::string device_id;
  int64_t client_seq = 0;
  // SHA-256 (raw 32 bytes or hex, as written) of the mutation's canonical
  // encoding; a retry with a different hash is a client_seq reuse.
  std::string payload_hash;
  v1::MutationResult result;
};

// A registered device and its sync position.
struct DeviceRow {
  std::string tenant_id;
  v1::Device device;  // id, user_id, status, versions, times, cursor_seq
};

// A tenant member as stored (the public User plus credentials).
struct UserRow {
  std::string tenant_id;
  v1::User user;
  // Password hash in the KDF's self-describing format; empty = no password.
  std::string password_hash;
};

// A tenant (company).
struct TenantRow {
  std::string id;
  // Short unique name used at login, e.g. "acme".
  std::string slug;
  std::string display_name;
};

// ---- authentication, audit and erasure rows (schema migration 2) ----

// One refresh token. Only a hash of the token is stored. Tokens issued by
// rotation share their family id; reusing a rotated token revokes the
// family.
struct RefreshTokenRow {
  std::string tenant_id;
  // Lower-case hex SHA-256 of the token; unique across tenants.
  std::string token_hash;
  std::string family_id;
  std::string user_id;
  // Empty for a token not bound to a device yet.
  std::string device_id;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  // Set once the token was exchanged by Refresh.
  bool used = false;
  // Set when its family was revoked (logout, reuse).
  bool revoked = false;
};

// A store-terminal API key. Only a hash of its secret is stored.
struct ApiKeyRow {
  std::string tenant_id;
  std::string key_id;
  std::string user_id;
  std::string label;
  // Lower-case hex SHA-256 of the secret part of the key.
  std::string secret_hash;
  int64_t created_ms = 0;
  bool revoked = false;
};

// One audit log entry (AdminService.ListAuditEvents).
struct AuditRow {
  // Assigned by AppendAudit; increases with insertion order.
  int64_t id = 0;
  std::string tenant_id;
  int64_t at_ms = 0;
  std::string action;
  std::string actor_user_id;
  std::string actor_device_id;
  std::string target;
  std::string detail;
  std::string peer;
};

// Secondary index of records by integer keys, kept by the server logic
// (logic/coupon_index.h): which cells a coupon's geofence or a store's
// location covers, and when a coupon expires.
enum class IndexKind : int {
  kGeoCell = 1,
  kExpiry = 2,
};

// A closed range of index keys.
struct KeyRange {
  int64_t lo = 0;
  int64_t hi = 0;
};

// Operations inside one write transaction of one tenant. Obtained only from
// Store::Write; not thread-safe; invalid after the callback returns.
class WriteTx {
 public:
  virtual ~WriteTx() = default;

  // Allocates the next change sequence of the tenant (latest + 1). Sequences
  // allocated in a transaction that rolls back are reused.
  virtual absl::StatusOr<int64_t> NextSeq() = 0;

  // The record, or nullopt if it never existed (tombstones are returned).
  virtual absl::StatusOr<std::optional<v1::RecordState>> GetRecord(const v1::RecordRef& ref) = 0;

  // Inserts or replaces the record row. `state.version` must be a sequence
  // allocated in this transaction. If `previous_scope` is set, the record's
  // scope changed in this write and the old keys go to the scope history.
  virtual absl::Status PutRecord(const v1::RecordState& state,
                                 const v1::ScopeKeys* previous_scope) = 0;

  // The stored result of (device_id, client_seq), if that mutation was applied.
  virtual absl::StatusOr<std::optional<AppliedMutation>> GetApplied(const std::string& device_id,
                                                                   int64_t client_seq) = 0;
  // ALREADY_EXISTS if (device_id, client_seq) is already recorded; the
  // stored record is kept and the transaction stays usable.
  virtual absl::Status PutApplied(const AppliedMutation& applied) = 0;

  // Unique-claim counters (coupon limits): adds `delta` to the counter named
  // `key` (created at 0) and returns the new value.
  virtual absl::StatusOr<int64_t> AddToClaim(const std::string& key, int64_t delta) = 0;
  virtual absl::StatusOr<int64_t> GetClaim(const std::string& key) = 0;

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
  virtual absl::Status Prefetch(const std::vector<v1::RecordRef>& refs,
                                const std::string& device_id,
                                const std::vector<int64_t>& client_seqs) = 0;

  // Replaces the index keys of kind `kind` of the record (none: removes it
  // from that index). Keys are independent of the record row: the caller
  // keeps them in step with the record.
  virtual absl::Status SetIndexKeys(const v1::RecordRef& ref, IndexKind kind,
                                    const std::vector<int64_t>& keys) = 0;
  // Records of `type` with a key of `kind` inside one of `ranges`, each
  // once, in version order, at most `limit` (0 = all); sees this
  // transaction's writes.
  virtual absl::StatusOr<std::vector<v1::RecordState>> FindIndexed(
      IndexKind kind, v1::EntityType type, const std::vector<KeyRange>& ranges, int limit) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // "sqlite" or "postgres".
  virtual std::string Kind() const = 0;

  // Creates or upgrades the schema to the newest version. Safe when several
  // server processes start at once (serialised by a lock).
  virtual absl::Status Migrate() = 0;

  // Runs `fn` in one transaction holding `tenant_id`'s write lock. Commits if
  // `fn` returns OK; rolls back and returns fn's status otherwise. On a
  // retryable failure (serialization, deadlock, busy) the transaction is
  // rolled back and `fn` re-run, a bounded number of times, so `fn` must not
  // have side effects outside the transaction. A database error inside the
  // transaction (not a validation error) poisons it: later WriteTx calls
  // return that error and the transaction rolls back even if `fn` returns
  // OK. `fn` may call the Store's read methods but not Write.
  virtual absl::Status Write(const std::string& tenant_id,
                             const std::function<absl::Status(WriteTx&)>& fn) = 0;

  // ---- change feed (committed data only) ----

  // Records with version > after_version, in version order, at most `limit`.
  virtual absl::StatusOr<std::vector<RecordRow>> ReadSince(const std::string& tenant_id,
                                                           int64_t after_version, int limit) = 0;
  virtual absl::StatusOr<std::optional<v1::RecordState>> GetRecord(const std::string& tenant_id,
                                                                  const v1::RecordRef& ref) = 0;
  // Every scope the record had at some moment from right after change
  // `from` through right after change `to` (from <= to), oldest first: the
  // scope in effect after `from`, then the scope after each scope change up
  // to `to`. Empty if the record did not exist by `to`. Scope history is
  // pruned with the feed: `from` must not be older than PrunedThrough.
  virtual absl::StatusOr<std::vector<v1::ScopeKeys>> ScopesDuring(const std::string& tenant_id,
                                                                  const v1::RecordRef& ref,
                                                                  int64_t from, int64_t to) = 0;
  // The scope keys the record had right after change `version` (the
  // previous scope of the first scope change after `version`, else its
  // current scope). nullopt if the record did not exist at `version`.
  absl::StatusOr<std::optional<v1::ScopeKeys>> ScopeAt(const std::string& tenant_id,
                                                      const v1::RecordRef& ref, int64_t version) {
    auto scopes = ScopesDuring(tenant_id, ref, version, version);
    if (!scopes.ok()) return scopes.status();
    if (scopes->empty()) return std::optional<v1::ScopeKeys>();
    return std::optional<v1::ScopeKeys>(std::move(scopes->front()));
  }
  // WriteTx::FindIndexed on committed data.
  virtual absl::StatusOr<std::vector<v1::RecordState>> FindIndexed(
      const std::string& tenant_id, IndexKind kind, v1::EntityType type,
      const std::vector<KeyRange>& ranges, int limit) = 0;
  // Latest committed change sequence (0 for an empty tenant).
  virtual absl::StatusOr<int64_t> LatestSeq(const std::string& tenant_id) = 0;
  // LatestSeq, PrunedThrough and the history id in one read.
  virtual absl::StatusOr<FeedState> GetFeedState(const std::string& tenant_id) = 0;
  // Gives the tenant's change history a new random id (after the store was
  // restored from a backup: cursors of the old history are then refused).
  // No-op for a tenant that never wrote.
  virtual absl::Status StartNewHistory(const std::string& tenant_id) = 0;
  // Highest version whose tombstones/scope history were pruned (0 = none).
  virtual absl::StatusOr<int64_t> PrunedThrough(const std::string& tenant_id) = 0;
  // Deletes tombstones and scope history with version <= horizon and records
  // the horizon (PrunedThrough never decreases). Returns the number of rows
  // removed. INVALID_ARGUMENT unless 0 <= horizon <= LatestSeq.
  virtual absl::StatusOr<int64_t> Prune(const std::string& tenant_id, int64_t horizon) = 0;

  // ---- directory ----

  virtual absl::Status PutTenant(const TenantRow& tenant) = 0;
  virtual absl::StatusOr<std::optional<TenantRow>> GetTenantBySlug(const std::string& slug) = 0;
  // Every tenant, ordered by id (for server-wide jobs such as pruning).
  virtual absl::StatusOr<std::vector<TenantRow>> ListTenants() = 0;
  // Reaches the database with a small read (health checking): OK when the
  // store can serve, UNAVAILABLE when it cannot reach its database.
  virtual absl::Status Ping() { return ListTenants().status(); }
  virtual absl::Status PutUser(const UserRow& user) = 0;
  virtual absl::StatusOr<std::optional<UserRow>> GetUser(const std::string& tenant_id,
                                                         const std::string& user_id) = 0;
  virtual absl::StatusOr<std::optional<UserRow>> GetUserByName(const std::string& tenant_id,
                                                               const std::string& username) = 0;
  virtual absl::StatusOr<std::vector<UserRow>> ListUsers(const std::string& tenant_id) = 0;
  virtual absl::Status PutTeam(const std::string& tenant_id, const v1::Team& team) = 0;
  virtual absl::StatusOr<std::vector<v1::Team>> ListTeams(const std::string& tenant_id) = 0;
  virtual absl::Status PutDevice(const DeviceRow& device) = 0;
  virtual absl::StatusOr<std::optional<DeviceRow>> GetDevice(const std::string& tenant_id,
                                                             const std::string& device_id) = 0;
  virtual absl::StatusOr<std::vector<DeviceRow>> ListDevices(const std::string& tenant_id) = 0;
  // Records a device's contact in one write (see DeviceContact for what each
  // field changes). NOT_FOUND if the device is not registered.
  virtual absl::Status TouchDevice(const std::string& tenant_id, const std::string& device_id,
                                   const DeviceContact& contact) = 0;
  // The contact time and, if cursor_seq >= 0, the pulled position.
  absl::Status TouchDevice(const std::string& tenant_id, const std::string& device_id,
                           int64_t now_unix_ms, int64_t cursor_seq) {
    DeviceContact contact;
    contact.now_unix_ms = now_unix_ms;
    contact.cursor_seq = cursor_seq;
    return TouchDevice(tenant_id, device_id, contact);
  }
  // ---- authentication, audit and erasure (schema migration 2) ----
  // Autocommit calls, usable from any thread like the rest. Text fields
  // follow store_codec::CheckText/CheckId (INVALID_ARGUMENT otherwise).

  // Stores a new refresh token; ALREADY_EXISTS if its hash is known.
  virtual absl::Status PutRefreshToken(const RefreshTokenRow& token) = 0;
  // The token with this hash, in any tenant; nullopt if unknown.
  virtual absl::StatusOr<std::optional<RefreshTokenRow>> GetRefreshToken(
      const std::string& token_hash) = 0;
  // Marks the token used if it is neither used nor revoked. Returns true if
  // this call marked it (exactly one of concurrent callers wins), false if
  // it was already used or revoked or is unknown.
  virtual absl::StatusOr<bool> MarkRefreshTokenUsed(const std::string& token_hash) = 0;
  // Revokes every token of the family. Returns how many were changed.
  virtual absl::StatusOr<int64_t> RevokeRefreshFamily(const std::string& tenant_id,
                                                      const std::string& family_id) = 0;
  // Revokes every refresh token bound to the device (device revocation).
  virtual absl::StatusOr<int64_t> RevokeDeviceRefreshTokens(const std::string& tenant_id,
                                                            const std::string& device_id) = 0;

  // Stores a new API key; ALREADY_EXISTS if (tenant, key_id) is taken.
  virtual absl::Status PutApiKey(const ApiKeyRow& key) = 0;
  virtual absl::StatusOr<std::optional<ApiKeyRow>> GetApiKey(const std::string& tenant_id,
                                                             const std::string& key_id) = 0;

  // Appends an audit entry (row.id is ignored) and returns its id.
  virtual absl::StatusOr<int64_t> AppendAudit(const AuditRow& row) = 0;
  // The tenant's audit entries with at_ms >= since_ms, only `action` if not
  // empty, at most `limit`: oldest first from id > after_id, or with
  // `newest_first` newest first from id < after_id (0: from the newest).
  virtual absl::StatusOr<std::vector<AuditRow>> ListAudit(const std::string& tenant_id,
                                                          const std::string& action,
                                                          int64_t since_ms, int64_t after_id,
                                                          int limit, bool newest_first) = 0;

  // Erasure: removes the record's values from the stored results of
  // applied mutations (the exactly-once log) of the tenant, keeping their
  // outcome. Returns how many results were scrubbed.
  virtual absl::StatusOr<int64_t> ScrubAppliedResults(const std::string& tenant_id,
                                                      const v1::RecordRef& ref) = 0;
};

// Opens the store named by a --store value ("sqlite:PATH" or "postgres:URI")
// without migrating it.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& spec);
// The same for an already parsed (and completed, see config.h) --store.
struct StoreSpec;
absl::StatusOr<std::unique_ptr<Store>> OpenStore(const StoreSpec& spec);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_STORE_H_
