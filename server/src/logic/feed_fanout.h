// Subscribe fan-out: tells the Subscribe streams of a tenant that a commit
// concerns them, reading the tenant's new feed rows once per process instead
// of once per stream.
//
// When a commit of tenant T is announced (ChangeNotifier), one "round" reads
// the feed rows after T's head (the sequence the shared reads reached) and
// judges them, in memory, for every subscriber of T that has examined the
// feed up to the head or beyond, with the rule Pull applies (DeliveryFor:
// the row has something for a Pull from the subscriber's cursor). The rows
// are dropped when the round ends. A subscriber that is behind the head (it
// subscribed from an older cursor, or joined while the head moved) reads on
// its own, in batches, until it reached the head; from then on the rounds
// judge it. So a subscriber is told about every row after its cursor that
// concerns it, once the row is committed and announced.
//
// Memory: per subscriber its principal, cursor and one sequence; per tenant
// the head; rows only while a round or a catch-up read judges them (at most
// `batch` rows each).
//
// Thread-safety: every method may be called from any thread. Store reads
// and judging run as tasks on the executor, never under the fan-out's lock;
// Announce callbacks are called from those tasks without any fan-out lock.
// Lock order: Join/Leave's lock, then the notifier's, then the fan-out's.
#ifndef CRMSYNC_SERVER_LOGIC_FEED_FANOUT_H_
#define CRMSYNC_SERVER_LOGIC_FEED_FANOUT_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "notifier.h"
#include "principal.h"
#include "store/change_log.h"

namespace crmsync::server {

class FeedFanout {
 public:
  // Runs `task` on a worker thread; false if it could not be queued (the
  // fan-out tries again on the next Retry).
  using Executor = std::function<bool(std::function<void()>)>;
  // Changes up to `latest_seq` include at least one that concerns the
  // subscriber. Called from an executor task; must not block and must not
  // call Join or Leave. Calls for one subscriber may overlap and arrive out
  // of order (the receiver keeps the highest sequence), and one may still
  // run after Leave returned (the receiver must tolerate it).
  using Announce = std::function<void(int64_t latest_seq)>;

  struct Options {
    // Feed rows read per store call (a round or a catch-up read).
    int batch = 1000;
    // A round calls at most this many Announce itself; the rest run as
    // executor tasks of this many each.
    int announce_chunk = 500;
  };

  // What the fan-out did, for tests and metrics.
  struct Stats {
    int64_t shared_reads = 0;  // feed reads of rounds (one per tenant per round)
    int64_t own_reads = 0;     // catch-up reads of single subscribers
    int64_t subscribers = 0;
    int64_t tenants = 0;
  };

  // `changes` and `notifier` must outlive the fan-out; `executor` may run
  // tasks after the fan-out is gone (they then do nothing).
  FeedFanout(ChangeLog* changes, ChangeNotifier* notifier, Executor executor, Options options);
  FeedFanout(ChangeLog* changes, ChangeNotifier* notifier, Executor executor)
      : FeedFanout(changes, notifier, std::move(executor), Options()) {}
  // Stops listening. Subscribers should have left.
  ~FeedFanout();

  FeedFanout(const FeedFanout&) = delete;
  FeedFanout& operator=(const FeedFanout&) = delete;

  // Adds a subscriber of `who.tenant_id` whose device holds the feed up to
  // `cursor` (its scope as of `base`, logic/cursor.h). `announce` is called
  // for every later batch of committed rows that concerns it, starting with
  // rows already committed after `cursor`. Returns a handle for Leave.
  uint64_t Join(const Principal& who, int64_t cursor, int64_t base, Announce announce);
  // Removes a subscriber: its pending work is dropped.
  void Leave(uint64_t handle);
  // Queues the work that the executor refused or that failed on a store
  // error (call periodically, e.g. from the heartbeat thread).
  void Retry();

  Stats stats() const;

 private:
  class Core;
  std::shared_ptr<Core> core_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_FEED_FANOUT_H_
