// The indexed columns and full-text body derived from a record's local view.
#ifndef CRMSYNC_CLIENT_SRC_RECORD_INDEX_H_
#define CRMSYNC_CLIENT_SRC_RECORD_INDEX_H_

#include <cstdint>
#include <optional>
#include <string>

#include "crmsync/v1/sync.pb.h"

namespace crmsync::client::internal {

namespace v1 = ::crmsync::v1;

struct RecordIndex {
  std::string owner;
  // Entity status enum (lead status, stage, event status, conflict status).
  int64_t status = 0;
  std::string name;
  // Parent record (opportunity/contact -> account).
  std::string parent_id;
  // Unix seconds; events: start/end; coupons: validity window.
  std::optional<int64_t> starts_at, ends_at;
  // Geometry: calendar location, store location, coupon geofence circle.
  std::optional<double> lat, lon;
  double radius_m = 0;
  // Wall time (Unix ms) of the record's last change, local or synced (its
  // HLC reading); Database::ChangedSince.
  int64_t changed_ms = 0;
  // Text for FTS4 (names, company, title, notes, description).
  std::string text;
};

RecordIndex IndexOf(const v1::RecordState& state);

// Great-circle distance in metres (haversine, mean Earth radius).
double HaversineMetres(double lat1, double lon1, double lat2, double lon2);

}  // namespace crmsync::client::internal

#endif  // CRMSYNC_CLIENT_SRC_RECORD_INDEX_H_
