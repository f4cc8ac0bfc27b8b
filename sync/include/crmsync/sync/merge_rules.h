// The conflict rules as two tables that can be reviewed line by line
// (sync/src/merge_rules.cc), used by Merge and checked for completeness by
// tests: adding an Operation, a ConflictPolicy or a FieldVerdict fails the
// tests until every new pair is decided.
//
//  1. (operation x policy) -> FieldAction: what Merge does with one masked
//     field of a mutation.
//  2. (policy x verdict) -> mutation outcome and conflict record: what a
//     field-level decision means for the mutation's result.
//
// The tables are constant; every function here is thread-safe.
#ifndef CRMSYNC_SYNC_MERGE_RULES_H_
#define CRMSYNC_SYNC_MERGE_RULES_H_

#include <vector>

#include "crmsync/v1/entities.pb.h"
#include "crmsync/v1/sync.pb.h"

namespace crmsync::sync {

namespace v1 = ::crmsync::v1;

// What Merge does with one masked field.
enum class FieldAction {
  // Three-way merge; a real conflict is decided by the field's policy.
  kThreeWay,
  // Counter: delta = value - base value, added to the stored value.
  kCounterDelta,
  // Counter: the value is the delta (OPERATION_INCREMENT).
  kCounterAdd,
  // Observed-remove set: adds = values - base, removes = base - values.
  kSetDiff,
  // Observed-remove set: the values are elements to add.
  kSetAdd,
  // Observed-remove set: the values are elements to remove (observed dots).
  kSetRemove,
  // Unique claim: the first non-default value stays; others are rejected.
  kClaim,
  // Policy bypassed: the value is written as sent (conflict resolution).
  kTakeValue,
  // The operation is not defined for this policy: reject the mutation
  // (REJECT_REASON_VALIDATION).
  kReject,
  // Decided for the whole record, not per field (deletes, see DeleteRule).
  kRecordLevel,
};

// How one masked field ended up.
enum class FieldVerdict {
  // No real conflict (the stored field did not change after the base
  // version, or already holds the client's value): client value as sent.
  kTookClient,
  // Real conflict decided for the client.
  kClientWon,
  // Real conflict decided for the server: the stored value stays.
  kServerWon,
  // Both sides combined (counter sum, set union/removal) and the result
  // differs from what the client sent.
  kCombined,
  // Real conflict left to a human: stored value stays, open Conflict.
  kNeedsHuman,
  // Unique claim already taken by a different value: reject the mutation.
  kClaimTaken,
};

// Which Conflict record a field verdict produces.
enum class ConflictRecordKind {
  kNone,
  // auto_resolved = true, status RESOLVED: recorded for audit only.
  kAudit,
  // auto_resolved = false, status OPEN: waits for a human.
  kOpen,
};

struct OperationRule {
  v1::Operation operation;
  v1::ConflictPolicy policy;
  FieldAction action;
};

struct OutcomeRule {
  v1::ConflictPolicy policy;
  FieldVerdict verdict;
  // MUTATION_OUTCOME_UNSPECIFIED marks a pair that cannot occur (Merge treats
  // it as an internal error and rejects the mutation).
  v1::MutationOutcome outcome;
  ConflictRecordKind record;
};

// Every row of the two tables.
const std::vector<OperationRule>& OperationRules();
const std::vector<OutcomeRule>& OutcomeRules();

// Table lookups. A pair missing from a table yields kReject / an
// UNSPECIFIED outcome (and fails the completeness tests).
FieldAction ActionFor(v1::Operation operation, v1::ConflictPolicy policy);
const OutcomeRule& OutcomeFor(v1::ConflictPolicy policy, FieldVerdict verdict);

// Outcomes ordered by severity, for combining the fields of one mutation:
// APPLIED < MERGED < CONFLICT < REJECTED.
v1::MutationOutcome MoreSevere(v1::MutationOutcome a, v1::MutationOutcome b);

// Every FieldVerdict value, for completeness checks.
std::vector<FieldVerdict> AllFieldVerdicts();
const char* FieldVerdictName(FieldVerdict verdict);
const char* FieldActionName(FieldAction action);

}  // namespace crmsync::sync

#endif  // CRMSYNC_SYNC_MERGE_RULES_H_
