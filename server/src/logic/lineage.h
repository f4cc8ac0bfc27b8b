// Lineage: the kept values of a record's fields with their sources
// (SyncService and AdminService GetFieldHistory; docs/stewardship.md).
#ifndef CRMSYNC_SERVER_LOGIC_LINEAGE_H_
#define CRMSYNC_SERVER_LOGIC_LINEAGE_H_

#include "absl/status/status.h"
#include "crmsync/v1/sync.pb.h"
#include "logic/principal.h"
#include "store/change_log.h"

namespace crmsync::server {

// Answers a GetFieldHistoryRequest for `who`'s tenant. INVALID_ARGUMENT for
// a missing or unknown record type, a bad id, a field the type does not
// have, a negative limit; NOT_FOUND for a record that does not exist, is
// deleted or erased (its history went with it) or, unless `any_owner`
// (admins), that `who` may not read now. `client` is not looked at.
absl::Status ReadFieldHistory(ChangeLog* changes, const Principal& who, bool any_owner,
                              const v1::GetFieldHistoryRequest& request,
                              v1::GetFieldHistoryResponse* response);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_LINEAGE_H_
