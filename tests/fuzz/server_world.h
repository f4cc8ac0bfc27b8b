// The server side of the fuzz targets that need a store (fuzz_push_batch,
// fuzz_token): a real SqliteStore in a private directory (under /dev/shm when
// there is one), seeded once per process with the demo tenant, a registered
// device per user, a south-team rep, open conflicts, and a second tenant
// that must never be touched. Reset() brings the store back to the seeded
// state (a copy of the seeded database file), so every input runs against
// the same data and a crash replays from its input alone.
#ifndef CRMSYNC_TESTS_FUZZ_SERVER_WORLD_H_
#define CRMSYNC_TESTS_FUZZ_SERVER_WORLD_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "crmsync/sync/policy_table.h"
#include "logic/clock.h"
#include "logic/principal.h"
#include "logic/push_handler.h"
#include "store/store.h"

namespace crmsync::fuzz {

namespace v1 = ::crmsync::v1;

inline constexpr char kTenant[] = "t-demo";
inline constexpr char kOtherTenant[] = "t-other";
inline constexpr int64_t kStartMs = 1'800'000'000'000;

class ServerWorld {
 public:
  // Runs after the common seed, before the seeded state is saved (extra
  // rows a target needs, e.g. API keys).
  using SeedHook = std::function<void(ServerWorld*)>;

  // Creates the directory, seeds the store and saves the seeded state.
  // Exits the process with a message if seeding fails (a harness bug).
  explicit ServerWorld(SeedHook hook = nullptr);
  ~ServerWorld();
  ServerWorld(const ServerWorld&) = delete;
  ServerWorld& operator=(const ServerWorld&) = delete;

  // Back to the seeded state: store reopened on a fresh copy, clock reset.
  void Reset();

  server::Store* store() { return store_.get(); }
  server::ManualClock& clock() { return clock_; }
  const sync::PolicyTable& policies() const { return policies_; }

  // Callers of the demo tenant, each with its own registered device:
  // admin, manager (team-north), alice (2 devices), bob, carol (team-south),
  // the Paris till.
  const std::vector<server::Principal>& principals() const { return principals_; }
  // Ids found in the seeded data: users, teams, stores, devices, records
  // (conflicts included), plus a few that exist nowhere.
  const std::vector<std::string>& ids() const { return ids_; }
  // (type, id) of every seeded record of the demo tenant.
  const std::vector<v1::RecordRef>& records() const { return records_; }
  // Latest sequences of the demo and the other tenant in the seeded state.
  int64_t seeded_seq() const { return seeded_seq_; }
  int64_t other_tenant_seq() const { return other_seq_; }

 private:
  void Open();
  void Seed(const SeedHook& hook);

  std::string dir_;
  std::string db_path_;
  std::string seeded_bytes_;
  std::unique_ptr<server::Store> store_;
  server::ManualClock clock_{kStartMs};
  sync::PolicyTable policies_ = sync::PolicyTable::Defaults();
  std::vector<server::Principal> principals_;
  std::vector<std::string> ids_;
  std::vector<v1::RecordRef> records_;
  int64_t seeded_seq_ = 0;
  int64_t other_seq_ = 0;
};

}  // namespace crmsync::fuzz

#endif  // CRMSYNC_TESTS_FUZZ_SERVER_WORLD_H_
