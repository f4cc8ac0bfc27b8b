// One seeded, randomized multi-device harness for the sync core, shared by
// the property tests (merge_property_test.cc) and the convergence fuzzer
// (tests/fuzz/fuzz_convergence.cc).
//
// A scenario is a Lead created at version 1 and N devices that each make a
// sequence of offline mutations (lww, counter, set and manual fields, every
// operation kind) against that version. The harness merges them in a
// pseudo-random interleaving that keeps each device's own order, and checks
// the algebra of sync/README.md against independent oracles.
//
// Everything is a pure function of the seed: same seed, same scenario, same
// verdict. Not thread-safe (no shared state, but no locking either).
#ifndef CRMSYNC_TESTS_SYNC_SYNC_HARNESS_H_
#define CRMSYNC_TESTS_SYNC_SYNC_HARNESS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "crmsync/sync/merge.h"
#include "crmsync/sync/policy_table.h"

namespace crmsync::sync::harness {

namespace v1 = ::crmsync::v1;

struct HarnessOptions {
  // Devices editing offline (1..8). Default 3.
  int devices = 3;
  // Mutations per device. Default 6.
  int mutations_per_device = 6;
  // Device i only writes lww field i (and never counters, sets or the manual
  // field): no two devices ever touch the same field. Default false.
  bool disjoint_fields = false;
  // Let device 0 run with a clock one hour ahead (clamped by the server).
  // Default true (decided per seed).
  bool allow_future_clock = true;
};

// The harness's policies: lead.first_name/company/notes/status lww,
// lead.estimated_value.amount_minor and lead.rating counter, lead.tags set,
// lead.territory manual.
PolicyTable HarnessPolicies();

struct Scenario {
  uint64_t seed = 0;
  HarnessOptions options;
  // The record every device started from (version 1).
  v1::RecordState initial;
  // Each device's mutations, in client_seq order.
  std::vector<std::vector<v1::Mutation>> devices;
};

// One application of a scenario's mutations in an interleaving.
struct Run {
  std::vector<v1::Mutation> order;
  // states[i] is the record before order[i]; states.back() the final one.
  std::vector<v1::RecordState> states;
  std::vector<MergeResult> results;
  const v1::RecordState& final_state() const { return states.back(); }
};

// Deterministic pseudo-random numbers (SplitMix64): the same on every
// platform, unlike std:: distributions.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, n); n > 0.
  uint64_t Below(uint64_t n) { return Next() % n; }
  bool OneIn(uint64_t n) { return Below(n) == 0; }

 private:
  uint64_t state_;
};

// The server's physical clock during a run.
inline constexpr int64_t kServerPhysicalMs = 1'700'000'600'000;

Scenario MakeScenario(uint64_t seed, const HarnessOptions& options);

// Merges every mutation of `s` into s.initial in an interleaving chosen by
// `order_seed` (each device's order kept).
Run ApplyInterleaving(const Scenario& s, uint64_t order_seed);

// The properties. Each returns "" when it holds, else what went wrong.
//  - convergence: two interleavings give the same lww/counter/set data;
std::string CheckConvergence(const Scenario& s);
//  - oracles on one run: lww = latest clamped write, counters = exact sum of
//    deltas, set = observed-remove semantics, every manual conflict yields
//    exactly one open Conflict, conflict ids unique, non-conflicting edits
//    APPLIED;
std::string CheckOracles(const Scenario& s, const Run& run);
//  - idempotence: merging a mutation again into the state it produced
//    changes nothing (data or metadata);
std::string CheckIdempotence(const Scenario& s, const Run& run);
//  - replicas: a device following the run through BuildChange/ApplyChange
//    ends with the server's CanonicalBytes; re-applying a change is a no-op.
std::string CheckReplica(const Scenario& s, const Run& run, uint64_t pull_seed);

// All of the above for one seed.
std::string CheckSeed(uint64_t seed, const HarnessOptions& options);

// A short text description of a scenario (for failure messages).
std::string Describe(const Scenario& s);

}  // namespace crmsync::sync::harness

#endif  // CRMSYNC_TESTS_SYNC_SYNC_HARNESS_H_
