// Geometry of coupons and stores, shared by the server and the device SDK so
// that both answer "which coupons are valid here" identically.
//
//  * Distances are great-circle (haversine) on a spherical earth; a polygon
//    is tested in a local equirectangular projection around the query point
//    (exact for the inside test, accurate to well under a metre for the
//    few-kilometre polygons of store campaigns).
//  * Cells index areas without scanning: a quadtree over the plane of
//    (longitude, latitude). Level L splits each axis into 2^L parts; a cell id
//    is S2-style: the Morton code of the cell's (x, y) followed by a 1 bit,
//    shifted so that every descendant of a cell has an id in
//    [RangeMin(cell), RangeMax(cell)] and an ancestor is found by moving the
//    lowest 1 bit. An area is stored under a few cells that cover its
//    bounding box (at the finest level where at most kMaxCoverCells do); a
//    query covers its own bounding box the same way and looks up, for each
//    of its cells, the cell's descendants (one id range) and its ancestors
//    (one id each). Every area whose cells meet the query's is returned;
//    the exact distance test then decides. See docs/geo-index.md.
#ifndef CRMSYNC_SYNC_GEO_H_
#define CRMSYNC_SYNC_GEO_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "crmsync/v1/common.pb.h"
#include "crmsync/v1/entities.pb.h"

namespace crmsync::sync::geo {

namespace v1 = ::crmsync::v1;

// Mean earth radius used for distances, in metres.
inline constexpr double kEarthRadiusM = 6371008.8;

// Whether latitude is in [-90, 90] and longitude in [-180, 180] (and finite).
bool ValidPoint(const v1::GeoPoint& p);

// Great-circle (haversine) distance in metres.
double DistanceM(const v1::GeoPoint& a, const v1::GeoPoint& b);

// Distance in metres from `p` to the area of `fence` (0 when inside). A
// fence with no shape (or a polygon of fewer than 3 vertices) has no area:
// returns +infinity.
double DistanceToGeofenceM(const v1::Geofence& fence, const v1::GeoPoint& p);

// ---- cells

using CellId = int64_t;
inline constexpr int kMaxLevel = 30;
// An area is covered by at most this many cells (at the finest level where
// its bounding box meets no more).
inline constexpr int kMaxCoverCells = 8;

// The cell of level `level` (0..kMaxLevel) containing a valid point.
CellId CellAt(const v1::GeoPoint& p, int level);
int CellLevel(CellId cell);
CellId CellParent(CellId cell);
// Every cell whose id lies in [RangeMin(c), RangeMax(c)] is c or inside c.
CellId RangeMin(CellId cell);
CellId RangeMax(CellId cell);

// Cells covering the fence's area (empty for a fence with no area), sorted,
// without duplicates. Valid vertices/centre expected.
std::vector<CellId> CoverGeofence(const v1::Geofence& fence);
// Cells covering every point within `radius_m` of `p` (radius 0: the point).
std::vector<CellId> CoverDisc(const v1::GeoPoint& p, double radius_m);

// Closed id ranges to look up so that every stored cell meeting one of
// `cover` is found: each cover cell's descendants and each of its ancestors.
// Sorted and merged.
using CellRange = std::pair<CellId, CellId>;
std::vector<CellRange> LookupRanges(const std::vector<CellId>& cover);

// ---- coupons

// Milliseconds since the epoch, saturating instead of overflowing for a
// Timestamp outside its documented range.
int64_t SaturatedUnixMs(const google::protobuf::Timestamp& t);

// Whether the coupon can be redeemed at `now_ms` (Unix ms): active, inside
// its validity window (both ends inclusive) and not exhausted.
bool CouponRedeemableAt(const v1::Coupon& coupon, int64_t now_ms);
// Whether the coupon's validity ended before `now_ms` (a coupon without an
// end never expires).
bool CouponExpiredAt(const v1::Coupon& coupon, int64_t now_ms);
// Whether a coupon's geofence lies within `radius_m` of `p` (radius 0: the
// fence contains p). This is the exact test of every "coupons near" query.
bool CouponNear(const v1::Coupon& coupon, const v1::GeoPoint& p, double radius_m);

}  // namespace crmsync::sync::geo

#endif  // CRMSYNC_SYNC_GEO_H_
