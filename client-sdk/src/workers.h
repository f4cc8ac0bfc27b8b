// The small workers of one sync cycle. Each runs on the engine's sync
// thread, talks to the server through the Transport and to the store through
// Database::SyncAccess, and reports events through the SyncOptions callbacks
// after the transaction that caused them committed.
#ifndef CRMSYNC_CLIENT_SRC_WORKERS_H_
#define CRMSYNC_CLIENT_SRC_WORKERS_H_

#include <atomic>
#include <cstdint>
#include <functional>

#include "crmsync/client/sync_engine.h"
#include "crmsync/client/transport.h"
#include "database_sync.h"

namespace crmsync::client::internal {

struct CycleContext {
  Database::SyncAccess* db = nullptr;
  Transport* transport = nullptr;
  const SyncOptions* options = nullptr;
  const std::atomic<bool>* cancelled = nullptr;
  v1::ClientInfo client;
  // Called with the running totals after each batch or page.
  std::function<void(int64_t pushed, int64_t pulled)> on_count;
  int64_t pushed = 0;
  int64_t pulled = 0;
  int64_t resets = 0;
  // The replica still differs from the server's checksum at the end of the
  // verification (reported, not an error).
  bool checksum_mismatch = false;
};

CallStatus Cancelled();
CallStatus FromStatus(absl::Status s);

// Pusher: sends the outbox in client_seq order, in batches, adopting each
// batch's results before sending the next.
CallStatus PushOutbox(CycleContext* ctx);

// Puller: pulls pages until has_more is false. On `reset-required` it starts
// a re-bootstrap (once per cycle) and pulls from an empty cursor.
CallStatus PullUntilCaughtUp(CycleContext* ctx);

// Checksum verifier: compares the replica with GetChecksum at the same
// cursor; on a mismatch re-bootstraps (once per cycle, and at most once per
// kMinRepairIntervalMs). A mismatch that remains sets
// ctx->checksum_mismatch. `*repaired` tells whether a repair ran.
CallStatus VerifyReplica(CycleContext* ctx, bool* repaired);

void ReportChanges(const CycleContext& ctx, const std::vector<ChangeEvent>& changes);

}  // namespace crmsync::client::internal

#endif  // CRMSYNC_CLIENT_SRC_WORKERS_H_
