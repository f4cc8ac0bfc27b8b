// The local store of a device: the replica of the server records in the
// user's scope, the outbox of local edits not yet acknowledged, and the sync
// state (cursor, device id, next client_seq, clock). Edits are local-first:
// they are visible at once and pushed later by the SyncEngine.
//
// Encryption: with a non-empty `DatabaseOptions::key` the file (and its WAL)
// is encrypted with SQLCipher (AES-256 pages with a per-page HMAC). Only the
// `crmsync_client` library supports keys; `crmsync_client_plain` returns
// FAILED_PRECONDITION for them.
//
// Thread-safety: a Database is thread-safe; calls are serialised internally.
// Every call blocks on local disk I/O only (never on the network).
// Errors: absl::Status values; nothing throws.
#ifndef CRMSYNC_CLIENT_DATABASE_H_
#define CRMSYNC_CLIENT_DATABASE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "crmsync/client/clock.h"
#include "crmsync/sync/hlc.h"
#include "crmsync/v1/sync.pb.h"
#include "google/protobuf/field_mask.pb.h"

namespace crmsync::client {

namespace v1 = ::crmsync::v1;
namespace internal {
class SqliteDb;
}

struct DatabaseOptions {
  // Path of the SQLite file; "-wal" and "-shm" files live next to it.
  // Required.
  std::string path;
  // Encryption key (passphrase). Empty = not encrypted. Default empty.
  std::string key;
  // Device id used when the store is created; afterwards the stored id wins.
  // Empty = a random id is generated ("dev-<hex>"). Default empty.
  std::string device_id;
  // User id (e.g. "u-alice") stamped as provenance author of local edits.
  // Default empty.
  std::string user_id;
  // Provenance of local edits. Default: field app, unspecified precision.
  v1::Channel channel = v1::CHANNEL_FIELD_APP;
  v1::Precision precision = v1::PRECISION_UNSPECIFIED;
  // Physical clock; nullptr = SystemClock(). Not owned; must outlive the
  // Database.
  Clock* clock = nullptr;
  // Random source for generated ids; nullptr = a system-seeded one. Not
  // owned; must outlive the Database.
  Random* random = nullptr;
};

// A local edit the app makes, before the outbox envelope is filled in.
struct LocalEdit {
  v1::RecordRef ref;
  v1::Operation operation = v1::OPERATION_UPSERT;
  // Fields to change; empty for UPSERT = every field that differs from the
  // local view (or every non-default field for a create); empty for REDEEM
  // = every non-default field of the redemption.
  google::protobuf::FieldMask mask;
  v1::Record values;
  // For OPERATION_RESOLVE_CONFLICT.
  std::string conflict_id;
  // For OPERATION_MERGE (see Database::Merge).
  v1::MergeSpec merge;
};

// A coupon redemption recorded by a store terminal (Database::Redeem).
struct RedeemRequest {
  std::string coupon_id;
  std::string store_id;
  // The customer's LoyaltyAccount; empty for anonymous coupons.
  std::string loyalty_account_id;
  // The terminal's position and its GPS accuracy radius (metres); the server
  // checks it against the coupon's geofence with this tolerance.
  double latitude = 0;
  double longitude = 0;
  double accuracy_m = 0;
  // Id of the new Redemption; empty = generated (unique per terminal).
  std::string id;
};

// One outbox entry (a pending mutation).
struct PendingMutation {
  int64_t client_seq = 0;
  v1::Mutation mutation;
};

// A notice about a pushed edit the user should see (conflict, rejection,
// merge), kept until acknowledged by the app (ClearNotices). A conflict
// notice also goes away by itself once every Conflict it names has been
// resolved or dismissed (by an admin or on another device) and that reached
// this device.
struct Notice {
  int64_t id = 0;
  // "conflict", "rejected", "merged", "wiped".
  std::string kind;
  v1::RecordRef record;
  int64_t client_seq = 0;
  std::string message;
  int64_t at_ms = 0;
  // For kind "conflict": the Conflict records the server created.
  std::vector<std::string> conflict_ids;
};

class Database {
 public:
  // Opens or creates the store. Fails with PERMISSION_DENIED on a wrong or
  // missing key, FAILED_PRECONDITION when a key is given to a build without
  // encryption.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const DatabaseOptions& options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // ---- Local-first writes: each updates the local view and appends one
  // outbox mutation in one transaction; returns the new local view.
  // Creates a record (`values` holds the entity; an empty id is filled with
  // a new UUIDv7). ALREADY_EXISTS if the id is taken locally.
  absl::StatusOr<v1::RecordState> Create(const v1::Record& values);
  // Updates the fields of `values` that differ from the local view (or the
  // fields of `mask` when given). NOT_FOUND if the record is not held.
  absl::StatusOr<v1::RecordState> Update(const v1::Record& values,
                                         const google::protobuf::FieldMask* mask = nullptr);
  // Deletes a record. NOT_FOUND if not held.
  absl::StatusOr<v1::RecordState> Delete(const v1::RecordRef& ref);
  // Any other operation (increment, set add/remove, redeem, resolve).
  absl::StatusOr<v1::RecordState> Apply(const LocalEdit& edit);
  // Merges the record `spec.merged_record_id` into `survivor` (two leads,
  // contacts or accounts of one customer). Queued like any edit; the server
  // decides the survivor's fields (the more precise value wins; the spec's
  // per-field choices override), moves activities, events and
  // opportunities to the survivor and leaves the other as a tombstone
  // naming it (docs/stewardship.md, "Merging"). The local view changes
  // when the result and the next pull arrive. NOT_FOUND if the survivor is
  // not held; INVALID_ARGUMENT for a bad spec.
  absl::StatusOr<v1::RecordState> Merge(const v1::RecordRef& survivor, const v1::MergeSpec& spec);
  // Store terminals: records a PENDING Redemption of a coupon this store
  // holds (NOT_FOUND otherwise); the server confirms or rejects it at the
  // next sync against the coupon's limits and geofence.
  absl::StatusOr<v1::RecordState> Redeem(const RedeemRequest& request);
  // Credits (delta > 0) or debits (delta < 0) a LoyaltyAccount's points; a
  // counter, so concurrent terminals' changes add up. INVALID_ARGUMENT for
  // 0, NOT_FOUND if the account is not held.
  absl::StatusOr<v1::RecordState> AddPoints(const std::string& account_id, int64_t delta);

  // ---- Reads of the local view (server replica + pending edits).
  // NOT_FOUND when absent or deleted locally.
  absl::StatusOr<v1::RecordState> Get(const v1::RecordRef& ref);
  // Live records of one type, ordered by id; at most `limit` (0 = all).
  absl::StatusOr<std::vector<v1::RecordState>> List(v1::EntityType type, int limit = 0);
  // The replica as last received from the server (no local edits).
  absl::StatusOr<std::optional<v1::RecordState>> GetServerState(const v1::RecordRef& ref);

  // ---- Queries a field app needs (all on the local view).
  // Leads owned by this user that are neither unqualified nor converted.
  absl::StatusOr<std::vector<v1::RecordState>> MyOpenLeads();
  absl::StatusOr<std::vector<v1::RecordState>> OpportunitiesOfAccount(
      const std::string& account_id);
  // Everything the device holds about an account, contact or lead:
  // activities, calendar events, opportunities (and an account's contacts)
  // that refer to it, newest first, each with when and through which
  // channel (the server's GetTimeline rules, sync/timeline.h); `limit`
  // items (0 = all) after skipping `offset`. Works offline.
  absl::StatusOr<std::vector<v1::TimelineItem>> Timeline(const v1::RecordRef& subject,
                                                         int limit = 0, int offset = 0);
  // Calendar events overlapping [from_s, to_s) (Unix seconds), by start.
  absl::StatusOr<std::vector<v1::RecordState>> CalendarBetween(int64_t from_s, int64_t to_s);
  // Calendar of the day containing `now_ms`, with a UTC offset in minutes.
  absl::StatusOr<std::vector<v1::RecordState>> TodaysCalendar(int64_t now_ms,
                                                              int utc_offset_minutes = 0);
  // Full-text search (FTS4 MATCH syntax, e.g. "martin" or "oven*") over
  // names, companies, titles and notes; at most `limit` hits.
  absl::StatusOr<std::vector<v1::RecordState>> Search(const std::string& text, int limit = 50);
  // Coupons redeemable at `now_ms` (active, inside their validity window,
  // not exhausted) whose geofence (circle or polygon) lies within
  // `radius_m` of the position (0: contains it); nearest first. Answered
  // from a geo cell index with the server's exact rules (sync/geo.h), so
  // the server's ListCoupons gives the same coupons. INVALID_ARGUMENT for a
  // position off the globe or a negative radius.
  absl::StatusOr<std::vector<v1::RecordState>> CouponsNear(double latitude, double longitude,
                                                           double radius_m, int64_t now_ms);

  // Live records of `type` owned by `owner_user_id`, ordered by name and
  // id; at most `limit` (0 = all).
  absl::StatusOr<std::vector<v1::RecordState>> ListByOwner(v1::EntityType type,
                                                           const std::string& owner_user_id,
                                                           int limit = 0);
  // Live records (of `type`; ENTITY_TYPE_UNSPECIFIED = every type) whose
  // last change, local or synced, happened at or after `since_ms` (Unix ms,
  // by the change's HLC reading), oldest change first; at most `limit`
  // (0 = all). For refreshing a UI after sync, or "what changed today".
  absl::StatusOr<std::vector<v1::RecordState>> ChangedSince(v1::EntityType type, int64_t since_ms,
                                                            int limit = 0);
  // ---- Sync state.
  const std::string& device_id() const { return device_id_; }
  const std::string& user_id() const { return options_.user_id; }
  absl::StatusOr<int64_t> PendingCount();
  absl::StatusOr<std::vector<PendingMutation>> Outbox(int limit = 0);
  absl::StatusOr<std::string> Cursor();
  absl::StatusOr<int64_t> LastSyncMs();
  // The "offline" switch: when set, sync refuses to contact the server.
  absl::Status SetOffline(bool offline);
  absl::StatusOr<bool> Offline();
  absl::StatusOr<std::vector<Notice>> Notices();
  absl::Status ClearNotices();
  // The refresh token of the signed-in user, kept in the store (encrypted
  // with the store's key), so the app never keeps the password. Empty when
  // signed out. SaveRefreshToken("") forgets it.
  absl::StatusOr<std::string> RefreshToken();
  absl::Status SaveRefreshToken(const std::string& token);

  // Erases this store: closes it and deletes the file, its WAL and shared
  // memory files. Every later call fails with FAILED_PRECONDITION.
  absl::Status Wipe();

  // Called after every committed local write (on the writer's thread, with
  // the store locked: the listener must only signal, e.g. a condition
  // variable). Used by the sync engine to push soon. nullptr clears.
  void SetWriteListener(std::function<void()> listener);

  // Used by the sync engine (see sync_engine.h); not for apps.
  class SyncAccess;

 private:
  friend class SyncAccess;
  Database(DatabaseOptions options, std::unique_ptr<internal::SqliteDb> db,
           std::unique_ptr<Random> owned_random);
  absl::Status Init();
  absl::StatusOr<v1::RecordState> WriteLocked(const LocalEdit& edit, bool is_create)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // WriteLocked's work inside the caller's open transaction. `recovered`
  // (non-null) marks the mutation as re-sent after a history change, with
  // the clock reading of the write it re-sends (so the server orders it
  // among other devices' re-sends by when it was first made); a re-sent
  // delete may name a record this replica no longer holds.
  absl::StatusOr<v1::RecordState> WriteInTx(const LocalEdit& edit, bool is_create,
                                            const v1::HlcTimestamp* recovered)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  DatabaseOptions options_;
  std::unique_ptr<Random> owned_random_;
  absl::Mutex mu_;
  std::unique_ptr<internal::SqliteDb> db_ ABSL_GUARDED_BY(mu_);
  std::string device_id_;
  sync::HybridLogicalClock hlc_ ABSL_GUARDED_BY(mu_);
  std::function<void()> write_listener_;
};

}  // namespace crmsync::client

#endif  // CRMSYNC_CLIENT_DATABASE_H_
