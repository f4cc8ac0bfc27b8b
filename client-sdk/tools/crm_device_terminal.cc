// crm-device on a store terminal: offline coupon redemptions and loyalty
// points. Both are local-first writes queued in the outbox; the server
// arbitrates coupon limits across terminals and refuses debits that would
// take a balance below zero, and `sync` prints its verdicts.
#include <cstdio>
#include <random>
#include <sstream>

#include "crm_device.h"
#include "crmsync/sync/geo.h"

namespace crmsync::client::device {

absl::StatusOr<v1::GeoPoint> ParsePoint(const std::string& text) {
  double lat = 0, lon = 0;
  char comma = 0;
  std::istringstream in(text);
  in >> lat >> comma >> lon;
  v1::GeoPoint p;
  p.set_latitude(lat);
  p.set_longitude(lon);
  if (!in || comma != ',' || !in.eof() || !sync::geo::ValidPoint(p)) {
    return absl::InvalidArgumentError("expected LAT,LON in degrees (e.g. 48.8606,2.3376), got '" +
                                      text + "'");
  }
  return p;
}

int CmdRedeem(Session* s, const RedeemOptions& o) {
  auto report = [&](const absl::Status& st) {
    s->err() << "crm-device: " << st.message() << "\n";
    return ExitCodeOf(st);
  };
  auto at = ParsePoint(o.at);
  if (!at.ok()) return report(at.status());
  if (!(o.accuracy_m >= 0)) return report(absl::InvalidArgumentError("--accuracy must be >= 0"));
  auto db = s->Db();
  if (!db.ok()) return report(db.status());
  v1::RecordRef coupon_ref;
  coupon_ref.set_entity_type(v1::ENTITY_TYPE_COUPON);
  coupon_ref.set_id(o.coupon_id);
  auto coupon = (*db)->Get(coupon_ref);
  if (!coupon.ok()) {
    return report(absl::NotFoundError("coupon " + o.coupon_id +
                                      " is not held by this terminal (sync first?)"));
  }
  const int64_t now_ms = SystemClock()->NowMs();
  std::string id = o.id;
  if (id.empty()) {
    // Unique per terminal: its device id, the time and a random suffix.
    std::random_device rd;
    char suffix[9];
    std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rd()));
    id = "red-" + (*db)->device_id() + "-" + std::to_string(now_ms) + "-" + suffix;
  }
  LocalEdit edit;
  edit.ref.set_entity_type(v1::ENTITY_TYPE_REDEMPTION);
  edit.ref.set_id(id);
  edit.operation = v1::OPERATION_REDEEM;
  v1::Redemption* r = edit.values.mutable_redemption();
  r->set_id(id);
  r->set_coupon_id(o.coupon_id);
  r->set_store_id(o.store_id);
  r->set_device_id((*db)->device_id());
  r->set_loyalty_account_id(o.customer);
  r->set_status(v1::REDEMPTION_STATUS_PENDING);
  r->mutable_redeemed_at()->set_seconds(now_ms / 1000);
  r->mutable_redeemed_at()->set_nanos(static_cast<int32_t>(now_ms % 1000) * 1000000);
  *r->mutable_position() = *at;
  r->set_position_accuracy_m(o.accuracy_m);
  auto written = (*db)->Apply(edit);
  if (!written.ok()) return report(written.status());
  s->out() << written->ref().id() << "\tcoupon " << o.coupon_id
           << "\tPENDING (queued; the server confirms or rejects it at the next sync)\n";
  return kOk;
}

int CmdPoints(Session* s, const std::string& account_id, int64_t delta) {
  auto report = [&](const absl::Status& st) {
    s->err() << "crm-device: " << st.message() << "\n";
    return ExitCodeOf(st);
  };
  if (delta == 0) return report(absl::InvalidArgumentError("points: DELTA must not be 0"));
  auto db = s->Db();
  if (!db.ok()) return report(db.status());
  LocalEdit edit;
  edit.ref.set_entity_type(v1::ENTITY_TYPE_LOYALTY_ACCOUNT);
  edit.ref.set_id(account_id);
  edit.operation = v1::OPERATION_INCREMENT;
  edit.mask.add_paths("points_balance");
  edit.values.mutable_loyalty_account()->set_id(account_id);
  edit.values.mutable_loyalty_account()->set_points_balance(delta);
  auto written = (*db)->Apply(edit);
  if (!written.ok()) return report(written.status());
  s->out() << account_id << "\t" << written->data().loyalty_account().points_balance()
           << " points locally (" << (delta > 0 ? "+" : "") << delta << " queued)\n";
  return kOk;
}

}  // namespace crmsync::client::device
