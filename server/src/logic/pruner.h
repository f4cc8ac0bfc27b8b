// Change-history retention: prunes tombstones and scope history that no
// active device can still need.
#ifndef CRMSYNC_SERVER_LOGIC_PRUNER_H_
#define CRMSYNC_SERVER_LOGIC_PRUNER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "store/store.h"

namespace crmsync::server {

struct PruneReport {
  int64_t horizon = 0;       // history at or below this version is gone
  int64_t rows_removed = 0;  // tombstones and scope-history rows deleted
  int64_t devices_considered = 0;
};

// The horizon is the smallest cursor among active devices whose last contact
// is within `retention_ms` of `now_ms` (the tenant's latest sequence when
// there is none). Devices silent for longer than the retention, and revoked
// devices, do not hold history back; if they come back their cursor is
// behind the horizon and they get "reset-required". The horizon never moves
// backwards.
absl::StatusOr<PruneReport> PruneTenant(ChangeLog* changes, Directory* directory,
                                        const std::string& tenant_id, int64_t now_ms,
                                        int64_t retention_ms);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_PRUNER_H_
