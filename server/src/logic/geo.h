// Geographic helpers for coupons and redemptions (WGS84, spherical earth).
#ifndef CRMSYNC_SERVER_LOGIC_GEO_H_
#define CRMSYNC_SERVER_LOGIC_GEO_H_

#include "crmsync/v1/common.pb.h"

namespace crmsync::server {

// Mean earth radius used for distances, in metres.
inline constexpr double kEarthRadiusM = 6371008.8;

// Whether latitude is in [-90, 90] and longitude in [-180, 180] (and finite).
bool ValidPoint(const ::crmsync::v1::GeoPoint& p);

// Great-circle (haversine) distance in metres.
double DistanceM(const ::crmsync::v1::GeoPoint& a, const ::crmsync::v1::GeoPoint& b);

// Distance in metres from `p` to the area of `fence` (0 when inside). A
// fence with no shape has no area: returns +infinity.
double DistanceToGeofenceM(const ::crmsync::v1::Geofence& fence, const ::crmsync::v1::GeoPoint& p);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_GEO_H_
