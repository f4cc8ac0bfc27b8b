// The sync engine: pushes the outbox, pulls the change feed until caught up,
// verifies the replica checksum, and (when started) stays subscribed so a
// change made elsewhere arrives within a second; backs off with jitter while
// the server is unreachable. Made of small workers (src/pusher.cc,
// src/puller.cc, src/checksum.cc) run by one sync thread.
//
// Thread-safety: every public method may be called from any thread.
// Callbacks run on the engine's threads, after the database transaction that
// caused them committed; they must not call SyncOnce, Start or Stop (Stop
// waits for the engine's thread; RequestSync and Database reads are fine).
#ifndef CRMSYNC_CLIENT_SYNC_ENGINE_H_
#define CRMSYNC_CLIENT_SYNC_ENGINE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "crmsync/client/clock.h"
#include "crmsync/client/database.h"
#include "crmsync/client/events.h"
#include "crmsync/client/transport.h"

namespace crmsync::client {

struct SyncProgress {
  enum class State { kIdle, kSyncing, kBackoff, kOffline, kFailed, kWiped };
  State state = State::kIdle;
  // Counts of the current (or last) sync cycle.
  int64_t pushed = 0;
  int64_t pulled = 0;
  // Outbox entries not yet acknowledged.
  int64_t pending = 0;
  // Completed cycles since the engine was created.
  int64_t cycles = 0;
  // Re-bootstraps done (reset-required or checksum repair).
  int64_t resets = 0;
  // The replica did not match the server's checksum at the end of the last
  // cycle, even after a repair (see docs/client-sdk.md).
  bool checksum_mismatch = false;
  // Last error (empty when the last cycle succeeded).
  std::string last_error;
  // When the last cycle succeeded (Unix ms; kept in the local store, so it
  // survives restarts); 0 = never.
  int64_t last_success_ms = 0;
  // The background loop holds a live Subscribe stream: changes made
  // elsewhere arrive within a second.
  bool subscribed = false;
};

// Severity of an SDK log message (SyncOptions::on_log).
enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

const char* SyncStateName(SyncProgress::State state);

struct SyncOptions {
  // Physical clock and random source (backoff jitter); nullptr = system
  // ones. Not owned; must outlive the engine.
  Clock* clock = nullptr;
  Random* random = nullptr;
  // Sent in every request's ClientInfo.
  std::string sdk_version = "crmsync-client/0.1.0";
  std::string platform = "linux";
  std::string app_version;
  // Compare the replica with the server's checksum after each pull that
  // caught up, and re-bootstrap on a mismatch. Default on.
  bool verify_checksum = true;

  // Called for CONFLICT results (a manual conflict was opened).
  std::function<void(const PushEvent&)> on_conflict;
  // Called for REJECTED results (the local record was restored).
  std::function<void(const PushEvent&)> on_rejected;
  // Called for records the sync changed in the local view.
  std::function<void(const ChangeEvent&)> on_change;
  // Called when progress changes (often; keep it cheap).
  std::function<void(const SyncProgress&)> on_progress;
  // Called once after a `wipe` directive erased the local store.
  std::function<void()> on_wiped;
  // What the engine does, for the app's log: cycles and their counts
  // (debug), failures and back-off (warning), re-bootstraps (warning), wipe
  // (error). Messages at a level below `log_level` are not produced.
  std::function<void(LogLevel, const std::string&)> on_log;
  LogLevel log_level = LogLevel::kInfo;
};

class SyncEngine {
 public:
  // `db` must outlive the engine. `transport` is shared.
  SyncEngine(Database* db, std::shared_ptr<Transport> transport, SyncOptions options);
  ~SyncEngine();  // Stop()s.
  SyncEngine(const SyncEngine&) = delete;
  SyncEngine& operator=(const SyncEngine&) = delete;

  // One full cycle on the calling thread (blocks on the network): push every
  // pending mutation, pull until caught up, verify the checksum. Errors:
  // FAILED_PRECONDITION when offline, wiped or an upgrade is required;
  // UNAVAILABLE/DEADLINE_EXCEEDED when the server is unreachable; CANCELLED
  // after Cancel(). Must not run concurrently with the background loop.
  absl::Status SyncOnce();

  // Starts the background loop: sync, subscribe, sync again on each
  // notification, local write or RequestSync(); back off with jitter on
  // failure. Idempotent.
  void Start();
  // Stops the loop and waits for it (cancels an RPC in progress between
  // pages). Idempotent.
  void Stop();
  // Asks the loop for a cycle soon (wakes a backoff wait too).
  void RequestSync();
  // Cancels the cycle in progress at its next step (batch or page). The
  // cycle returns CANCELLED; the loop goes on.
  void Cancel();

  SyncProgress Progress() const;

  // Lineage, online: the server's kept values of the record's fields (of
  // `field` only, unless empty), newest first, at most `limit` per field
  // (0 = all it keeps), each with channel, precision, author, device and
  // time. Blocks on the network; thread-safe. NOT_FOUND for a record the
  // user may not read or that is deleted; UNAVAILABLE when offline.
  absl::StatusOr<v1::GetFieldHistoryResponse> FieldHistory(const v1::RecordRef& record,
                                                           const std::string& field = "",
                                                           int limit = 0);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crmsync::client

#endif  // CRMSYNC_CLIENT_SYNC_ENGINE_H_
