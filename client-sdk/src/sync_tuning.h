// Every tuning constant of the sync engine, in one place.
#ifndef CRMSYNC_CLIENT_SRC_SYNC_TUNING_H_
#define CRMSYNC_CLIENT_SRC_SYNC_TUNING_H_

#include <cstdint>

namespace crmsync::client::tuning {

// Protocol version this SDK speaks (proto/README.md).
inline constexpr uint32_t kProtocolVersion = 1;

// Mutations per Push. The server's default limit is 500; smaller batches
// keep a retried push cheap on flaky links.
inline constexpr int kPushBatchSize = 200;
// Push batches per cycle, so a cycle ends even if the app writes faster than
// the link drains (the next cycle continues).
inline constexpr int kMaxPushBatchesPerCycle = 50;

// Changes per Pull page (server default 500, maximum 5000).
inline constexpr int kPullPageSize = 500;
// Pages per cycle: bounds a cycle; a bootstrap larger than this resumes in
// the next cycle from the persisted cursor.
inline constexpr int kMaxPullPagesPerCycle = 1000;

// Re-bootstraps (reset or checksum repair) allowed per cycle; a second
// mismatch in the same cycle is reported instead of looping.
inline constexpr int kMaxResetsPerCycle = 1;

// Minimum time between two checksum repairs (re-bootstraps). A mismatch a
// fresh bootstrap does not fix is reported instead of re-bootstrapping on
// every cycle.
inline constexpr int64_t kMinRepairIntervalMs = 60 * 60 * 1000;

// Backoff after a failed cycle: min(kBackoffMaxMs, kBackoffBaseMs * 2^n)
// with "full jitter" (uniform in [delay/2, delay]).
inline constexpr int64_t kBackoffBaseMs = 200;
inline constexpr int64_t kBackoffMaxMs = 30'000;

// A started engine syncs at least this often even without notifications
// (the Subscribe stream may be down without the engine noticing at once).
inline constexpr int64_t kPeriodicSyncMs = 60'000;
// A local write triggers a push after this delay, so bursts of writes share
// one batch.
inline constexpr int64_t kWriteCoalesceMs = 50;

}  // namespace crmsync::client::tuning

#endif  // CRMSYNC_CLIENT_SRC_SYNC_TUNING_H_
