// Completeness of the rule tables: a new Operation, ConflictPolicy or
// FieldVerdict fails here until every pair is decided in merge_rules.cc.
#include "crmsync/sync/merge_rules.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

namespace crmsync::sync {
namespace {

std::vector<v1::Operation> Operations() {
  std::vector<v1::Operation> out;
  const auto* d = v1::Operation_descriptor();
  for (int i = 0; i < d->value_count(); ++i) {
    if (d->value(i)->number() != 0)
      out.push_back(static_cast<v1::Operation>(d->value(i)->number()));
  }
  return out;
}

std::vector<v1::ConflictPolicy> Policies() {
  std::vector<v1::ConflictPolicy> out;
  const auto* d = v1::ConflictPolicy_descriptor();
  for (int i = 0; i < d->value_count(); ++i) {
    if (d->value(i)->number() != 0) {
      out.push_back(static_cast<v1::ConflictPolicy>(d->value(i)->number()));
    }
  }
  return out;
}

TEST(MergeRulesTest, EveryOperationPolicyPairDecidedExactlyOnce) {
  std::set<std::pair<int, int>> seen;
  for (const OperationRule& r : OperationRules()) {
    EXPECT_TRUE(seen.insert({r.operation, r.policy}).second)
        << "duplicate row " << v1::Operation_Name(r.operation) << " x "
        << v1::ConflictPolicy_Name(r.policy);
  }
  for (v1::Operation op : Operations()) {
    for (v1::ConflictPolicy p : Policies()) {
      EXPECT_TRUE(seen.count({op, p}))
          << "undecided: " << v1::Operation_Name(op) << " x " << v1::ConflictPolicy_Name(p);
    }
  }
  EXPECT_EQ(seen.size(), Operations().size() * Policies().size());
}

TEST(MergeRulesTest, EveryPolicyVerdictPairDecidedExactlyOnce) {
  std::set<std::pair<int, int>> seen;
  for (const OutcomeRule& r : OutcomeRules()) {
    EXPECT_TRUE(seen.insert({r.policy, static_cast<int>(r.verdict)}).second)
        << "duplicate row " << v1::ConflictPolicy_Name(r.policy) << " x "
        << FieldVerdictName(r.verdict);
  }
  for (v1::ConflictPolicy p : Policies()) {
    bool reachable = false;
    for (FieldVerdict v : AllFieldVerdicts()) {
      ASSERT_TRUE(seen.count({p, static_cast<int>(v)}))
          << "undecided: " << v1::ConflictPolicy_Name(p) << " x " << FieldVerdictName(v);
      reachable |= OutcomeFor(p, v).outcome != v1::MUTATION_OUTCOME_UNSPECIFIED;
    }
    EXPECT_TRUE(reachable) << v1::ConflictPolicy_Name(p);
  }
}

TEST(MergeRulesTest, OutcomeRulesAreConsistent) {
  for (const OutcomeRule& r : OutcomeRules()) {
    if (r.outcome == v1::MUTATION_OUTCOME_UNSPECIFIED) {
      EXPECT_EQ(r.record, ConflictRecordKind::kNone);
      continue;
    }
    // Open conflicts always make the outcome CONFLICT and vice versa.
    EXPECT_EQ(r.record == ConflictRecordKind::kOpen, r.outcome == v1::MUTATION_OUTCOME_CONFLICT);
    // A real conflict decided by a policy is always audited.
    if (r.verdict == FieldVerdict::kClientWon || r.verdict == FieldVerdict::kServerWon) {
      EXPECT_EQ(r.record, ConflictRecordKind::kAudit);
    }
    // Taking the client's value as sent is APPLIED.
    if (r.verdict == FieldVerdict::kTookClient) {
      EXPECT_EQ(r.outcome, v1::MUTATION_OUTCOME_APPLIED);
    }
  }
}

TEST(MergeRulesTest, SeverityOrder) {
  EXPECT_EQ(MoreSevere(v1::MUTATION_OUTCOME_APPLIED, v1::MUTATION_OUTCOME_MERGED),
            v1::MUTATION_OUTCOME_MERGED);
  EXPECT_EQ(MoreSevere(v1::MUTATION_OUTCOME_CONFLICT, v1::MUTATION_OUTCOME_MERGED),
            v1::MUTATION_OUTCOME_CONFLICT);
  EXPECT_EQ(MoreSevere(v1::MUTATION_OUTCOME_CONFLICT, v1::MUTATION_OUTCOME_REJECTED),
            v1::MUTATION_OUTCOME_REJECTED);
}

TEST(MergeRulesTest, SpotChecks) {
  EXPECT_EQ(ActionFor(v1::OPERATION_INCREMENT, v1::CONFLICT_POLICY_COUNTER),
            FieldAction::kCounterAdd);
  EXPECT_EQ(ActionFor(v1::OPERATION_INCREMENT, v1::CONFLICT_POLICY_LWW), FieldAction::kReject);
  EXPECT_EQ(ActionFor(v1::OPERATION_SET_REMOVE, v1::CONFLICT_POLICY_SET), FieldAction::kSetRemove);
  EXPECT_EQ(ActionFor(v1::OPERATION_RESOLVE_CONFLICT, v1::CONFLICT_POLICY_MANUAL),
            FieldAction::kTakeValue);
  EXPECT_EQ(OutcomeFor(v1::CONFLICT_POLICY_MANUAL, FieldVerdict::kNeedsHuman).outcome,
            v1::MUTATION_OUTCOME_CONFLICT);
}

}  // namespace
}  // namespace crmsync::sync
