// Store-terminal rules the merge cannot decide alone: coupon redemption
// arbitrated against limits, validity and geofence, across every terminal,
// inside the push transaction (which holds the tenant's write lock, so the
// first committed claim wins).
#ifndef CRMSYNC_SERVER_LOGIC_LOYALTY_H_
#define CRMSYNC_SERVER_LOGIC_LOYALTY_H_

#include <string>

#include "absl/status/statusor.h"
#include "crmsync/v1/sync.pb.h"
#include "principal.h"
#include "store/store.h"

namespace crmsync::server {

struct RedemptionDecision {
  // The mutation to merge: the client's, with status ACCEPTED or REJECTED
  // (and rejection_reason) written by the server.
  v1::Mutation effective;
  bool accepted = false;
  v1::RejectReason reason = v1::REJECT_REASON_UNSPECIFIED;
  std::string message;
  // When accepted: the coupon record and its new accepted-redemption count.
  v1::RecordState coupon;
  int64_t new_count = 0;
  // When accepted and the coupon is worth points: the customer's loyalty
  // account, to be credited `bonus_points` in the same transaction.
  v1::RecordRef credit_account;
  int64_t bonus_points = 0;
};

// Decides an OPERATION_REDEEM mutation. `existing` is the stored redemption
// with the same id, if any. A non-OK status is a store failure, or
// INVALID_ARGUMENT for a malformed redemption (reject it as VALIDATION).
// A coupon whose counters may be pruned (CouponCountersPrunable) is refused
// as COUPON_EXPIRED whatever the till's time, and the total count never
// goes below the coupon's own redemption_count.
absl::StatusOr<RedemptionDecision> ArbitrateRedemption(WriteTx* tx, const Principal& who,
                                                       const v1::Mutation& m,
                                                       const v1::RecordState* existing,
                                                       int64_t now_ms, int64_t retention_ms);

// Claim counters of coupon `id`: "coupon:<id>" (accepted redemptions) and
// "coupon:<id>:customer:<loyalty account>" (per customer).
std::string CouponTotalClaimKey(const std::string& coupon_id);

// THE RULE for pruning coupon counters. They can no longer matter once no
// redemption of the coupon can be accepted again:
//  * the coupon is gone (`coupon` null: its tombstone was pruned), or
//    deleted at or below `pruned_through` (the history horizon, which only
//    passes what every device active within the retention has seen);
//  * its validity ended more than `retention_ms` before `now_ms`: from then
//    on ArbitrateRedemption refuses every redemption of it as expired, also
//    a late offline one the till made while it was valid. (An admin who
//    extends such a coupon again starts its per-customer counts afresh; its
//    total limit still holds through the coupon's redemption_count.)
bool CouponCountersPrunable(const v1::RecordState* coupon, int64_t pruned_through, int64_t now_ms,
                            int64_t retention_ms);

// Deletes the counters of every coupon CouponCountersPrunable allows, a page
// of claims per write transaction (the decision and the deletion in the same
// transaction, so an edit of the coupon cannot slip between them). Other
// claims (the admin console's client_seq counter, the index markers) are
// never touched: only keys starting "coupon:" are considered. Returns the
// number of claims removed.
absl::StatusOr<int64_t> PruneCouponClaims(ChangeLog* changes, const std::string& tenant_id,
                                          int64_t pruned_through, int64_t now_ms,
                                          int64_t retention_ms);

// A server mutation crediting `points` to a loyalty account (a counter
// increment, so it commutes with the tills' own credits and debits).
v1::Mutation PointsCreditMutation(const v1::RecordRef& account, int64_t points, int64_t now_ms);

// A server mutation setting the coupon's redemption_count (and, once the
// total limit is reached, deactivating it so it leaves terminals' scope).
v1::Mutation CouponCountMutation(const v1::RecordState& coupon, int64_t new_count, int64_t now_ms);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_LOYALTY_H_
