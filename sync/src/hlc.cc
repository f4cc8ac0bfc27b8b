#include "crmsync/sync/hlc.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace crmsync::sync {

int CompareHlc(const v1::HlcTimestamp& a, const v1::HlcTimestamp& b) {
  if (a.wall_time_ms() != b.wall_time_ms()) {
    return a.wall_time_ms() < b.wall_time_ms() ? -1 : 1;
  }
  if (a.logical() != b.logical()) return a.logical() < b.logical() ? -1 : 1;
  int c = a.node_id().compare(b.node_id());
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

static int64_t Limit(int64_t physical_ms, int64_t max_skew_ms) {
  int64_t limit = 0;
  if (__builtin_add_overflow(physical_ms, std::max<int64_t>(max_skew_ms, 0), &limit)) {
    return std::numeric_limits<int64_t>::max();
  }
  return limit;
}

bool IsBeyondSkew(const v1::HlcTimestamp& t, int64_t physical_ms, int64_t max_skew_ms) {
  return t.wall_time_ms() > Limit(physical_ms, max_skew_ms);
}

v1::HlcTimestamp ClampHlc(const v1::HlcTimestamp& t, int64_t physical_ms, int64_t max_skew_ms) {
  v1::HlcTimestamp out = t;
  if (IsBeyondSkew(t, physical_ms, max_skew_ms)) {
    out.set_wall_time_ms(Limit(physical_ms, max_skew_ms));
  }
  return out;
}

HybridLogicalClock::HybridLogicalClock(std::string node_id, HlcOptions options)
    : node_id_(std::move(node_id)), options_(options) {}

void HybridLogicalClock::Advance(int64_t wall, uint32_t logical) {
  wall_ms_ = wall;
  logical_ = logical;
}

v1::HlcTimestamp HybridLogicalClock::Now(int64_t physical_ms) {
  if (physical_ms > wall_ms_) {
    Advance(physical_ms, 0);
  } else if (logical_ == std::numeric_limits<uint32_t>::max()) {
    // Counter exhausted within one millisecond: borrow the next millisecond.
    Advance(wall_ms_ + 1, 0);
  } else {
    Advance(wall_ms_, logical_ + 1);
  }
  return Last();
}

v1::HlcTimestamp HybridLogicalClock::Receive(const v1::HlcTimestamp& remote, int64_t physical_ms) {
  const v1::HlcTimestamp r = ClampHlc(remote, physical_ms, options_.max_skew_ms);
  const int64_t wall = std::max({wall_ms_, r.wall_time_ms(), physical_ms});
  uint64_t logical = 0;
  if (wall == wall_ms_ && wall == r.wall_time_ms()) {
    logical = uint64_t{std::max(logical_, r.logical())} + 1;
  } else if (wall == wall_ms_) {
    logical = uint64_t{logical_} + 1;
  } else if (wall == r.wall_time_ms()) {
    logical = uint64_t{r.logical()} + 1;
  }
  if (logical > std::numeric_limits<uint32_t>::max()) {
    Advance(wall + 1, 0);
  } else {
    Advance(wall, static_cast<uint32_t>(logical));
  }
  return Last();
}

v1::HlcTimestamp HybridLogicalClock::Last() const {
  v1::HlcTimestamp t;
  t.set_wall_time_ms(wall_ms_);
  t.set_logical(logical_);
  t.set_node_id(node_id_);
  return t;
}

void HybridLogicalClock::Restore(const v1::HlcTimestamp& last) {
  if (last.wall_time_ms() > wall_ms_ ||
      (last.wall_time_ms() == wall_ms_ && last.logical() > logical_)) {
    Advance(last.wall_time_ms(), last.logical());
  }
}

}  // namespace crmsync::sync
