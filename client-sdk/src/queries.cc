// Local queries a field app needs, on the local view's indexed columns.
#include <algorithm>
#include <cmath>
#include <set>

#include "crmsync/client/database.h"
#include "crmsync/sync/geo.h"
#include "crmsync/sync/timeline.h"
#include "record_index.h"
#include "sqlite_db.h"
#include "tables.h"

namespace crmsync::client {

absl::StatusOr<std::vector<v1::RecordState>> Database::MyOpenLeads() {
  absl::MutexLock lock(&mu_);
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

absl::StatusOr<std::vector<v1::RecordState>> Database::ListByOwner(v1::EntityType type,
                                                                   const std::string& owner_user_id,
                                                                   int limit) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto st = db_->Prepare(
      "SELECT local_state FROM records WHERE entity_type=?1 AND owner=?2 "
      "AND local_state IS NOT NULL ORDER BY name, id LIMIT ?3");
  if (!st.ok()) return st.status();
  st->Bind(1, static_cast<int64_t>(type))
      .Bind(2, owner_user_id)
      .Bind(3, static_cast<int64_t>(limit > 0 ? limit : -1));
  return internal::CollectStates(&*st);
}

absl::StatusOr<std::vector<v1::RecordState>> Database::ChangedSince(v1::EntityType type,
                                                                    int64_t since_ms, int limit) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto st = db_->Prepare(
      "SELECT local_state FROM records WHERE changed_ms >= ?1 AND (?2 = 0 OR entity_type = ?2) "
      "AND local_state IS NOT NULL ORDER BY changed_ms, entity_type, id LIMIT ?3");
  if (!st.ok()) return st.status();
  st->Bind(1, since_ms)
      .Bind(2, static_cast<int64_t>(type))
      .Bind(3, static_cast<int64_t>(limit > 0 ? limit : -1));
  return internal::CollectStates(&*st);
}

absl::StatusOr<std::vector<v1::RecordState>> Database::OpportunitiesOfAccount(
    const std::string& account_id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto st = db_->Prepare(
      "SELECT local_state FROM records WHERE entity_type=?1 AND parent_id=?2 "
      "AND local_state IS NOT NULL ORDER BY name, id");
  if (!st.ok()) return st.status();
  st->Bind(1, static_cast<int64_t>(v1::ENTITY_TYPE_OPPORTUNITY)).Bind(2, account_id);
  return internal::CollectStates(&*st);
}

absl::StatusOr<std::vector<v1::TimelineItem>> Database::Timeline(const v1::RecordRef& subject,
                                                                 int limit, int offset) {
  if (subject.entity_type() != v1::ENTITY_TYPE_ACCOUNT &&
      subject.entity_type() != v1::ENTITY_TYPE_CONTACT &&
      subject.entity_type() != v1::ENTITY_TYPE_LEAD) {
    return absl::InvalidArgumentError("a timeline is kept for accounts, contacts and leads");
  }
  if (limit < 0 || offset < 0) {
    return absl::InvalidArgumentError("limit and offset must not be negative");
  }
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  std::vector<v1::RecordState> candidates;
  for (v1::EntityType type : sync::TimelineTypes()) {
    // Calendar attendees are not an indexed column: the device's own
    // calendar is read whole (it is bounded by the user's scope).
    auto st = type == v1::ENTITY_TYPE_CALENDAR_EVENT
                  ? db_->Prepare(
                        "SELECT local_state FROM records WHERE entity_type=?1 "
                        "AND local_state IS NOT NULL")
                  : db_->Prepare(
                        "SELECT local_state FROM records WHERE entity_type=?1 AND parent_id=?2 "
                        "AND local_state IS NOT NULL");
    if (!st.ok()) return st.status();
    st->Bind(1, static_cast<int64_t>(type));
    if (type != v1::ENTITY_TYPE_CALENDAR_EVENT) st->Bind(2, subject.id());
    auto found = internal::CollectStates(&*st);
    if (!found.ok()) return found.status();
    for (v1::RecordState& s : *found) {
      if (!sync::RefersTo(s.data(), subject)) continue;
      // A contact's loyalty card brings the redemptions made with it (a
      // till holds its own).
      const v1::EntityType second = sync::SecondHopType(type);
      if (second != v1::ENTITY_TYPE_UNSPECIFIED) {
        auto all = db_->Prepare(
            "SELECT local_state FROM records WHERE entity_type=?1 AND local_state IS NOT NULL");
        if (!all.ok()) return all.status();
        all->Bind(1, static_cast<int64_t>(second));
        auto more = internal::CollectStates(&*all);
        if (!more.ok()) return more.status();
        for (v1::RecordState& m : *more) {
          if (sync::RefersTo(m.data(), s.ref())) candidates.push_back(std::move(m));
        }
      }
      candidates.push_back(std::move(s));
    }
  }
  std::vector<std::pair<v1::RecordState, sync::TimelinePoint>> entries;
  entries.reserve(candidates.size());
  for (v1::RecordState& s : candidates) {
    sync::TimelinePoint p = sync::TimelinePointOf(s);
    entries.emplace_back(std::move(s), p);
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return sync::TimelineBefore(a.first, a.second, b.first, b.second);
  });
  std::vector<v1::TimelineItem> out;
  const size_t end =
      limit > 0 ? std::min(entries.size(), static_cast<size_t>(offset) + limit) : entries.size();
  for (size_t i = static_cast<size_t>(offset); i < end; ++i) {
    v1::TimelineItem& item = out.emplace_back();
    *item.mutable_record() = std::move(entries[i].first);
    const int64_t ms = entries[i].second.at_ms;
    item.mutable_at()->set_seconds(ms / 1000);
    item.mutable_at()->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
    item.set_channel(entries[i].second.channel);
  }
  return out;
}

absl::StatusOr<std::vector<v1::RecordState>> Database::CalendarBetween(int64_t from_s,
                                                                       int64_t to_s) {
  absl::MutexLock lock(&mu_);
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

absl::StatusOr<std::vector<v1::RecordState>> Database::Search(const std::string& text, int limit) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto st = db_->Prepare(
      "SELECT r.local_state FROM record_text t JOIN records r ON r.rowid = t.docid "
      "WHERE record_text MATCH ?1 AND r.local_state IS NOT NULL "
      "ORDER BY r.entity_type, r.name LIMIT ?2");
  if (!st.ok()) return st.status();
  st->Bind(1, text).Bind(2, static_cast<int64_t>(limit > 0 ? limit : -1));
  auto out = internal::CollectStates(&*st);
  if (!out.ok())
    return absl::InvalidArgumentError("search '" + text +
                                      "': " + std::string(out.status().message()));
  return out;
}

absl::StatusOr<std::vector<v1::RecordState>> Database::CouponsNear(double latitude,
                                                                   double longitude,
                                                                   double radius_m,
                                                                   int64_t now_ms) {
  // The geo cells of the geofences (sync/geo.h, the server's scheme) narrow
  // the candidates; the exact test and the validity rule are the server's.
  v1::GeoPoint at;
  at.set_latitude(latitude);
  at.set_longitude(longitude);
  if (!sync::geo::ValidPoint(at) || !(radius_m >= 0)) {
    return absl::InvalidArgumentError("CouponsNear needs a valid position and a radius >= 0");
  }
  const std::vector<sync::geo::CellRange> ranges =
      sync::geo::LookupRanges(sync::geo::CoverDisc(at, radius_m));
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  std::string sql =
      "SELECT rowid, local_state FROM records WHERE local_state IS NOT NULL AND rowid IN "
      "(WITH q(lo, hi) AS (VALUES ";
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (i > 0) sql += ", ";
    sql += "(?" + std::to_string(1 + 2 * i) + ", ?" + std::to_string(2 + 2 * i) + ")";
  }
  sql += ") SELECT g.record FROM q CROSS JOIN geo_cells g ON g.cell BETWEEN q.lo AND q.hi)";
  auto st = db_->Prepare(sql);
  if (!st.ok()) return st.status();
  for (size_t i = 0; i < ranges.size(); ++i) {
    st->Bind(static_cast<int>(1 + 2 * i), int64_t{ranges[i].first})
        .Bind(static_cast<int>(2 + 2 * i), int64_t{ranges[i].second});
  }
  std::vector<std::pair<double, v1::RecordState>> hits;
  std::set<int64_t> seen;
  while (st->Step()) {
    if (!seen.insert(st->Int(0)).second) continue;
    v1::RecordState state;
    if (!state.ParseFromString(st->Blob(1))) return absl::DataLossError("corrupt record blob");
    const v1::Coupon& c = state.data().coupon();
    if (!sync::geo::CouponNear(c, at, radius_m) || !sync::geo::CouponRedeemableAt(c, now_ms)) {
      continue;
    }
    hits.emplace_back(sync::geo::DistanceToGeofenceM(c.geofence(), at), std::move(state));
  }
  if (!st->status().ok()) return st->status();
  // Nearest first; equal distances (e.g. inside several) by id.
  std::sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second.ref().id() < b.second.ref().id();
  });
  std::vector<v1::RecordState> out;
  out.reserve(hits.size());
  for (auto& h : hits) out.push_back(std::move(h.second));
  return out;
}

}  // namespace crmsync::client
