// Field history (lineage) reads and trimming, written once for both
// databases over SqlDatabase (sql_session.h).
#ifndef CRMSYNC_SERVER_STORE_SQL_FIELD_HISTORY_H_
#define CRMSYNC_SERVER_STORE_SQL_FIELD_HISTORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "crmsync/v1/sync.pb.h"
#include "store/sql_session.h"

namespace crmsync::server {

// ChangeLog::DoReadFieldHistory: encoded entries, newest first, at most
// `limit` per path.
absl::StatusOr<std::vector<std::string>> SqlReadFieldHistory(SqlDatabase& db,
                                                             const std::string& tenant_id,
                                                             const v1::RecordRef& ref,
                                                             const std::string& path, int limit);

// ChangeLog::DoTrimFieldHistory: deletes what is beyond the newest `depth`
// rows of each field of the tenant (every row when depth is 0).
absl::StatusOr<int64_t> SqlTrimFieldHistory(SqlDatabase& db, const std::string& tenant_id,
                                            int depth);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_SQL_FIELD_HISTORY_H_
