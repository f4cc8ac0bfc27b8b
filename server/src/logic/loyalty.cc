#include "loyalty.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "crmsync/sync/geo.h"

namespace crmsync::server {
namespace {

constexpr double kMaxAccuracyM = 5000;  // worse GPS fixes are not accepted as tolerance
constexpr char kCouponClaimPrefix[] = "coupon:";
constexpr char kCustomerInfix[] = ":customer:";
// Claims listed (and deleted) per write transaction when pruning.
constexpr int kClaimPrunePage = 500;

int64_t ToMs(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1000000;
}

RedemptionDecision Reject(RedemptionDecision d, v1::RejectReason reason, std::string message) {
  d.accepted = false;
  d.reason = reason;
  d.message = std::move(message);
  v1::Redemption* r = d.effective.mutable_values()->mutable_redemption();
  r->set_status(v1::REDEMPTION_STATUS_REJECTED);
  r->set_rejection_reason(d.message);
  return d;
}

void AddPath(v1::Mutation* m, const std::string& path) {
  for (const auto& p : m->update_mask().paths()) {
    if (p == path) return;
  }
  m->mutable_update_mask()->add_paths(path);
}

// Validity that ended more than the retention ago (see CouponCountersPrunable).
bool EndedBeforeRetention(const v1::Coupon& c, int64_t now_ms, int64_t retention_ms) {
  return c.has_valid_until() && ToMs(c.valid_until()) < now_ms - retention_ms;
}

// The coupon id a "coupon:..." claim key counts for.
std::string CouponIdOfClaim(const std::string& key) {
  std::string rest = key.substr(sizeof(kCouponClaimPrefix) - 1);
  size_t infix = rest.find(kCustomerInfix);
  return infix == std::string::npos ? rest : rest.substr(0, infix);
}

}  // namespace

std::string CouponTotalClaimKey(const std::string& coupon_id) {
  return kCouponClaimPrefix + coupon_id;
}

bool CouponCountersPrunable(const v1::RecordState* coupon, int64_t pruned_through, int64_t now_ms,
                            int64_t retention_ms) {
  if (coupon == nullptr) return true;
  if (coupon->deleted()) return coupon->version() <= pruned_through;
  return EndedBeforeRetention(coupon->data().coupon(), now_ms, retention_ms);
}

absl::StatusOr<int64_t> PruneCouponClaims(ChangeLog* changes, const std::string& tenant_id,
                                          int64_t pruned_through, int64_t now_ms,
                                          int64_t retention_ms) {
  int64_t removed = 0;
  std::string after;
  for (bool more = true; more;) {
    int64_t removed_here = 0;
    std::string last;
    absl::Status s = changes->Write(tenant_id, [&](WriteTx& tx) -> absl::Status {
      removed_here = 0;
      auto page = tx.ListClaims(kCouponClaimPrefix, after, kClaimPrunePage);
      if (!page.ok()) return page.status();
      more = static_cast<int>(page->size()) == kClaimPrunePage;
      last = page->empty() ? after : page->back().key;
      std::vector<std::string> doomed;
      std::string decided_id;
      bool decided_prunable = false;
      for (const ClaimRow& claim : *page) {
        const std::string id = CouponIdOfClaim(claim.key);
        if (id != decided_id || decided_id.empty()) {
          decided_id = id;
          v1::RecordRef ref;
          ref.set_entity_type(v1::ENTITY_TYPE_COUPON);
          ref.set_id(id);
          auto coupon = tx.GetRecord(ref);
          if (absl::IsInvalidArgument(coupon.status())) {
            decided_prunable = false;  // not a coupon's counter: leave it
            continue;
          }
          if (!coupon.ok()) return coupon.status();
          decided_prunable = CouponCountersPrunable(coupon->has_value() ? &**coupon : nullptr,
                                                    pruned_through, now_ms, retention_ms);
        }
        if (decided_prunable) doomed.push_back(claim.key);
      }
      auto n = tx.DeleteClaims(doomed);
      if (!n.ok()) return n.status();
      removed_here = *n;
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    removed += removed_here;
    after = last;
  }
  return removed;
}

absl::StatusOr<RedemptionDecision> ArbitrateRedemption(WriteTx* tx, const Principal& who,
                                                       const v1::Mutation& m,
                                                       const v1::RecordState* existing,
                                                       int64_t now_ms, int64_t retention_ms) {
  if (m.record().entity_type() != v1::ENTITY_TYPE_REDEMPTION || !m.values().has_redemption()) {
    return absl::InvalidArgumentError("OPERATION_REDEEM needs a Redemption record");
  }
  if (existing) {
    return absl::InvalidArgumentError("redemption id " + m.record().id() +
                                      " was already used; create a new redemption");
  }
  const v1::Redemption& r = m.values().redemption();
  if (r.coupon_id().empty()) return absl::InvalidArgumentError("redemption.coupon_id is required");
  if (r.has_position() && !sync::geo::ValidPoint(r.position())) {
    return absl::InvalidArgumentError("redemption.position is not a valid coordinate");
  }
  if (!std::isfinite(r.position_accuracy_m()) || r.position_accuracy_m() < 0) {
    return absl::InvalidArgumentError("redemption.position_accuracy_m must be >= 0");
  }
  if (who.role == v1::ROLE_STORE_TERMINAL) {
    if (r.store_id() != who.store_id) {
      return absl::InvalidArgumentError("a terminal redeems only at its own store (" +
                                        who.store_id + ")");
    }
    if (r.device_id() != who.device_id) {
      return absl::InvalidArgumentError("redemption.device_id must be the redeeming terminal");
    }
  }

  RedemptionDecision d;
  d.effective = m;
  d.effective.set_operation(v1::OPERATION_REDEEM);
  AddPath(&d.effective, "status");
  AddPath(&d.effective, "rejection_reason");

  v1::RecordRef coupon_ref;
  coupon_ref.set_entity_type(v1::ENTITY_TYPE_COUPON);
  coupon_ref.set_id(r.coupon_id());
  auto coupon = tx->GetRecord(coupon_ref);
  if (!coupon.ok()) return coupon.status();
  if (!coupon->has_value() || (*coupon)->deleted()) {
    return Reject(std::move(d), v1::REJECT_REASON_NOT_FOUND,
                  "coupon " + r.coupon_id() + " does not exist");
  }
  const v1::Coupon& c = (*coupon)->data().coupon();
  // Exhaustion first: an exhausted coupon is also deactivated, and the
  // till should learn the real reason.
  const std::string total_key = CouponTotalClaimKey(c.id());
  auto claimed = tx->GetClaim(total_key);
  if (!claimed.ok()) return claimed.status();
  // The coupon's own count is a floor for the counter, which may have been
  // pruned (CouponCountersPrunable) before an admin extended the coupon.
  const int64_t total = std::max(*claimed, c.redemption_count());
  if (c.max_redemptions_total() > 0 && total >= c.max_redemptions_total()) {
    return Reject(std::move(d), v1::REJECT_REASON_COUPON_EXHAUSTED,
                  "coupon " + c.code() + " reached its limit of " +
                      std::to_string(c.max_redemptions_total()) + " redemptions");
  }
  if (!c.active()) {
    return Reject(std::move(d), v1::REJECT_REASON_COUPON_INACTIVE,
                  "coupon " + c.code() + " is not active");
  }
  // Counters of a coupon whose validity ended more than the retention ago
  // may be gone (CouponCountersPrunable): a redemption that arrives so late
  // is refused as expired, whatever the till's clock said, rather than
  // counted against a counter that restarted at zero.
  if (EndedBeforeRetention(c, now_ms, retention_ms)) {
    return Reject(std::move(d), v1::REJECT_REASON_COUPON_EXPIRED,
                  "coupon " + c.code() +
                      " ended longer ago than the server's retention period; redemptions "
                      "of it are no longer accepted");
  }
  // The time at the till (offline redemptions arrive late), not arrival time;
  // a till clock in the future is not believed.
  int64_t at_ms = r.has_redeemed_at() ? std::min(ToMs(r.redeemed_at()), now_ms) : now_ms;
  if ((c.has_valid_from() && at_ms < ToMs(c.valid_from())) ||
      (c.has_valid_until() && at_ms > ToMs(c.valid_until()))) {
    return Reject(std::move(d), v1::REJECT_REASON_COUPON_EXPIRED,
                  "coupon " + c.code() + " was not valid at the time of redemption");
  }
  bool named_store = false;
  for (const auto& s : c.store_ids()) named_store |= (s == r.store_id());
  if (c.has_geofence()) {
    if (!r.has_position() && !named_store) {
      return Reject(std::move(d), v1::REJECT_REASON_OUTSIDE_GEOFENCE,
                    "coupon " + c.code() + " needs the terminal's position");
    }
    if (r.has_position()) {
      double tolerance = std::min(r.position_accuracy_m(), kMaxAccuracyM);
      double distance = sync::geo::DistanceToGeofenceM(c.geofence(), r.position());
      if (distance > tolerance && !named_store) {
        return Reject(std::move(d), v1::REJECT_REASON_OUTSIDE_GEOFENCE,
                      "position is " + std::to_string(static_cast<int64_t>(distance)) +
                          " m outside the area of coupon " + c.code());
      }
    }
  } else if (!named_store) {
    return Reject(std::move(d), v1::REJECT_REASON_OUTSIDE_GEOFENCE,
                  "coupon " + c.code() + " is not redeemable at store " + r.store_id());
  }

  std::string customer_key;
  if (c.max_redemptions_per_customer() > 0) {
    if (r.loyalty_account_id().empty()) {
      return Reject(std::move(d), v1::REJECT_REASON_VALIDATION,
                    "coupon " + c.code() + " is limited per customer: scan the loyalty card");
    }
    customer_key = total_key + ":customer:" + r.loyalty_account_id();
    auto used = tx->GetClaim(customer_key);
    if (!used.ok()) return used.status();
    if (*used >= c.max_redemptions_per_customer()) {
      return Reject(std::move(d), v1::REJECT_REASON_CUSTOMER_LIMIT,
                    "this customer already used coupon " + c.code() + " " + std::to_string(*used) +
                        " time(s)");
    }
  }
  // A coupon worth points credits them to the customer's card: without a
  // card (or with one the server does not know) there is nowhere to put
  // them, so the till is told before the coupon is used up.
  if (c.value_case() == v1::Coupon::kBonusPoints && c.bonus_points() > 0) {
    if (r.loyalty_account_id().empty()) {
      return Reject(std::move(d), v1::REJECT_REASON_VALIDATION,
                    "coupon " + c.code() + " credits " + std::to_string(c.bonus_points()) +
                        " points: scan the customer's loyalty card");
    }
    d.credit_account.set_entity_type(v1::ENTITY_TYPE_LOYALTY_ACCOUNT);
    d.credit_account.set_id(r.loyalty_account_id());
    auto account = tx->GetRecord(d.credit_account);
    if (!account.ok()) return account.status();
    if (!account->has_value() || (*account)->deleted()) {
      return Reject(std::move(d), v1::REJECT_REASON_NOT_FOUND,
                    "loyalty account " + r.loyalty_account_id() + " does not exist");
    }
    d.bonus_points = c.bonus_points();
  }
  auto count = tx->AddToClaim(total_key, total + 1 - *claimed);
  if (!count.ok()) return count.status();
  if (!customer_key.empty()) {
    if (auto s = tx->AddToClaim(customer_key, 1); !s.ok()) return s.status();
  }
  d.accepted = true;
  d.coupon = **coupon;
  d.new_count = *count;
  v1::Redemption* out = d.effective.mutable_values()->mutable_redemption();
  out->set_status(v1::REDEMPTION_STATUS_ACCEPTED);
  out->clear_rejection_reason();
  return d;
}

v1::Mutation PointsCreditMutation(const v1::RecordRef& account, int64_t points, int64_t now_ms) {
  v1::Mutation m;
  *m.mutable_record() = account;
  m.set_operation(v1::OPERATION_INCREMENT);
  v1::LoyaltyAccount* a = m.mutable_values()->mutable_loyalty_account();
  a->set_id(account.id());
  a->set_points_balance(points);
  m.mutable_update_mask()->add_paths("points_balance");
  m.mutable_hlc()->set_wall_time_ms(now_ms);
  m.mutable_hlc()->set_node_id("server");
  m.mutable_provenance()->set_channel(v1::CHANNEL_SYSTEM);
  m.mutable_provenance()->set_precision(v1::PRECISION_VERIFIED);
  return m;
}

v1::Mutation CouponCountMutation(const v1::RecordState& coupon, int64_t new_count, int64_t now_ms) {
  v1::Mutation m;
  *m.mutable_record() = coupon.ref();
  m.set_operation(v1::OPERATION_UPSERT);
  v1::Coupon* c = m.mutable_values()->mutable_coupon();
  c->set_redemption_count(new_count);
  m.mutable_update_mask()->add_paths("redemption_count");
  const v1::Coupon& stored = coupon.data().coupon();
  if (stored.max_redemptions_total() > 0 && new_count >= stored.max_redemptions_total()) {
    c->set_active(false);  // exhausted: leaves every terminal's scope
    m.mutable_update_mask()->add_paths("active");
  }
  m.set_base_version(coupon.version());
  *m.mutable_base_values() = coupon.data();
  m.mutable_hlc()->set_wall_time_ms(now_ms);
  m.mutable_hlc()->set_node_id("server");
  m.mutable_provenance()->set_channel(v1::CHANNEL_SYSTEM);
  m.mutable_provenance()->set_precision(v1::PRECISION_VERIFIED);
  return m;
}

}  // namespace crmsync::server
