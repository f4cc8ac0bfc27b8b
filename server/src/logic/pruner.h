// Retention: prunes what no device can still need — tombstones and scope
// history behind every active device's cursor, exactly-once results of
// devices that are gone, and the counters of coupons that can no longer be
// redeemed (docs/storage.md, "Retention and pruning", "Bounded storage").
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
  // Devices whose exactly-once results were all dropped in this run
  // (revoked, or silent past the retention), and how many results went.
  int64_t devices_forgotten = 0;
  int64_t applied_removed = 0;
  // Coupon counters deleted (loyalty.h, CouponCountersPrunable).
  int64_t claims_removed = 0;
  // Field history values beyond the kept depth (ChangeLog::TrimFieldHistory).
  int64_t field_values_removed = 0;
};

// The horizon is the smallest cursor among active devices whose last contact
// is within `retention_ms` of `now_ms` (the tenant's latest sequence when
// there is none). Devices silent for longer than the retention, and revoked
// devices, do not hold history back; if they come back their cursor is
// behind the horizon and they get "reset-required". The horizon never moves
// backwards.
//
// The same devices' exactly-once results are dropped (their applied floor
// is raised to their highest applied client_seq, so nothing they re-send is
// applied twice), and coupon counters that can no longer matter are
// deleted. Active devices' results go as they acknowledge them (Push).
absl::StatusOr<PruneReport> PruneTenant(ChangeLog* changes, Directory* directory,
                                        const std::string& tenant_id, int64_t now_ms,
                                        int64_t retention_ms);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_PRUNER_H_
