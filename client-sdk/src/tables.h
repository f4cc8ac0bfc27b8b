// The local schema and row-level operations on it. Callers hold the
// Database lock and, for writes, an open Transaction.
//
//   records     one row per record: server_state (RecordState as last known
//               from the server; NULL = never acknowledged), local_state (the
//               local view = server_state + pending mutations; NULL = hidden,
//               e.g. deleted locally) and indexed columns of the local view
//   record_text FTS4 over names and notes of the local view (docid = rowid)
//   outbox      pending mutations by client_seq (the durable queue)
//   sync_state  key/value: device_id, cursor, next_client_seq, hlc, offline,
//               last_sync_ms
//   notices     conflicts/rejections/merges for the user
//   reset_stale during a re-bootstrap: records not yet seen again (dropped
//               from the replica when the bootstrap completes)
#ifndef CRMSYNC_CLIENT_SRC_TABLES_H_
#define CRMSYNC_CLIENT_SRC_TABLES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crmsync/client/database.h"
#include "sqlite_db.h"

namespace crmsync::client::internal {

// Version of the local schema this library writes. Stores of an older
// version are upgraded when opened (schema.cc); a newer one is refused.
//   1  first release
//   2  records.changed_ms (Database::ChangedSince)
inline constexpr int kSchemaVersion = 2;

absl::Status CreateSchema(SqliteDb* db);

struct RecordRow {
  std::optional<v1::RecordState> server;
  std::optional<v1::RecordState> local;
};

absl::StatusOr<std::optional<RecordRow>> LoadRow(SqliteDb* db, const v1::RecordRef& ref);
// Writes (or deletes, when both states are absent) the row and its FTS text.
absl::Status WriteRow(SqliteDb* db, const v1::RecordRef& ref, const RecordRow& row);
// Replaces the geo cells of the records row `rowid` with those of `visible`
// (a coupon's geofence cover; none for anything else).
absl::Status WriteGeoCells(SqliteDb* db, int64_t rowid, const v1::RecordState& visible);
// Rebuilds the local view from `server` plus the record's outbox entries
// (in client_seq order) and writes the row. Returns the new local view.
absl::StatusOr<std::optional<v1::RecordState>> RebaseRow(
    SqliteDb* db, const v1::RecordRef& ref, const std::optional<v1::RecordState>& server);
// Parses local_state blobs of a query whose column 0 is local_state.
absl::StatusOr<std::vector<v1::RecordState>> CollectStates(Statement* stmt);

absl::StatusOr<std::optional<std::string>> GetState(SqliteDb* db, const std::string& key);
absl::Status SetState(SqliteDb* db, const std::string& key, const std::string& value);

absl::Status AppendOutbox(SqliteDb* db, const v1::Mutation& m);
absl::StatusOr<std::vector<PendingMutation>> LoadOutbox(SqliteDb* db, int limit);
absl::StatusOr<std::vector<v1::Mutation>> LoadOutboxFor(SqliteDb* db, const v1::RecordRef& ref);
absl::Status RemoveOutbox(SqliteDb* db, int64_t client_seq);
absl::StatusOr<int64_t> CountOutbox(SqliteDb* db);

// Adds a notice and links it to its conflict ids.
absl::Status AddNotice(SqliteDb* db, const Notice& notice);
// A Conflict was resolved, dismissed or removed: unlinks it, and drops the
// notices that named it once none of their conflicts is open any more.
absl::Status SettleConflictNotices(SqliteDb* db, const std::string& conflict_id);

}  // namespace crmsync::client::internal

#endif  // CRMSYNC_CLIENT_SRC_TABLES_H_
