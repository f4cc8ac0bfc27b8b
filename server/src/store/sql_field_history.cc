// Reading and trimming the field history (lineage) of both databases: one
// SQL text each (window functions exist in both). Rows are written inside
// each store's write transaction (SqliteWriteTx, PgWriteTx).
#include "store/sql_field_history.h"

namespace crmsync::server {
namespace {

// The newest $5 rows of each path of one record (of path $4 only, unless
// empty), newest first.
constexpr SqlStatement kFieldHistoryRead{
    "field_history_read",
    "SELECT entry FROM (SELECT entry, path, version, row_number() OVER "
    "(PARTITION BY path ORDER BY version DESC) AS rn FROM field_history "
    "WHERE tenant_id = $1 AND entity_type = $2 AND record_id = $3 AND "
    "(CAST($4 AS TEXT) = '' OR path = $4)) AS kept "
    "WHERE rn <= $5 ORDER BY version DESC, path"};

// Every row of the tenant beyond the newest $2 of its field.
constexpr SqlStatement kFieldHistoryTrim{
    "field_history_trim",
    "DELETE FROM field_history WHERE tenant_id = $1 AND "
    "(entity_type, record_id, path, version) IN (SELECT entity_type, record_id, path, version "
    "FROM (SELECT entity_type, record_id, path, version, row_number() OVER "
    "(PARTITION BY entity_type, record_id, path ORDER BY version DESC) AS rn "
    "FROM field_history WHERE tenant_id = $1) AS ranked WHERE rn > $2)"};

}  // namespace

absl::StatusOr<std::vector<std::string>> SqlReadFieldHistory(SqlDatabase& db,
                                                             const std::string& tenant_id,
                                                             const v1::RecordRef& ref,
                                                             const std::string& path, int limit) {
  return SqlQueryAll<std::string>(
      db, "reading field history", kFieldHistoryRead,
      {tenant_id, static_cast<int64_t>(ref.entity_type()), ref.id(), path, limit},
      [](const SqlRow& row) -> absl::StatusOr<std::string> { return row.Blob(0); });
}

absl::StatusOr<int64_t> SqlTrimFieldHistory(SqlDatabase& db, const std::string& tenant_id,
                                            int depth) {
  int64_t removed = 0;
  absl::Status status = db.Run("trimming field history", [&](SqlSession& session) {
    auto n = session.Exec(kFieldHistoryTrim, {tenant_id, depth});
    if (!n.ok()) return n.status();
    removed = *n;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return removed;
}

}  // namespace crmsync::server
