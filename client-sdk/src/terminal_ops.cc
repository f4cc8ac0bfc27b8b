// What a store terminal does offline: redeem a coupon, credit or debit a
// loyalty account's points. Both are ordinary local-first writes.
#include <cstdio>

#include "crmsync/client/database.h"
#include "crmsync/sync/geo.h"

namespace crmsync::client {

absl::StatusOr<v1::RecordState> Database::Redeem(const RedeemRequest& request) {
  if (request.coupon_id.empty() || request.store_id.empty()) {
    return absl::InvalidArgumentError("a redemption needs coupon_id and store_id");
  }
  v1::GeoPoint at;
  at.set_latitude(request.latitude);
  at.set_longitude(request.longitude);
  if (!sync::geo::ValidPoint(at) || !(request.accuracy_m >= 0)) {
    return absl::InvalidArgumentError(
        "a redemption needs the terminal's position (latitude -90..90, longitude -180..180) and "
        "an accuracy >= 0 m");
  }
  v1::RecordRef coupon_ref;
  coupon_ref.set_entity_type(v1::ENTITY_TYPE_COUPON);
  coupon_ref.set_id(request.coupon_id);
  if (auto coupon = Get(coupon_ref); !coupon.ok()) {
    if (coupon.status().code() != absl::StatusCode::kNotFound) return coupon.status();
    return absl::NotFoundError("coupon " + request.coupon_id +
                               " is not held by this terminal (sync first?)");
  }
  const int64_t now_ms = options_.clock->NowMs();
  std::string id = request.id;
  if (id.empty()) {
    // Unique per terminal: its device id, the time and a random suffix.
    char suffix[9];
    std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(options_.random->Next()));
    id = "red-" + device_id_ + "-" + std::to_string(now_ms) + "-" + suffix;
  }
  LocalEdit edit;
  edit.ref.set_entity_type(v1::ENTITY_TYPE_REDEMPTION);
  edit.ref.set_id(id);
  edit.operation = v1::OPERATION_REDEEM;
  v1::Redemption* r = edit.values.mutable_redemption();
  r->set_id(id);
  r->set_coupon_id(request.coupon_id);
  r->set_store_id(request.store_id);
  r->set_device_id(device_id_);
  r->set_loyalty_account_id(request.loyalty_account_id);
  r->set_status(v1::REDEMPTION_STATUS_PENDING);
  r->mutable_redeemed_at()->set_seconds(now_ms / 1000);
  r->mutable_redeemed_at()->set_nanos(static_cast<int32_t>(now_ms % 1000) * 1000000);
  *r->mutable_position() = at;
  r->set_position_accuracy_m(request.accuracy_m);
  return Apply(edit);
}

absl::StatusOr<v1::RecordState> Database::AddPoints(const std::string& account_id, int64_t delta) {
  if (account_id.empty()) return absl::InvalidArgumentError("points: the account id is empty");
  if (delta == 0) return absl::InvalidArgumentError("points: the change must not be 0");
  LocalEdit edit;
  edit.ref.set_entity_type(v1::ENTITY_TYPE_LOYALTY_ACCOUNT);
  edit.ref.set_id(account_id);
  edit.operation = v1::OPERATION_INCREMENT;
  edit.mask.add_paths("points_balance");
  edit.values.mutable_loyalty_account()->set_id(account_id);
  edit.values.mutable_loyalty_account()->set_points_balance(delta);
  return Apply(edit);
}

}  // namespace crmsync::client
