// Hybrid logical clock (HLC): physical time plus a logical counter, so that
// causally related events are ordered even when device clocks disagree.
//
// Readings are v1::HlcTimestamp and are totally ordered by
// (wall_time_ms, logical, node_id). The physical time is always passed in by
// the caller; nothing here reads a clock.
//
// A reading received from another node whose wall time lies more than
// `max_skew_ms` ahead of the local physical time is clamped to
// physical_ms + max_skew_ms before use, so one device with a clock set to next
// year cannot win every last-writer-wins conflict forever.
#ifndef CRMSYNC_SYNC_HLC_H_
#define CRMSYNC_SYNC_HLC_H_

#include <cstdint>
#include <string>

#include "crmsync/v1/common.pb.h"

namespace crmsync::sync {

namespace v1 = ::crmsync::v1;

// Default maximum lead of a remote clock over local physical time: 60 s.
inline constexpr int64_t kDefaultMaxClockSkewMs = 60'000;

struct HlcOptions {
  // Remote readings more than this far ahead of the local physical time are
  // clamped to physical_ms + max_skew_ms. Default 60 s. Must be >= 0.
  int64_t max_skew_ms = kDefaultMaxClockSkewMs;
};

// Total order of readings: negative if a < b, 0 if equal, positive if a > b.
// Compares wall_time_ms, then logical, then node_id (bytewise).
int CompareHlc(const v1::HlcTimestamp& a, const v1::HlcTimestamp& b);

// `t` with its wall time limited to physical_ms + max_skew_ms (the logical
// counter and node id are kept). Returns `t` unchanged when within bounds.
v1::HlcTimestamp ClampHlc(const v1::HlcTimestamp& t, int64_t physical_ms, int64_t max_skew_ms);

// True when ClampHlc would change `t`.
bool IsBeyondSkew(const v1::HlcTimestamp& t, int64_t physical_ms, int64_t max_skew_ms);

// The clock of one node (a device or a server instance). Not thread-safe:
// callers serialise access (the SDK owns one per store, the server one per
// instance behind its own lock).
class HybridLogicalClock {
 public:
  explicit HybridLogicalClock(std::string node_id, HlcOptions options = {});

  // A reading for a local event at physical time `physical_ms`. Strictly
  // greater than every reading this clock returned or received before.
  v1::HlcTimestamp Now(int64_t physical_ms);

  // Merges a reading received from another node (after clamping it, see
  // above) and returns the new local reading, which is strictly greater than
  // both the previous local reading and the (clamped) remote one.
  v1::HlcTimestamp Receive(const v1::HlcTimestamp& remote, int64_t physical_ms);

  // The last reading returned, for persisting across restarts.
  v1::HlcTimestamp Last() const;
  // Restores a persisted reading (e.g. on start-up); the clock never goes
  // below it afterwards.
  void Restore(const v1::HlcTimestamp& last);

  const std::string& node_id() const { return node_id_; }
  const HlcOptions& options() const { return options_; }

 private:
  void Advance(int64_t wall, uint32_t logical);

  std::string node_id_;
  HlcOptions options_;
  int64_t wall_ms_ = 0;
  uint32_t logical_ = 0;
};

}  // namespace crmsync::sync

#endif  // CRMSYNC_SYNC_HLC_H_
