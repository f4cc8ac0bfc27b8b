// Seeded randomized properties of the merge algebra (sync/README.md), on the
// harness shared with the fuzzers. A failure prints its seed; replay it with
//   CRMSYNC_PROPERTY_SEED=<seed> ./crmsync_sync_property_test --gtest_filter=<test>
// CRMSYNC_PROPERTY_CASES=<n> changes the number of cases per property.
#include <gtest/gtest.h>

#include <google/protobuf/util/message_differencer.h>

#include <cstdlib>
#include <string>

#include "crmsync/sync/field_path.h"
#include "sync_harness.h"

namespace crmsync::sync::harness {
namespace {

constexpr uint64_t kBaseSeed = 0xC0FFEE2024ULL;

struct Seeds {
  uint64_t first;
  int count;
  bool replay;
};

Seeds SeedsFromEnv(int default_count) {
  if (const char* s = std::getenv("CRMSYNC_PROPERTY_SEED")) {
    return {std::strtoull(s, nullptr, 10), 1, true};
  }
  int count = default_count;
  if (const char* c = std::getenv("CRMSYNC_PROPERTY_CASES")) count = std::atoi(c);
  return {kBaseSeed, count, false};
}

// Runs `check` for every seed; stops at the first failure and prints how to
// replay it.
template <typename Check>
void ForEachSeed(int default_count, const char* test_name, Check check) {
  const Seeds seeds = SeedsFromEnv(default_count);
  for (int i = 0; i < seeds.count; ++i) {
    const uint64_t seed = seeds.first + static_cast<uint64_t>(i);
    const std::string err = check(seed);
    if (!err.empty()) {
      FAIL() << "property failed for seed " << seed << " (case " << i << ")\n"
             << "replay: CRMSYNC_PROPERTY_SEED=" << seed
             << " ./crmsync_sync_property_test --gtest_filter=MergePropertyTest." << test_name
             << "\n"
             << err;
    }
  }
}

TEST(MergePropertyTest, AnyArrivalOrderConvergesForLwwCounterAndSet) {
  ForEachSeed(2000, "AnyArrivalOrderConvergesForLwwCounterAndSet", [](uint64_t seed) {
    HarnessOptions o;
    o.devices = 2 + static_cast<int>(seed % 3);
    return CheckConvergence(MakeScenario(seed, o));
  });
}

TEST(MergePropertyTest, OraclesHoldLwwLatestCountersExactSetObservedRemoveManualOnce) {
  ForEachSeed(2000, "OraclesHoldLwwLatestCountersExactSetObservedRemoveManualOnce",
              [](uint64_t seed) {
                HarnessOptions o;
                o.devices = 2 + static_cast<int>(seed % 4);
                const Scenario s = MakeScenario(seed, o);
                const std::string err = CheckOracles(s, ApplyInterleaving(s, seed * 31 + 7));
                return err.empty() ? err : err + Describe(s);
              });
}

TEST(MergePropertyTest, MergingAMutationTwiceEqualsMergingItOnce) {
  ForEachSeed(2000, "MergingAMutationTwiceEqualsMergingItOnce", [](uint64_t seed) {
    const Scenario s = MakeScenario(seed, HarnessOptions{});
    const std::string err = CheckIdempotence(s, ApplyInterleaving(s, seed + 1));
    return err.empty() ? err : err + "\n" + Describe(s);
  });
}

TEST(MergePropertyTest, ReplicaFollowingChangesMatchesServerAndReapplyIsNoop) {
  ForEachSeed(2000, "ReplicaFollowingChangesMatchesServerAndReapplyIsNoop", [](uint64_t seed) {
    const Scenario s = MakeScenario(seed, HarnessOptions{});
    const std::string err = CheckReplica(s, ApplyInterleaving(s, seed + 2), seed + 3);
    return err.empty() ? err : err + "\n" + Describe(s);
  });
}

TEST(MergePropertyTest, NonConflictingEditIsNeverLost) {
  ForEachSeed(2000, "NonConflictingEditIsNeverLost", [](uint64_t seed) {
    HarnessOptions o;
    o.devices = 4;
    o.disjoint_fields = true;
    const Scenario s = MakeScenario(seed, o);
    const harness::Run run = ApplyInterleaving(s, seed);
    // Every device's last write of its own field is in the final record.
    const v1::Lead& fin = run.final_state().data().lead();
    for (const auto& device : s.devices) {
      const v1::Mutation& last = device.back();
      const std::string field = last.update_mask().paths(0);
      const auto* f = v1::Lead::descriptor()->FindFieldByName(field);
      if (!PathValuesEqual(last.values().lead(), fin, FieldPath{field, {f}, {}})) {
        return "edit of " + field + " by " + last.provenance().device_id() + " lost\n" +
               Describe(s);
      }
    }
    const std::string err = CheckOracles(s, run);
    return err.empty() ? err : err + Describe(s);
  });
}

// What the push path relies on to merge once: a merge at a probe version,
// re-stamped with the real one, is the merge at the real version.
std::string DiffResults(const MergeResult& a, const MergeResult& b) {
  using google::protobuf::util::MessageDifferencer;
  std::string diff;
  MessageDifferencer differ;
  differ.ReportDifferencesToString(&diff);
  if (!differ.Compare(a.new_state, b.new_state)) return "new_state differs:\n" + diff;
  if (a.outcome != b.outcome || a.reject_reason != b.reject_reason || a.message != b.message ||
      a.changed != b.changed || a.metadata_changed != b.metadata_changed ||
      a.changed_fields != b.changed_fields || a.server_kept_fields != b.server_kept_fields ||
      a.lost_fields != b.lost_fields || a.conflicts.size() != b.conflicts.size() ||
      a.resolved_conflict.has_value() != b.resolved_conflict.has_value()) {
    return "outcome, flags or field lists differ";
  }
  for (size_t i = 0; i < a.conflicts.size(); ++i) {
    if (!MessageDifferencer::Equals(a.conflicts[i], b.conflicts[i])) return "conflicts differ";
  }
  return "";
}

TEST(MergePropertyTest, AMergeAtAProbeVersionRestampedEqualsTheMergeAtTheRealVersion) {
  constexpr int64_t kProbe = INT64_MAX / 2;
  ForEachSeed(
      1000, "AMergeAtAProbeVersionRestampedEqualsTheMergeAtTheRealVersion", [](uint64_t seed) {
        HarnessOptions o;
        o.devices = 2 + static_cast<int>(seed % 3);
        const Scenario s = MakeScenario(seed, o);
        const harness::Run run = ApplyInterleaving(s, seed + 5);
        const PolicyTable policies = HarnessPolicies();
        auto context = [&](int64_t version) {
          MergeContext ctx;
          ctx.new_version = version;
          ctx.physical_ms = kServerPhysicalMs;
          ctx.policies = &policies;
          return ctx;
        };
        int64_t version = s.initial.version() + 1;
        for (size_t i = 0; i < run.order.size(); ++i) {
          const v1::Mutation& m = run.order[i];
          MergeResult probed = Merge(&run.states[i], m, context(kProbe));
          RestampVersion(&probed, kProbe, version);
          if (std::string d = DiffResults(probed, run.results[i]); !d.empty()) {
            return "step " + std::to_string(i) + ": " + d + Describe(s);
          }
          // The same mutation as a create (nothing stored yet).
          MergeResult created = Merge(nullptr, m, context(kProbe));
          RestampVersion(&created, kProbe, 7);
          if (std::string d = DiffResults(created, Merge(nullptr, m, context(7))); !d.empty()) {
            return "step " + std::to_string(i) + " as a create: " + d + Describe(s);
          }
          if (run.results[i].changed) ++version;
        }
        return std::string();
      });
}

TEST(MergePropertyTest, WholeHarnessAgreesOnOneSeed) {
  // The fuzzer's entry point, on a fixed run of seeds.
  ForEachSeed(300, "WholeHarnessAgreesOnOneSeed",
              [](uint64_t seed) { return CheckSeed(seed, HarnessOptions{}); });
}

}  // namespace
}  // namespace crmsync::sync::harness
