#include "crmsync/sync/geo.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace crmsync::sync::geo {
namespace {

constexpr double kPi = 3.14159265358979323846;
double Rad(double deg) { return deg * kPi / 180.0; }
double Deg(double rad) { return rad * 180.0 / kPi; }

// Bounding boxes are grown by this much (about a centimetre) so that
// rounding never leaves a point of an area outside its cells.
constexpr double kPadDeg = 1e-7;

// ---- polygon distance

// Local equirectangular projection around `origin`, in metres. Affine in
// (longitude, latitude), so inside/outside is exact.
struct Xy {
  double x, y;
};
Xy Project(const v1::GeoPoint& p, const v1::GeoPoint& origin) {
  double x = Rad(p.longitude() - origin.longitude()) * std::cos(Rad(origin.latitude()));
  double y = Rad(p.latitude() - origin.latitude());
  return {x * kEarthRadiusM, y * kEarthRadiusM};
}

double SegmentDistance(Xy p, Xy a, Xy b) {
  double dx = b.x - a.x, dy = b.y - a.y;
  double len2 = dx * dx + dy * dy;
  double t = len2 == 0 ? 0 : std::clamp(((p.x - a.x) * dx + (p.y - a.y) * dy) / len2, 0.0, 1.0);
  double cx = a.x + t * dx - p.x, cy = a.y + t * dy - p.y;
  return std::sqrt(cx * cx + cy * cy);
}

double DistanceToPolygonM(const v1::GeoPolygon& poly, const v1::GeoPoint& p) {
  const int n = poly.vertices_size();
  if (n < 3) return std::numeric_limits<double>::infinity();
  Xy q = Project(p, p);
  bool inside = false;
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0, j = n - 1; i < n; j = i++) {
    Xy a = Project(poly.vertices(i), p), b = Project(poly.vertices(j), p);
    if ((a.y > q.y) != (b.y > q.y) && q.x < (b.x - a.x) * (q.y - a.y) / (b.y - a.y) + a.x) {
      inside = !inside;
    }
    best = std::min(best, SegmentDistance(q, a, b));
  }
  return inside ? 0.0 : best;
}

// ---- cells

// Spreads the low 32 bits of v to the even bit positions.
uint64_t Spread(uint64_t v) {
  v &= 0xffffffffULL;
  v = (v | (v << 16)) & 0x0000ffff0000ffffULL;
  v = (v | (v << 8)) & 0x00ff00ff00ff00ffULL;
  v = (v | (v << 4)) & 0x0f0f0f0f0f0f0f0fULL;
  v = (v | (v << 2)) & 0x3333333333333333ULL;
  v = (v | (v << 1)) & 0x5555555555555555ULL;
  return v;
}

CellId MakeCell(uint64_t ix, uint64_t iy, int level) {
  const uint64_t morton = Spread(ix) | (Spread(iy) << 1);
  return static_cast<CellId>(((morton << 1) | 1) << (2 * (kMaxLevel - level)));
}

uint64_t Lsb(CellId cell) {
  const uint64_t id = static_cast<uint64_t>(cell);
  return id & (~id + 1);
}

// Index along one axis of a coordinate already mapped to [0, 1].
uint64_t AxisIndex(double unit, int level) {
  const double n = std::ldexp(1.0, level);
  const double scaled = std::floor(std::clamp(unit, 0.0, 1.0) * n);
  return static_cast<uint64_t>(std::min(scaled, n - 1));
}

double UnitX(double lon) { return (lon + 180.0) / 360.0; }
double UnitY(double lat) { return (lat + 90.0) / 180.0; }

struct Box {
  double lat0, lat1, lon0, lon1;  // lon0 <= lon1, inside [-180, 180]
};

// Adds the cells of the finest level at which at most kMaxCoverCells meet
// the box.
void CoverBox(const Box& box, std::vector<CellId>* out) {
  const double x0 = UnitX(box.lon0), x1 = UnitX(box.lon1);
  const double y0 = UnitY(box.lat0), y1 = UnitY(box.lat1);
  for (int level = kMaxLevel; level >= 0; --level) {
    const uint64_t ix0 = AxisIndex(x0, level), ix1 = AxisIndex(x1, level);
    const uint64_t iy0 = AxisIndex(y0, level), iy1 = AxisIndex(y1, level);
    if ((ix1 - ix0 + 1) * (iy1 - iy0 + 1) > static_cast<uint64_t>(kMaxCoverCells)) continue;
    for (uint64_t ix = ix0; ix <= ix1; ++ix) {
      for (uint64_t iy = iy0; iy <= iy1; ++iy) out->push_back(MakeCell(ix, iy, level));
    }
    return;
  }
}

// Covers [lon0, lon1] x [lat0, lat1], where the longitudes may run past
// +-180 (the part beyond wraps around).
void CoverWrapped(double lat0, double lat1, double lon0, double lon1, std::vector<CellId>* out) {
  lat0 = std::max(-90.0, lat0 - kPadDeg);
  lat1 = std::min(90.0, lat1 + kPadDeg);
  lon0 -= kPadDeg;
  lon1 += kPadDeg;
  if (lon1 - lon0 >= 360.0) {
    CoverBox({lat0, lat1, -180.0, 180.0}, out);
  } else if (lon0 < -180.0) {
    CoverBox({lat0, lat1, lon0 + 360.0, 180.0}, out);
    CoverBox({lat0, lat1, -180.0, lon1}, out);
  } else if (lon1 > 180.0) {
    CoverBox({lat0, lat1, lon0, 180.0}, out);
    CoverBox({lat0, lat1, -180.0, lon1 - 360.0}, out);
  } else {
    CoverBox({lat0, lat1, lon0, lon1}, out);
  }
}

// Cells covering the spherical cap of `radius_m` around `p`: latitude
// +-d; longitude +-d / cos(the cap's largest |latitude|), which bounds the
// cap's true extent asin(sin d / cos lat); all longitudes once the cap
// reaches a pole.
void CoverCap(const v1::GeoPoint& p, double radius_m, std::vector<CellId>* out) {
  const double d = Deg(std::max(0.0, radius_m) / kEarthRadiusM);
  const double lat0 = p.latitude() - d, lat1 = p.latitude() + d;
  const double widest = std::max(std::fabs(lat0), std::fabs(lat1));
  if (widest >= 90.0 - kPadDeg) {
    CoverWrapped(lat0, lat1, -180.0, 180.0, out);
    return;
  }
  const double half = d / std::cos(Rad(widest));
  if (half >= 180.0) {
    CoverWrapped(lat0, lat1, -180.0, 180.0, out);
    return;
  }
  CoverWrapped(lat0, lat1, p.longitude() - half, p.longitude() + half, out);
}

void SortUnique(std::vector<CellId>* cells) {
  std::sort(cells->begin(), cells->end());
  cells->erase(std::unique(cells->begin(), cells->end()), cells->end());
}

}  // namespace

int64_t SaturatedUnixMs(const google::protobuf::Timestamp& t) {
  // A Timestamp far outside its documented range (years 1-9999) must not
  // overflow.
  constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / 1000 - 1;
  return std::clamp<int64_t>(t.seconds(), -kMaxSeconds, kMaxSeconds) * 1000 + t.nanos() / 1000000;
}

bool ValidPoint(const v1::GeoPoint& p) {
  return std::isfinite(p.latitude()) && std::isfinite(p.longitude()) && p.latitude() >= -90 &&
         p.latitude() <= 90 && p.longitude() >= -180 && p.longitude() <= 180;
}

double DistanceM(const v1::GeoPoint& a, const v1::GeoPoint& b) {
  double dlat = Rad(b.latitude() - a.latitude());
  double dlon = Rad(b.longitude() - a.longitude());
  double h = std::sin(dlat / 2) * std::sin(dlat / 2) + std::cos(Rad(a.latitude())) *
                                                           std::cos(Rad(b.latitude())) *
                                                           std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusM * std::asin(std::min(1.0, std::sqrt(h)));
}

double DistanceToGeofenceM(const v1::Geofence& fence, const v1::GeoPoint& p) {
  switch (fence.shape_case()) {
    case v1::Geofence::kCircle:
      return std::max(0.0, DistanceM(fence.circle().center(), p) - fence.circle().radius_m());
    case v1::Geofence::kPolygon: return DistanceToPolygonM(fence.polygon(), p);
    default: return std::numeric_limits<double>::infinity();
  }
}

CellId CellAt(const v1::GeoPoint& p, int level) {
  level = std::clamp(level, 0, kMaxLevel);
  return MakeCell(AxisIndex(UnitX(p.longitude()), level), AxisIndex(UnitY(p.latitude()), level),
                  level);
}

int CellLevel(CellId cell) {
  int trailing = 0;
  for (uint64_t lsb = Lsb(cell); lsb > 1; lsb >>= 1) ++trailing;
  return kMaxLevel - trailing / 2;
}

CellId CellParent(CellId cell) {
  const uint64_t parent_lsb = Lsb(cell) << 2;
  const uint64_t id = static_cast<uint64_t>(cell);
  return static_cast<CellId>((id & (~parent_lsb + 1)) | parent_lsb);
}

CellId RangeMin(CellId cell) { return cell - static_cast<CellId>(Lsb(cell) - 1); }
CellId RangeMax(CellId cell) { return cell + static_cast<CellId>(Lsb(cell) - 1); }

std::vector<CellId> CoverGeofence(const v1::Geofence& fence) {
  std::vector<CellId> cells;
  switch (fence.shape_case()) {
    case v1::Geofence::kCircle:
      CoverCap(fence.circle().center(), fence.circle().radius_m(), &cells);
      break;
    case v1::Geofence::kPolygon: {
      const auto& vs = fence.polygon().vertices();
      if (vs.size() < 3) break;
      double lat0 = 90, lat1 = -90, lon0 = 180, lon1 = -180;
      for (const v1::GeoPoint& v : vs) {
        lat0 = std::min(lat0, v.latitude());
        lat1 = std::max(lat1, v.latitude());
        lon0 = std::min(lon0, v.longitude());
        lon1 = std::max(lon1, v.longitude());
      }
      // The polygon test works on plain longitudes (no wrap-around), so its
      // area is inside this box.
      CoverWrapped(lat0, lat1, lon0, lon1, &cells);
      break;
    }
    default: break;
  }
  SortUnique(&cells);
  return cells;
}

std::vector<CellId> CoverDisc(const v1::GeoPoint& p, double radius_m) {
  std::vector<CellId> cells;
  CoverCap(p, radius_m, &cells);
  SortUnique(&cells);
  return cells;
}

std::vector<CellRange> LookupRanges(const std::vector<CellId>& cover) {
  std::vector<CellRange> ranges;
  for (CellId c : cover) {
    ranges.emplace_back(RangeMin(c), RangeMax(c));
    for (CellId a = c; CellLevel(a) > 0;) {
      a = CellParent(a);
      ranges.emplace_back(a, a);
    }
  }
  std::sort(ranges.begin(), ranges.end());
  std::vector<CellRange> merged;
  for (const CellRange& r : ranges) {
    if (!merged.empty() && r.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

bool CouponRedeemableAt(const v1::Coupon& c, int64_t now_ms) {
  if (!c.active()) return false;
  if (c.has_valid_from() && SaturatedUnixMs(c.valid_from()) > now_ms) return false;
  if (CouponExpiredAt(c, now_ms)) return false;
  if (c.max_redemptions_total() > 0 && c.redemption_count() >= c.max_redemptions_total()) {
    return false;
  }
  return true;
}

bool CouponExpiredAt(const v1::Coupon& c, int64_t now_ms) {
  return c.has_valid_until() && SaturatedUnixMs(c.valid_until()) < now_ms;
}

bool CouponNear(const v1::Coupon& c, const v1::GeoPoint& p, double radius_m) {
  return c.has_geofence() && DistanceToGeofenceM(c.geofence(), p) <= radius_m;
}

}  // namespace crmsync::sync::geo
