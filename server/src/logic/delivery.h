// The one relevance rule of the change feed: what a device must receive for
// one row of the feed. Pull sends exactly this; the Subscribe stream tells a
// device "changes available" exactly when a row has something for it, so a
// notified device always finds something to pull and a device that finds
// something was notified.
#ifndef CRMSYNC_SERVER_LOGIC_DELIVERY_H_
#define CRMSYNC_SERVER_LOGIC_DELIVERY_H_

#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "principal.h"
#include "store/change_log.h"

namespace crmsync::server {

struct Delivery {
  enum class Kind {
    kNothing,    // the device neither may hold the record nor receives it
    kRecord,     // the record (in the device's scope now)
    kTombstone,  // a deletion the device may hold a copy of
    kErased,     // an erasure: drop every local copy of the record
    kLeftScope,  // the record left the device's scope
  };
  Kind kind = Kind::kNothing;
  // kRecord: the device may not hold the record as of its base, so every
  // field goes out (otherwise a delta since the base).
  bool full = false;
};

// For a device whose replica holds every record of its scope as of `base`
// and that has been sent the feed up to `cursor` (base <= cursor; both 0 for
// a bootstrap): what it must receive for `row` (a row after `cursor`).
//  * "May hold": the record was in the device's scope at some moment from
//    `base` to `cursor` (ChangeLog::ScopesDuring; judged over the whole
//    window, so the answer does not depend on page sizes), or the device
//    itself wrote one of its fields after `base` (a record it created before
//    its first pull, an edit accepted under the reassignment grace).
//  * Erased: kErased if it may hold it; deleted: kTombstone if it may hold
//    it or the tombstone is in its scope; in scope now: kRecord; otherwise
//    kLeftScope if it may hold it.
// Reads the change log only when the record's scope changed inside the
// window.
absl::StatusOr<Delivery> DeliveryFor(ChangeLog& changes, const Principal& who, const RecordRow& row,
                                     int64_t base, int64_t cursor);
// The same for a row given as its state and scope change version.
absl::StatusOr<Delivery> DeliveryFor(ChangeLog& changes, const Principal& who,
                                     const v1::RecordState& s, int64_t scope_changed_version,
                                     int64_t base, int64_t cursor);

// Where DeliveryFor finds a record's past scopes: ChangeLog::ScopesDuring of
// the caller's tenant, or a cache of it (the Subscribe fan-out judges one row
// for many devices that share a cursor).
using ScopesDuringFn = absl::FunctionRef<absl::StatusOr<std::vector<v1::ScopeKeys>>(
    const v1::RecordRef& ref, int64_t from, int64_t to)>;

// The same rule, reading past scopes through `scopes_during`.
absl::StatusOr<Delivery> DeliveryFor(ScopesDuringFn scopes_during, const Principal& who,
                                     const RecordRow& row, int64_t base, int64_t cursor);
absl::StatusOr<Delivery> DeliveryFor(ScopesDuringFn scopes_during, const Principal& who,
                                     const v1::RecordState& s, int64_t scope_changed_version,
                                     int64_t base, int64_t cursor);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_DELIVERY_H_
