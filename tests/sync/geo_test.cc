// sync/geo.h: cell arithmetic, covers that never miss a point, and the
// cell lookup compared with a brute-force scan of random fences.
#include "crmsync/sync/geo.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>

#include "gtest/gtest.h"

namespace crmsync::sync::geo {
namespace {

v1::GeoPoint Point(double lat, double lon) {
  v1::GeoPoint p;
  p.set_latitude(lat);
  p.set_longitude(lon);
  return p;
}

v1::Geofence Circle(double lat, double lon, double radius_m) {
  v1::Geofence f;
  *f.mutable_circle()->mutable_center() = Point(lat, lon);
  f.mutable_circle()->set_radius_m(radius_m);
  return f;
}

// The point at `distance_m` from `from` towards `bearing_deg` (great circle).
v1::GeoPoint Destination(const v1::GeoPoint& from, double bearing_deg, double distance_m) {
  const double k = M_PI / 180.0;
  const double d = distance_m / kEarthRadiusM, b = bearing_deg * k;
  const double lat1 = from.latitude() * k, lon1 = from.longitude() * k;
  const double lat2 =
      std::asin(std::sin(lat1) * std::cos(d) + std::cos(lat1) * std::sin(d) * std::cos(b));
  double lon2 = lon1 + std::atan2(std::sin(b) * std::sin(d) * std::cos(lat1),
                                  std::cos(d) - std::sin(lat1) * std::sin(lat2));
  double lon = lon2 / k;
  while (lon > 180) lon -= 360;
  while (lon < -180) lon += 360;
  return Point(lat2 / k, lon);
}

bool Covered(const std::vector<CellId>& cover, const v1::GeoPoint& p) {
  const CellId leaf = CellAt(p, kMaxLevel);
  for (CellId c : cover) {
    if (leaf >= RangeMin(c) && leaf <= RangeMax(c)) return true;
  }
  return false;
}

TEST(GeoCellTest, ParentsRangesAndLevelsAgree) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> lat(-90, 90), lon(-180, 180);
  for (int i = 0; i < 2000; ++i) {
    const v1::GeoPoint p = Point(lat(rng), lon(rng));
    CellId c = CellAt(p, kMaxLevel);
    EXPECT_EQ(CellLevel(c), kMaxLevel);
    EXPECT_EQ(RangeMin(c), c);
    EXPECT_EQ(RangeMax(c), c);
    for (int level = kMaxLevel - 1; level >= 0; --level) {
      const CellId parent = CellParent(c);
      ASSERT_EQ(parent, CellAt(p, level)) << "level " << level;
      ASSERT_EQ(CellLevel(parent), level);
      ASSERT_LE(RangeMin(parent), c);
      ASSERT_GE(RangeMax(parent), c);
      c = parent;
    }
    EXPECT_GT(c, 0);
  }
  // Cells of one level do not overlap.
  const CellId a = CellAt(Point(10, 10), 12), b = CellAt(Point(-10, -10), 12);
  EXPECT_TRUE(RangeMax(a) < RangeMin(b) || RangeMax(b) < RangeMin(a));
}

TEST(GeoCellTest, CoverOfACircleHoldsItsBoundaryEvenAtPolesAndTheAntimeridian) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> lat(-90, 90), lon(-180, 180), unit(0, 1);
  const v1::GeoPoint specials[] = {Point(89.99, 0),    Point(-89.9, 120), Point(0, 179.999),
                                   Point(45, -179.99), Point(0, 0),       Point(60, 180)};
  for (int i = 0; i < 3000; ++i) {
    v1::GeoPoint c = i < 6 ? specials[i] : Point(lat(rng), lon(rng));
    const double r = std::pow(10.0, 1 + 5.5 * unit(rng));  // 10 m .. 3,000 km
    const v1::Geofence fence = Circle(c.latitude(), c.longitude(), r);
    const std::vector<CellId> cover = CoverGeofence(fence);
    ASSERT_FALSE(cover.empty());
    ASSERT_LE(cover.size(), static_cast<size_t>(2 * kMaxCoverCells));
    for (int k = 0; k < 16; ++k) {
      const v1::GeoPoint edge = Destination(c, 360.0 * k / 16 + unit(rng), r * 0.999999);
      ASSERT_TRUE(Covered(cover, edge))
          << "centre " << c.latitude() << "," << c.longitude() << " r " << r << " edge "
          << edge.latitude() << "," << edge.longitude();
    }
  }
}

// A brute-force scan and the cell lookup must return the same coupons.
TEST(GeoCellTest, LookupFindsExactlyWhatABruteForceScanFinds) {
  std::mt19937_64 rng(23);
  std::uniform_real_distribution<double> unit(0, 1);
  // Fences clustered around a few cities (dense) plus a few anywhere.
  const v1::GeoPoint cities[] = {Point(48.8566, 2.3522), Point(45.764, 4.8357),
                                 Point(-33.87, 151.21), Point(64.1, -21.9), Point(0.1, 179.95)};
  std::vector<v1::Coupon> coupons;
  std::multimap<CellId, size_t> index;
  for (size_t i = 0; i < 3000; ++i) {
    v1::Coupon c;
    c.set_id("c" + std::to_string(i));
    const v1::GeoPoint& city = cities[i % 5];
    const v1::GeoPoint centre = i % 50 == 0 ? Point(-80 + 160 * unit(rng), -180 + 360 * unit(rng))
                                            : Destination(city, 360 * unit(rng), 30000 * unit(rng));
    if (i % 4 == 0) {
      // A small polygon (a rotated square) around the centre.
      const double half = 50 + 2000 * unit(rng), turn = 90 * unit(rng);
      for (int k = 0; k < 4; ++k) {
        *c.mutable_geofence()->mutable_polygon()->add_vertices() =
            Destination(centre, turn + 90 * k, half);
      }
    } else {
      *c.mutable_geofence() =
          Circle(centre.latitude(), centre.longitude(), std::pow(10.0, 1.5 + 3 * unit(rng)));
    }
    for (CellId cell : CoverGeofence(c.geofence())) index.emplace(cell, i);
    coupons.push_back(std::move(c));
  }
  int nonempty = 0;
  for (int q = 0; q < 2000; ++q) {
    const v1::GeoPoint& city = cities[q % 5];
    const v1::GeoPoint at = q % 40 == 0 ? Point(-90 + 180 * unit(rng), -180 + 360 * unit(rng))
                                        : Destination(city, 360 * unit(rng), 35000 * unit(rng));
    const double radius = q % 3 == 0 ? 0.0 : std::pow(10.0, 4 * unit(rng));
    std::set<size_t> brute, indexed;
    for (size_t i = 0; i < coupons.size(); ++i) {
      if (CouponNear(coupons[i], at, radius)) brute.insert(i);
    }
    size_t candidates = 0;
    for (const CellRange& r : LookupRanges(CoverDisc(at, radius))) {
      for (auto it = index.lower_bound(r.first); it != index.end() && it->first <= r.second; ++it) {
        ++candidates;
        if (CouponNear(coupons[it->second], at, radius)) indexed.insert(it->second);
      }
    }
    ASSERT_EQ(brute, indexed) << "query " << q << " at " << at.latitude() << "," << at.longitude()
                              << " radius " << radius;
    if (!brute.empty()) ++nonempty;
  }
  EXPECT_GT(nonempty, 500);  // the queries do hit fences
}

TEST(GeoCellTest, LookupRangesAreSortedAndDisjoint) {
  const auto ranges = LookupRanges(CoverDisc(Point(48.85, 2.35), 5000));
  ASSERT_FALSE(ranges.empty());
  for (size_t i = 0; i < ranges.size(); ++i) {
    EXPECT_LE(ranges[i].first, ranges[i].second);
    if (i > 0) {
      EXPECT_GT(ranges[i].first, ranges[i - 1].second + 1);
    }
  }
  // A point query asks for a few leaves (the point grown by a centimetre)
  // and their ancestors, which soon coincide.
  const size_t point_ranges = LookupRanges(CoverDisc(Point(1, 1), 0)).size();
  EXPECT_GE(point_ranges, static_cast<size_t>(kMaxLevel + 1));
  EXPECT_LE(point_ranges, static_cast<size_t>(kMaxLevel + 1 + 2 * kMaxCoverCells));
}

TEST(GeoCouponTest, RedeemableNeedsActiveValidAndNotExhausted) {
  v1::Coupon c;
  c.set_active(true);
  c.mutable_valid_from()->set_seconds(100);
  c.mutable_valid_until()->set_seconds(200);
  EXPECT_FALSE(CouponRedeemableAt(c, 99'999));
  EXPECT_TRUE(CouponRedeemableAt(c, 100'000));
  EXPECT_TRUE(CouponRedeemableAt(c, 200'000));  // both ends inclusive
  EXPECT_FALSE(CouponRedeemableAt(c, 200'001));
  EXPECT_TRUE(CouponExpiredAt(c, 200'001));
  EXPECT_FALSE(CouponExpiredAt(c, 200'000));
  c.set_max_redemptions_total(2);
  c.set_redemption_count(2);
  EXPECT_FALSE(CouponRedeemableAt(c, 150'000));
  c.set_redemption_count(1);
  EXPECT_TRUE(CouponRedeemableAt(c, 150'000));
  c.set_active(false);
  EXPECT_FALSE(CouponRedeemableAt(c, 150'000));
}

TEST(GeoCouponTest, ValidityAtTheEndsOfTheTimestampRangeDoesNotOverflow) {
  v1::Coupon c;
  c.set_active(true);
  c.mutable_valid_from()->set_seconds(INT64_MIN);
  c.mutable_valid_until()->set_seconds(INT64_MAX);
  EXPECT_FALSE(CouponExpiredAt(c, 1'800'000'000'000));
  EXPECT_TRUE(CouponRedeemableAt(c, 1'800'000'000'000));
  c.mutable_valid_until()->set_seconds(INT64_MIN);
  EXPECT_TRUE(CouponExpiredAt(c, 1'800'000'000'000));
}

TEST(GeoCouponTest, TimestampsOutsideTheirRangeSaturate) {
  google::protobuf::Timestamp far;
  far.set_seconds(INT64_MAX);
  EXPECT_GT(SaturatedUnixMs(far), int64_t{1} << 60);
  far.set_seconds(INT64_MIN);
  EXPECT_LT(SaturatedUnixMs(far), -(int64_t{1} << 60));
  far.set_seconds(1'800'000'000);
  far.set_nanos(250'000'000);
  EXPECT_EQ(SaturatedUnixMs(far), 1'800'000'000'250);
  v1::Coupon forever;
  forever.set_active(true);
  forever.mutable_valid_until()->set_seconds(INT64_MAX);
  EXPECT_TRUE(CouponRedeemableAt(forever, 1'800'000'000'000));
}

TEST(GeoCouponTest, NearUsesTheGeofenceDistance) {
  v1::Coupon c;
  *c.mutable_geofence() = Circle(48.8566, 2.3522, 500);
  EXPECT_TRUE(CouponNear(c, Point(48.8566, 2.3522), 0));
  const v1::GeoPoint out = Destination(Point(48.8566, 2.3522), 90, 800);
  EXPECT_FALSE(CouponNear(c, out, 0));
  EXPECT_FALSE(CouponNear(c, out, 299));
  EXPECT_TRUE(CouponNear(c, out, 301));
  v1::Coupon nowhere;
  EXPECT_FALSE(CouponNear(nowhere, Point(0, 0), 1e7));
}

}  // namespace
}  // namespace crmsync::sync::geo
