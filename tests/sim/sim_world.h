// A deterministic simulation of crmsync: the real server sync logic on the
// real embedded store, and several real SDK sync engines with their own
// local stores, in one process, joined by a simulated transport that drops,
// duplicates and loses messages. One seed drives every choice (edits,
// timing, faults, crashes, restarts); time and randomness are simulated, so a
// seed replays bit for bit. See docs/reliability.md.
#ifndef CRMSYNC_TESTS_SIM_SIM_WORLD_H_
#define CRMSYNC_TESTS_SIM_SIM_WORLD_H_

#include <cstdint>
#include <map>
#include <memory>
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
#include "store/store.h"

namespace crmsync::sim {

namespace v1 = ::crmsync::v1;

struct SimOptions {
  uint64_t seed = 1;
  // Simulated steps before quiescence.
  int steps = 300;
  // Deliberately broken server variants, to prove the checks catch them:
  // "" (none), "no-dedup", "skip-left-scope".
  std::string variant;
  // Fault probabilities per transport call, in percent.
  int drop_request_pct = 5;
  int lose_response_pct = 5;
  int duplicate_pct = 3;
};

struct SimReport {
  bool ok = true;
  // One line per violated invariant.
  std::vector<std::string> violations;
  // Counters of what happened.
  std::map<std::string, int64_t> stats;
  std::string Summary() const;
};

class SimWorld {
 public:
  explicit SimWorld(SimOptions options);
  ~SimWorld();

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
  void SeedData();
  void OpenDevice(Device* d);
  void CloseDevice(Device* d);

  // One random step.
  void Step();
  void LocalEdit(Device* d);
  void TerminalAction(Device* d);
  void Reassign();
  void SyncDevice(Device* d);
  // Records the server's results, to check retries get the original ones.
  void ObserveResults(const std::string& device, const v1::PushResponse& response);
  void Record(Device* d, const absl::StatusOr<v1::RecordState>& result, const char* what);

  // Quiescence and checks.
  bool Quiesce();
  void CheckInvariants(SimReport* report);

  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  bool Chance(int pct) { return Pick(100) < pct; }

  SimOptions options_;
  std::mt19937_64 rng_;
  std::string dir_;
  int64_t now_ms_;
  server::ManualClock server_clock_;
  std::unique_ptr<SimClock> client_clock_;
  // The server's default conflict policies (docs/conflicts.md), as crm-syncd uses.
  sync::PolicyTable policies_ = sync::PolicyTable::Defaults();
  std::unique_ptr<server::Store> store_;
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
  std::vector<std::string> result_mismatches_;
  // Quiescence turns network faults off after a few rounds.
  bool faults_off_ = false;
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
