#include "geo.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace crmsync::server {

namespace v1 = ::crmsync::v1;

namespace {

constexpr double kPi = 3.14159265358979323846;
double Rad(double deg) { return deg * kPi / 180.0; }

// Local equirectangular projection around `origin`, in metres: accurate
// enough for the few-kilometre polygons of store campaigns.
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

}  // namespace

bool ValidPoint(const v1::GeoPoint& p) {
  return std::isfinite(p.latitude()) && std::isfinite(p.longitude()) && p.latitude() >= -90 &&
         p.latitude() <= 90 && p.longitude() >= -180 && p.longitude() <= 180;
}

double DistanceM(const v1::GeoPoint& a, const v1::GeoPoint& b) {
  double dlat = Rad(b.latitude() - a.latitude());
  double dlon = Rad(b.longitude() - a.longitude());
  double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
             std::cos(Rad(a.latitude())) * std::cos(Rad(b.latitude())) * std::sin(dlon / 2) *
                 std::sin(dlon / 2);
  return 2 * kEarthRadiusM * std::asin(std::min(1.0, std::sqrt(h)));
}

double DistanceToGeofenceM(const v1::Geofence& fence, const v1::GeoPoint& p) {
  switch (fence.shape_case()) {
    case v1::Geofence::kCircle:
      return std::max(0.0, DistanceM(fence.circle().center(), p) - fence.circle().radius_m());
    case v1::Geofence::kPolygon:
      return DistanceToPolygonM(fence.polygon(), p);
    default:
      return std::numeric_limits<double>::infinity();
  }
}

}  // namespace crmsync::server
