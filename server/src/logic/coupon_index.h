// Coupons and stores on the map: the record index (geo cells, expiry) and
// the terminal scope of coupons that follows from it.
//
// A coupon is in the scope of a store terminal when the coupon is active,
// not exhausted, not expired, and the store is named in its store_ids or
// lies inside its geofence. Three kinds of event change that set, and each
// writes a change to the coupon (a new version with the new scope keys, so
// terminals receive the coupon or a left-scope notice):
//  * the coupon is written (ApplyCouponScope, from the push path);
//  * a store is created, moved or deleted (RescopeCouponsAround);
//  * the coupon's validity ends (ExpireCoupons, a periodic sweep that finds
//    due coupons through the expiry index, never by scanning).
// The geo index (sync/geo.h cells) also answers "coupons near a point"
// (FindCouponsNear) for AdminService.ListCoupons.
#ifndef CRMSYNC_SERVER_LOGIC_COUPON_INDEX_H_
#define CRMSYNC_SERVER_LOGIC_COUPON_INDEX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "store/store.h"

namespace crmsync::server {

// Completes the scope keys of a coupon about to be written at `now_ms`
// over `previous` (its stored state, or nullptr): the stores inside its
// geofence join its named stores (looked up, unless `previous` had the same
// geofence and named stores and a scope to reuse); a coupon that is
// inactive, exhausted or expired has no store in scope. No-op for other
// entity types.
absl::Status ApplyCouponScope(WriteTx* tx, const v1::RecordState& state,
                              const v1::RecordState* previous, int64_t now_ms,
                              v1::ScopeKeys* scope);

// Brings the index keys of a coupon or store in step with `after`, which
// was just written over `before` (nullptr for a create). No-op for other
// entity types or when nothing indexed changed.
absl::Status UpdateRecordIndex(WriteTx* tx, const v1::RecordState* before,
                               const v1::RecordState& after);

// After a store write (`before` may be nullptr): gives every coupon whose
// geofence contained the store's old location or contains its new one the
// scope it has now, writing a change for each coupon whose scope changed.
// `last_seq` is raised to the newest sequence written.
absl::Status RescopeCouponsAround(WriteTx* tx, const v1::RecordState* before,
                                  const v1::RecordState& after, int64_t now_ms, int64_t* last_seq);

// Removes coupons whose validity ended before `now_ms` from terminal scope
// (a change each), at most `limit` per call. Returns how many were changed
// and raises `last_seq`.
absl::StatusOr<int> ExpireCoupons(ChangeLog* changes, const std::string& tenant_id, int64_t now_ms,
                                  int limit, int64_t* last_seq);

// Indexes the tenant's coupons and stores once (data written before the
// index existed); a marker makes later calls cheap.
absl::Status EnsureCouponIndex(ChangeLog* changes, const std::string& tenant_id);

// Coupons whose geofence lies within `radius_m` of `at` (0: contains it),
// in version order, optionally only those redeemable at `now_ms`: the cell
// index narrows the candidates, sync::geo::CouponNear decides.
absl::StatusOr<std::vector<v1::RecordState>> FindCouponsNear(ChangeLog* changes,
                                                             const std::string& tenant_id,
                                                             const v1::GeoPoint& at,
                                                             double radius_m, bool redeemable_only,
                                                             int64_t now_ms);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_COUPON_INDEX_H_
