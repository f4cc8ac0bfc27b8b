// Local queries a field app needs, on the local view's indexed columns.
#include <cmath>

#include "crmsync/client/database.h"
#include "record_index.h"
#include "sqlite_db.h"
#include "tables.h"

namespace crmsync::client {

absl::StatusOr<std::vector<v1::RecordState>> Database::MyOpenLeads() {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto st = db_->Prepare(
      "SELECT local_state FROM records WHERE entity_type=?1 AND owner=?2 "
      "AND local_state IS NOT NULL AND status NOT IN (?3, ?4) ORDER BY name, id");
  if (!st.ok()) return st.status();
  st->Bind(1, static_cast<int64_t>(v1::ENTITY_TYPE_LEAD))
      .Bind(2, options_.user_id)
      .Bind(3, static_cast<int64_t>(v1::LEAD_STATUS_UNQUALIFIED))
      .Bind(4, static_cast<int64_t>(v1::LEAD_STATUS_CONVERTED));
  return internal::CollectStates(&*st);
}

absl::StatusOr<std::vector<v1::RecordState>> Database::OpportunitiesOfAccount(
    const std::string& account_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto st = db_->Prepare(
      "SELECT local_state FROM records WHERE entity_type=?1 AND parent_id=?2 "
      "AND local_state IS NOT NULL ORDER BY name, id");
  if (!st.ok()) return st.status();
  st->Bind(1, static_cast<int64_t>(v1::ENTITY_TYPE_OPPORTUNITY)).Bind(2, account_id);
  return internal::CollectStates(&*st);
}

absl::StatusOr<std::vector<v1::RecordState>> Database::CalendarBetween(int64_t from_s,
                                                                       int64_t to_s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto st = db_->Prepare(
      "SELECT local_state FROM records WHERE entity_type=?1 AND local_state IS NOT NULL "
      "AND starts_at < ?3 AND coalesce(ends_at, starts_at) >= ?2 ORDER BY starts_at, id");
  if (!st.ok()) return st.status();
  st->Bind(1, static_cast<int64_t>(v1::ENTITY_TYPE_CALENDAR_EVENT)).Bind(2, from_s).Bind(3, to_s);
  return internal::CollectStates(&*st);
}

absl::StatusOr<std::vector<v1::RecordState>> Database::TodaysCalendar(int64_t now_ms,
                                                                      int utc_offset_minutes) {
  const int64_t offset_s = static_cast<int64_t>(utc_offset_minutes) * 60;
  const int64_t local_s = now_ms / 1000 + offset_s;
  const int64_t day_start = (local_s - ((local_s % 86400) + 86400) % 86400) - offset_s;
  return CalendarBetween(day_start, day_start + 86400);
}

absl::StatusOr<std::vector<v1::RecordState>> Database::Search(const std::string& text,
                                                              int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto st = db_->Prepare(
      "SELECT r.local_state FROM record_text t JOIN records r ON r.rowid = t.docid "
      "WHERE record_text MATCH ?1 AND r.local_state IS NOT NULL "
      "ORDER BY r.entity_type, r.name LIMIT ?2");
  if (!st.ok()) return st.status();
  st->Bind(1, text).Bind(2, static_cast<int64_t>(limit > 0 ? limit : -1));
  auto out = internal::CollectStates(&*st);
  if (!out.ok()) return absl::InvalidArgumentError("search '" + text + "': " +
                                                   std::string(out.status().message()));
  return out;
}

absl::StatusOr<std::vector<v1::RecordState>> Database::CouponsNear(double latitude,
                                                                   double longitude,
                                                                   double radius_m,
                                                                   int64_t now_ms) {
  // Bounding box: the largest geofence radius held plus the search radius,
  // in degrees (a degree of latitude is ~111.2 km; longitude shrinks with
  // cos(latitude)). The exact test is the haversine distance below.
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto max_r = db_->Prepare("SELECT coalesce(max(radius_m), 0) FROM records WHERE entity_type=?1");
  if (!max_r.ok()) return max_r.status();
  max_r->Bind(1, static_cast<int64_t>(v1::ENTITY_TYPE_COUPON));
  double reach = radius_m;
  if (max_r->Step()) reach += max_r->Double(0);
  const double dlat = reach / 111195.0;
  const double cos_lat = std::max(0.01, std::cos(latitude * M_PI / 180.0));
  const double dlon = std::min(180.0, dlat / cos_lat);
  const int64_t now_s = now_ms / 1000;
  auto st = db_->Prepare(
      "SELECT local_state, lat, lon, radius_m FROM records INDEXED BY records_geo "
      "WHERE entity_type=?1 "
      "AND local_state IS NOT NULL AND status=1 "
      "AND lat BETWEEN ?2 AND ?3 AND lon BETWEEN ?4 AND ?5 "
      "AND (starts_at IS NULL OR starts_at <= ?6) AND (ends_at IS NULL OR ends_at > ?6)");
  if (!st.ok()) return st.status();
  st->Bind(1, static_cast<int64_t>(v1::ENTITY_TYPE_COUPON))
      .Bind(2, latitude - dlat)
      .Bind(3, latitude + dlat)
      .Bind(4, longitude - dlon)
      .Bind(5, longitude + dlon)
      .Bind(6, now_s);
  std::vector<std::pair<double, v1::RecordState>> hits;
  while (st->Step()) {
    const double d = internal::HaversineMetres(latitude, longitude, st->Double(1), st->Double(2));
    if (d > st->Double(3) + radius_m) continue;
    v1::RecordState state;
    if (!state.ParseFromString(st->Blob(0))) return absl::DataLossError("corrupt record blob");
    hits.emplace_back(d, std::move(state));
  }
  if (!st->status().ok()) return st->status();
  std::stable_sort(hits.begin(), hits.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<v1::RecordState> out;
  for (auto& h : hits) out.push_back(std::move(h.second));
  return out;
}

}  // namespace crmsync::client
