// A crm-device process driven in rounds, with the bookkeeping crash tests
// need to say afterwards what the device committed.
//
// Each round writes a script of local edits to the device's own leads (a
// create, an edit of an earlier lead's notes, now and then a delete), ends
// it with `sync`, and runs it as one crm-device process. Every value is
// unique, so after a SIGKILL the worker opens the store and sees exactly how
// many of the round's edits were committed (a prefix of the script). The sum
// is the number of mutations the device committed: client_seqs 1..N.
//
// Thread-safety: RunRound/StartRound/FinishRound from one thread (the
// device's); KillCurrent from any thread; the accessors once rounds stopped.
#ifndef CRMSYNC_TESTS_INTEGRATION_DEVICE_WORKER_H_
#define CRMSYNC_TESTS_INTEGRATION_DEVICE_WORKER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "device_process.h"

namespace crmsync::testing {

class DeviceWorker {
 public:
  enum class Outcome { kSynced, kUnreachable, kKilled, kFailed };
  struct Stats {
    int rounds = 0;
    int synced = 0;
    int unreachable = 0;  // the sync found no server (exit 5): edits stay queued
    int killed = 0;       // SIGKILLed in the middle of the round
    int failed = 0;       // anything else (an error is recorded)
    int64_t committed = 0;
  };

  DeviceWorker(DeviceIdentity id, std::string work_dir, uint64_t seed);

  // Rounds that only create a lead each (no edits or deletes): every lead
  // then changes exactly once, which makes deliveries countable.
  void set_creates_only(bool on) { creates_only_ = on; }

  // StartRound + FinishRound.
  Outcome RunRound(const std::string& server);
  // Starts the next round's process and returns at once.
  bool StartRound(const std::string& server);
  // Waits for the round (or its kill) and updates the bookkeeping.
  Outcome FinishRound(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // SIGKILLs the round in progress, if any. Any thread.
  bool KillCurrent();

  const DeviceIdentity& identity() const { return id_; }
  Stats stats() const;
  // Unexpected outcomes, one line each.
  std::vector<std::string> errors() const;
  // Leads this device created and did not delete, with the notes they must
  // have ("" = never edited).
  const std::map<std::string, std::string>& live() const { return live_; }
  const std::vector<std::string>& deleted() const { return deleted_; }
  // The current (or last) round: its number of edits and the lead it
  // creates.
  int round_size() const { return static_cast<int>(round_ops_.size()); }
  std::string round_lead() const {
    return round_ops_.empty() ? std::string() : round_ops_.front().id;
  }

 private:
  struct Op {
    enum Kind { kCreate, kEdit, kDelete } kind;
    std::string id;
    std::string notes;
  };
  std::vector<Op> PlanRound();
  // How many of `ops` the store shows as committed (after a kill).
  int CommittedPrefix(const std::vector<Op>& ops);
  void Commit(const std::vector<Op>& ops, int count);
  void AddError(const std::string& e);

  DeviceIdentity id_;
  std::string dir_;
  std::mt19937_64 rng_;
  DeviceProcess process_;
  std::vector<Op> round_ops_;
  std::string round_output_;
  int round_ = 0;
  bool creates_only_ = false;

  mutable std::mutex mu_;  // stats_, errors_
  Stats stats_;
  std::vector<std::string> errors_;
  std::map<std::string, std::string> live_;
  std::vector<std::string> deleted_;
};

// Devices running rounds in threads of their own until stopped, each
// against the address its `server` function returns at the start of each
// round (it may change, e.g. after a restart). Bounded as a safety net
// only: at most kMaxRounds rounds per device and kMaxSeconds in all, well
// beyond what any scenario needs even under the sanitizers (a fleet that
// ends before its test has stopped it would look like a server that serves
// nobody; Running() tells the two apart). After a round that found no
// server a device pauses briefly, as a real one backs off.
class DeviceFleet {
 public:
  static constexpr int kMaxRounds = 2000;
  static constexpr int kMaxSeconds = 900;

  ~DeviceFleet();
  void Add(std::unique_ptr<DeviceWorker> worker, std::function<std::string()> server);
  void Start();
  void Stop();
  // Synced rounds per device so far, and whether each device has synced
  // `n` more times since `marks` (a fleet past its bound records a test
  // failure and answers true, so that a wait on it ends at once).
  std::vector<int> Marks() const;
  bool AllSyncedSince(const std::vector<int>& marks, int n) const;
  // False once every device thread has ended (stopped, or at its bound).
  bool Running() const { return running_.load() > 0; }
  std::vector<DeviceWorker*> workers() const;
  DeviceWorker* worker(size_t i) const { return workers_[i].get(); }
  // "4 devices, 82 crm-device runs (42 synced, ...), 179 mutations committed".
  std::string Figures() const;

 private:
  std::vector<std::unique_ptr<DeviceWorker>> workers_;
  std::vector<std::function<std::string()>> servers_;
  std::unique_ptr<std::atomic<int>[]> synced_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int> running_{0};
};

// After the faults: every device syncs until its outbox is empty (twice
// round the devices, so each also pulls what the others pushed last), then
// the invariants are checked with gtest expectations:
//  - each final sync succeeds, reports no conflict, rejection or checksum
//    mismatch, and leaves nothing pending;
//  - exactly once: the server holds client_seqs 1..committed of every
//    device, each APPLIED, and the tenant's sequence grew by exactly the
//    number of committed mutations (a mutation applied twice takes a second
//    change sequence);
//  - nothing lost: every lead a device still holds is on the server with
//    the notes of its last committed edit, every deleted one is gone;
//  - convergence: every replica equals the server's records in its user's
//    scope (ids, versions, values).
struct SettleReport {
  int64_t committed = 0;
  int64_t seq_growth = 0;
  int64_t records_checked = 0;
};
// Without `exactly_once` (a server restored from a backup: its log of
// applied mutations went back in time, devices re-sent what it lost) only
// the final syncs, nothing lost and convergence are checked; `conninfo` and
// `seq_before` are then unused.
SettleReport SettleAndCheck(const std::vector<DeviceWorker*>& workers, const std::string& server,
                            const std::string& conninfo, int64_t seq_before,
                            bool exactly_once = true);

}  // namespace crmsync::testing

#endif  // CRMSYNC_TESTS_INTEGRATION_DEVICE_WORKER_H_
