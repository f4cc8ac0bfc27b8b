// crm-device on a store terminal: offline coupon redemptions and loyalty
// points. Both are local-first writes queued in the outbox; the server
// arbitrates coupon limits across terminals and refuses debits that would
// take a balance below zero, and `sync` prints its verdicts.
#include <cstdio>
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
  RedeemRequest request;
  request.coupon_id = o.coupon_id;
  request.store_id = o.store_id;
  request.loyalty_account_id = o.customer;
  request.latitude = at->latitude();
  request.longitude = at->longitude();
  request.accuracy_m = o.accuracy_m;
  request.id = o.id;
  auto written = (*db)->Redeem(request);
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
  auto written = (*db)->AddPoints(account_id, delta);
  if (!written.ok()) return report(written.status());
  s->out() << account_id << "\t" << written->data().loyalty_account().points_balance()
           << " points locally (" << (delta > 0 ? "+" : "") << delta << " queued)\n";
  return kOk;
}

}  // namespace crmsync::client::device
