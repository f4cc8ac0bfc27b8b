// GetTimeline (SyncService and AdminService): everything that refers to an
// account, contact or lead, newest first, paged. Read from the record index
// (IndexKind::kReference, kept by references.h), never a scan of the
// tenant; ordered and labelled by sync/timeline.h, as the SDK does offline.
#ifndef CRMSYNC_SERVER_LOGIC_TIMELINE_H_
#define CRMSYNC_SERVER_LOGIC_TIMELINE_H_

#include "absl/status/status.h"
#include "crmsync/v1/sync.pb.h"
#include "principal.h"
#include "store/change_log.h"

namespace crmsync::server {

// `any_owner`: the admin's view (every record of the tenant); otherwise the
// subject and the items are those `who` may read.
absl::Status ReadTimeline(ChangeLog* changes, const Principal& who, bool any_owner,
                          const v1::GetTimelineRequest& request, v1::GetTimelineResponse* response);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_TIMELINE_H_
