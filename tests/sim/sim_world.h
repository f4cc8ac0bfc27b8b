// A deterministic simulation of crmsync: the real server sync logic on the
// real embedded store, and several real SDK sync engines with their own
// local stores, in one process, joined by a simulated transport that drops,
// duplicates, delays and loses messages, on a store that fails writes. One
// seed drives every choice (edits, timing, faults, crashes, restarts); time
// and randomness are simulated, so a seed replays bit for bit. See
// docs/reliability.md.
#ifndef CRMSYNC_TESTS_SIM_SIM_WORLD_H_
#define CRMSYNC_TESTS_SIM_SIM_WORLD_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "crmsync/client/database.h"
#include "crmsync/client/sync_engine.h"
#include "crmsync/client/transport.h"
#include "crmsync/sync/policy_table.h"
#include "logic/clock.h"
#include "logic/pull_handler.h"
#include "logic/push_handler.h"
#include "sim_store.h"
#include "store/store.h"

namespace crmsync::sim {

namespace v1 = ::crmsync::v1;

// Points the simulation's bonus coupon (coupon-2) credits on redemption.
inline constexpr int64_t kBonusPoints = 10;

struct SimOptions {
  uint64_t seed = 1;
  // Simulated steps before quiescence.
  int steps = 300;
  // Deliberately broken server variants, to prove the checks catch them:
  // "" (none), "no-dedup", "skip-left-scope", "drop-conflicts",
  // "cursor-before-commit", "scope-at-page-start".
  std::string variant;
  // Fault probabilities per transport call, in percent.
  int drop_request_pct = 5;
  int lose_response_pct = 5;
  int duplicate_pct = 3;
  // A push held in the network: the device times out, the server gets the
  // request later (after later requests of that device and of others).
  int delay_push_pct = 3;
  // Store write failures: each operation of a write transaction fails with
  // this probability in 1/10,000; its COMMIT fails (rollback); its COMMIT
  // succeeds but the answer is lost; a device's contact update fails.
  int store_op_fault_per_10k = 20;
  int commit_fault_pct = 2;
  int commit_lost_pct = 1;
  int touch_fault_pct = 1;
  // A device's pull served while another push's transaction is open (after
  // its writes, before COMMIT), in percent of write transactions.
  int pull_during_write_pct = 10;
  // Retention (docs/storage.md, "Bounded storage"): the server's pruner
  // runs in this percentage of steps (at most 3) with `retention_ms` (the
  // push handler uses the same), so devices offline longer lose their
  // history and their exactly-once results and must come back without a
  // mutation applied twice; devices that bootstrap again after a prune do
  // so below the pruned horizon, in pages of every size. 0 = never.
  // Devices acknowledge their results in every run, so the applied floors
  // are exercised either way.
  int prune_pct = 2;
  int64_t retention_ms = 120 * 1000;
};

struct SimReport {
  bool ok = true;
  // One line per violated invariant.
  std::vector<std::string> violations;
  // Counters of what happened.
  std::map<std::string, int64_t> stats;
  std::string Summary() const;
};

class SimWorld : private StoreScript {
 public:
  explicit SimWorld(SimOptions options);
  ~SimWorld() override;

  // Runs the random steps, brings every device online until quiescent and
  // checks the invariants.
  SimReport Run();

  // The command line that replays this run.
  std::string ReplayCommand() const;

 private:
  struct Device;
  class Transport;
  class SimClock;

  // World set-up.
  void StartServer();
  void StopServer();
  // Pull with the broken variants that sit between the server and the
  // device ("skip-left-scope", "cursor-before-commit"); PullHandler::Pull
  // otherwise.
  absl::Status ServePull(const server::Principal& who, const v1::PullRequest& request,
                         v1::PullResponse* response);
  void SeedData();
  void OpenDevice(Device* d);
  void CloseDevice(Device* d);

  // One random step.
  void Step();
  void LocalEdit(Device* d);
  void TerminalAction(Device* d);
  void Reassign();
  void SyncDevice(Device* d);
  // Pushes `request` as `d` and checks the answer against the transaction's
  // fate (an OK answer for a rolled-back batch is a violation).
  absl::Status CallPush(Device* d, const v1::PushRequest& request, v1::PushResponse* response);
  // Hands delayed pushes to the server: each with some chance, or all.
  void DeliverDelayed(bool all);
  // Runs the server's pruner (history, results of gone devices, coupon
  // counters) with options_.retention_ms.
  void Prune();
  // Records the server's results, to check retries get the original ones.
  void ObserveResults(const std::string& device, const v1::PushResponse& response);
  void Record(Device* d, const absl::StatusOr<v1::RecordState>& result, const char* what);

  // Quiescence and checks.
  bool Quiesce();
  void CheckInvariants(SimReport* report);
  // Pulls `who`'s whole scope from an empty cursor into `replica` (live
  // records by "<type>/<id>"); returns an error message, empty if none.
  std::string Bootstrap(const server::Principal& who, int page_size,
                        std::map<std::string, v1::RecordState>* replica);
  void CheckSameFieldEdits(const std::vector<server::RecordRow>& rows,
                           const std::function<void(const std::string&)>& fail);

  // StoreScript (sim_faults.cc, sim_conflicts.cc).
  std::optional<absl::Status> WriteFault(const char* what) override;
  void WriteAttempt() override;
  void BeforeCommit() override;
  void MutationStarting(server::WriteTx& tx, const std::string& device,
                        int64_t client_seq) override;
  void MutationApplied(const server::AppliedMutation& applied) override;
  void WriteEnded(bool committed) override;
  const v1::Mutation* PushedMutation(int64_t client_seq) const;

  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  bool Chance(int pct) { return Pick(100) < pct; }
  // A pull page size: mostly small (pages end inside every catch-up),
  // sometimes larger than any catch-up.
  int PickPageSize() {
    static constexpr int kSizes[] = {1, 1, 2, 2, 3, 4, 5, 7, 10, 16, 50, 500};
    return kSizes[Pick(static_cast<int>(sizeof(kSizes) / sizeof(kSizes[0])))];
  }

  SimOptions options_;
  std::mt19937_64 rng_;
  std::string dir_;
  int64_t now_ms_;
  server::ManualClock server_clock_;
  std::unique_ptr<SimClock> client_clock_;
  // The server's default conflict policies (docs/conflicts.md), as crm-syncd uses.
  sync::PolicyTable policies_ = sync::PolicyTable::Defaults();
  std::unique_ptr<server::Store> sqlite_;
  std::unique_ptr<SimStore> store_;
  std::unique_ptr<server::PushHandler> push_;
  std::unique_ptr<server::PullHandler> pull_;
  std::vector<std::unique_ptr<Device>> devices_;
  // Every mutation a device wrote locally: (device, client_seq).
  std::vector<std::pair<std::string, int64_t>> issued_;
  // Loyalty increments issued: (device, client_seq, account, delta).
  struct Increment {
    std::string device;
    int64_t client_seq;
    std::string account;
    int64_t delta;
  };
  std::vector<Increment> increments_;
  std::map<std::string, int64_t> stats_;
  // The first result the server gave for each (device, client_seq), and
  // retries that got a different one (exactly-once is broken then).
  std::map<std::pair<std::string, int64_t>, v1::MutationResult> first_results_;
  // Every result the server committed, from its own write transactions
  // (the stored copy may be pruned once the device acknowledged it), and
  // those of the open transaction.
  std::map<std::pair<std::string, int64_t>, v1::MutationResult> committed_results_;
  std::vector<server::AppliedMutation> open_results_;
  std::vector<std::string> result_mismatches_;
  // Quiescence turns network faults off after a few rounds.
  bool faults_off_ = false;
  // The store's script runs from the first step until the checks.
  bool store_script_on_ = false;
  // Pushes held in the network: (device, request).
  std::vector<std::pair<Device*, v1::PushRequest>> delayed_;
  // The push being served, and how its last write transaction ended.
  Device* pushing_ = nullptr;
  const v1::PushRequest* push_request_ = nullptr;
  enum class WriteFate { kNone, kCommitted, kRolledBack } write_fate_ = WriteFate::kNone;
  // A pull is being served inside an open write transaction.
  bool serving_inside_write_ = false;
  // Violations seen while running (checked with the others at the end).
  std::vector<std::string> run_violations_;

  // Same-field concurrent edits (sim_conflicts.cc). A pushed mutation that
  // sets a field someone else changed after the mutation's base version, to
  // a different value, must either be merged by the field's policy (counter,
  // set) or leave a Conflict record (the other policies).
  struct SameFieldEdit {
    // The Conflict record expected; empty when the policy merges silently.
    std::string conflict_id;
    v1::RecordRef record;
    std::string path;
    v1::ConflictPolicy policy = v1::CONFLICT_POLICY_UNSPECIFIED;
    std::string device;
    int64_t client_seq = 0;
    int64_t base_version = 0;
    // The other write: its version and device.
    int64_t other_version = 0;
    std::string other_device;
  };
  // The record each mutation of the open transaction is merged against.
  std::map<int64_t, std::optional<v1::RecordState>> merging_;
  // Mutations of a merged-away record the server applies to its survivor
  // (client_seq -> the survivor).
  std::map<int64_t, v1::RecordRef> redirected_;
  // Found in the open transaction; kept when it commits.
  std::vector<SameFieldEdit> pending_edits_;
  std::vector<SameFieldEdit> same_field_edits_;
};

// One simulated device (private to the simulation's sources).
struct SimWorld::Device {
  std::string id;
  std::string user;
  server::Principal principal;
  bool terminal = false;
  bool offline = false;
  std::unique_ptr<client::Random> random;
  std::shared_ptr<SimWorld::Transport> transport;
  std::unique_ptr<client::Database> db;
  std::unique_ptr<client::SyncEngine> engine;
};

}  // namespace crmsync::sim

#endif  // CRMSYNC_TESTS_SIM_SIM_WORLD_H_
