// The conflict rule tables. Every (operation, policy) and (policy, verdict)
// pair is written out with one CONFLICT line (the situation) and one
// RESOLUTION line (what happens). Keep them complete: merge_rules_test fails
// when a pair is missing or duplicated.
#include "crmsync/sync/merge_rules.h"

namespace crmsync::sync {

namespace {

using A = FieldAction;
using R = ConflictRecordKind;
using V = FieldVerdict;

constexpr auto kUpsert = v1::OPERATION_UPSERT;
constexpr auto kDelete = v1::OPERATION_DELETE;
constexpr auto kIncrement = v1::OPERATION_INCREMENT;
constexpr auto kSetAdd = v1::OPERATION_SET_ADD;
constexpr auto kSetRemove = v1::OPERATION_SET_REMOVE;
constexpr auto kRedeem = v1::OPERATION_REDEEM;
constexpr auto kResolve = v1::OPERATION_RESOLVE_CONFLICT;
constexpr auto kMergeRecords = v1::OPERATION_MERGE;

constexpr auto kLww = v1::CONFLICT_POLICY_LWW;
constexpr auto kServerWins = v1::CONFLICT_POLICY_SERVER_WINS;
constexpr auto kClientWins = v1::CONFLICT_POLICY_CLIENT_WINS;
constexpr auto kProvenance = v1::CONFLICT_POLICY_PROVENANCE;
constexpr auto kManual = v1::CONFLICT_POLICY_MANUAL;
constexpr auto kCounter = v1::CONFLICT_POLICY_COUNTER;
constexpr auto kSet = v1::CONFLICT_POLICY_SET;
constexpr auto kClaim = v1::CONFLICT_POLICY_UNIQUE_CLAIM;

constexpr auto kApplied = v1::MUTATION_OUTCOME_APPLIED;
constexpr auto kMerged = v1::MUTATION_OUTCOME_MERGED;
constexpr auto kConflict = v1::MUTATION_OUTCOME_CONFLICT;
constexpr auto kRejected = v1::MUTATION_OUTCOME_REJECTED;
constexpr auto kNever = v1::MUTATION_OUTCOME_UNSPECIFIED;

}  // namespace

const std::vector<OperationRule>& OperationRules() {
  static const std::vector<OperationRule>* const kRules = new std::vector<OperationRule>{
      // --- UPSERT: set the masked fields (create or update) ---
      // CONFLICT: two devices set the same field concurrently.
      // RESOLUTION: later clamped HLC wins (tie: node id); audit Conflict.
      {kUpsert, kLww, A::kThreeWay},
      // CONFLICT: a device edits a server-owned field that changed since its base.
      // RESOLUTION: the stored value stays; audit Conflict.
      {kUpsert, kServerWins, A::kThreeWay},
      // CONFLICT: a device edits a field that changed since its base.
      // RESOLUTION: the device's value is written; audit Conflict.
      {kUpsert, kClientWins, A::kThreeWay},
      // CONFLICT: two channels set the same contact detail.
      // RESOLUTION: higher Provenance.precision wins, then lww; audit Conflict.
      {kUpsert, kProvenance, A::kThreeWay},
      // CONFLICT: two devices set a field that needs a human (amount, stage).
      // RESOLUTION: stored value stays; open Conflict to the record owner.
      {kUpsert, kManual, A::kThreeWay},
      // CONFLICT: two devices write absolute counter values.
      // RESOLUTION: each write counts as delta = value - base value; deltas add.
      {kUpsert, kCounter, A::kCounterDelta},
      // CONFLICT: two devices write whole lists for a set field.
      // RESOLUTION: adds = values - base, removes = base - values, observed-remove.
      {kUpsert, kSet, A::kSetDiff},
      // CONFLICT: two devices claim the same unique field with different values.
      // RESOLUTION: the first committed claim stays; the later one is rejected.
      {kUpsert, kClaim, A::kClaim},

      // --- DELETE: whole record, decided by DeleteRule ---
      // CONFLICT: delete of a record whose lww fields changed after the base.
      // RESOLUTION: record-level DeleteRule (default: delete wins, lost fields reported).
      {kDelete, kLww, A::kRecordLevel},
      // CONFLICT: delete of a record with a server-owned field changed after base.
      // RESOLUTION: record-level DeleteRule.
      {kDelete, kServerWins, A::kRecordLevel},
      // CONFLICT: delete of a record with a client_wins field changed after base.
      // RESOLUTION: record-level DeleteRule.
      {kDelete, kClientWins, A::kRecordLevel},
      // CONFLICT: delete of a record with a provenance field changed after base.
      // RESOLUTION: record-level DeleteRule.
      {kDelete, kProvenance, A::kRecordLevel},
      // CONFLICT: delete of a record with a manual field changed after base.
      // RESOLUTION: record-level DeleteRule; open conflicts on it stay for audit.
      {kDelete, kManual, A::kRecordLevel},
      // CONFLICT: delete of a record whose counter moved after the base.
      // RESOLUTION: record-level DeleteRule (points are lost with the record).
      {kDelete, kCounter, A::kRecordLevel},
      // CONFLICT: delete of a record whose set gained elements after the base.
      // RESOLUTION: record-level DeleteRule.
      {kDelete, kSet, A::kRecordLevel},
      // CONFLICT: delete of a record holding a claim.
      // RESOLUTION: record-level DeleteRule (the claim goes with the record).
      {kDelete, kClaim, A::kRecordLevel},

      // --- INCREMENT: values are deltas for counter fields ---
      // CONFLICT: increment of an lww field (not a counter).
      // RESOLUTION: rejected (validation): increments need a counter field.
      {kIncrement, kLww, A::kReject},
      // CONFLICT: increment of a server-owned field.
      // RESOLUTION: rejected (validation).
      {kIncrement, kServerWins, A::kReject},
      // CONFLICT: increment of a client_wins field.
      // RESOLUTION: rejected (validation).
      {kIncrement, kClientWins, A::kReject},
      // CONFLICT: increment of a provenance field.
      // RESOLUTION: rejected (validation).
      {kIncrement, kProvenance, A::kReject},
      // CONFLICT: increment of a manual field (e.g. an amount).
      // RESOLUTION: rejected (validation): a human decides those values.
      {kIncrement, kManual, A::kReject},
      // CONFLICT: concurrent increments of one counter.
      // RESOLUTION: deltas add; they commute and none is lost.
      {kIncrement, kCounter, A::kCounterAdd},
      // CONFLICT: increment of a set field.
      // RESOLUTION: rejected (validation).
      {kIncrement, kSet, A::kReject},
      // CONFLICT: increment of a unique claim.
      // RESOLUTION: rejected (validation).
      {kIncrement, kClaim, A::kReject},

      // --- SET_ADD: add elements to set fields ---
      // CONFLICT: set-add on an lww list field.
      // RESOLUTION: rejected (validation): the field is not a set.
      {kSetAdd, kLww, A::kReject},
      // CONFLICT: set-add on a server-owned field.
      // RESOLUTION: rejected (validation).
      {kSetAdd, kServerWins, A::kReject},
      // CONFLICT: set-add on a client_wins list.
      // RESOLUTION: rejected (validation).
      {kSetAdd, kClientWins, A::kReject},
      // CONFLICT: set-add on a provenance list.
      // RESOLUTION: rejected (validation).
      {kSetAdd, kProvenance, A::kReject},
      // CONFLICT: set-add on a manual list.
      // RESOLUTION: rejected (validation).
      {kSetAdd, kManual, A::kReject},
      // CONFLICT: set-add on a counter.
      // RESOLUTION: rejected (validation).
      {kSetAdd, kCounter, A::kReject},
      // CONFLICT: concurrent adds (and removes) of elements.
      // RESOLUTION: each add makes a new dot; adds win over unobserved removes.
      {kSetAdd, kSet, A::kSetAdd},
      // CONFLICT: set-add on a unique claim.
      // RESOLUTION: rejected (validation).
      {kSetAdd, kClaim, A::kReject},

      // --- SET_REMOVE: remove observed elements from set fields ---
      // CONFLICT: set-remove on an lww list.
      // RESOLUTION: rejected (validation).
      {kSetRemove, kLww, A::kReject},
      // CONFLICT: set-remove on a server-owned field.
      // RESOLUTION: rejected (validation).
      {kSetRemove, kServerWins, A::kReject},
      // CONFLICT: set-remove on a client_wins list.
      // RESOLUTION: rejected (validation).
      {kSetRemove, kClientWins, A::kReject},
      // CONFLICT: set-remove on a provenance list.
      // RESOLUTION: rejected (validation).
      {kSetRemove, kProvenance, A::kReject},
      // CONFLICT: set-remove on a manual list.
      // RESOLUTION: rejected (validation).
      {kSetRemove, kManual, A::kReject},
      // CONFLICT: set-remove on a counter.
      // RESOLUTION: rejected (validation).
      {kSetRemove, kCounter, A::kReject},
      // CONFLICT: a remove races with a concurrent add of the same element.
      // RESOLUTION: only dots the device observed go; the concurrent add survives.
      {kSetRemove, kSet, A::kSetRemove},
      // CONFLICT: set-remove on a unique claim.
      // RESOLUTION: rejected (validation).
      {kSetRemove, kClaim, A::kReject},

      // --- REDEEM: a Redemption create (limits are checked by the server) ---
      // CONFLICT: a re-sent redemption meets its stored copy (lww field).
      // RESOLUTION: as UPSERT: three-way, lww.
      {kRedeem, kLww, A::kThreeWay},
      // CONFLICT: a redemption's server-owned status meets a device value.
      // RESOLUTION: as UPSERT: the server's status stays.
      {kRedeem, kServerWins, A::kThreeWay},
      // CONFLICT: as UPSERT on a client_wins field.
      // RESOLUTION: the device's value is written.
      {kRedeem, kClientWins, A::kThreeWay},
      // CONFLICT: as UPSERT on a provenance field.
      // RESOLUTION: precision, then lww.
      {kRedeem, kProvenance, A::kThreeWay},
      // CONFLICT: as UPSERT on a manual field.
      // RESOLUTION: open Conflict.
      {kRedeem, kManual, A::kThreeWay},
      // CONFLICT: as UPSERT on a counter field.
      // RESOLUTION: delta = value - base.
      {kRedeem, kCounter, A::kCounterDelta},
      // CONFLICT: as UPSERT on a set field.
      // RESOLUTION: observed-remove diff.
      {kRedeem, kSet, A::kSetDiff},
      // CONFLICT: two terminals claim the same unique field.
      // RESOLUTION: first committed claim wins; later rejected (CLAIM_TAKEN).
      {kRedeem, kClaim, A::kClaim},

      // --- RESOLVE_CONFLICT: a human picked the value ---
      // CONFLICT: resolving a conflict on an lww field.
      // RESOLUTION: chosen value written, policy bypassed; Conflict RESOLVED.
      {kResolve, kLww, A::kTakeValue},
      // CONFLICT: resolving a conflict on a server-owned field.
      // RESOLUTION: chosen value written (an admin decision); Conflict RESOLVED.
      {kResolve, kServerWins, A::kTakeValue},
      // CONFLICT: resolving a conflict on a client_wins field.
      // RESOLUTION: chosen value written; Conflict RESOLVED.
      {kResolve, kClientWins, A::kTakeValue},
      // CONFLICT: resolving a conflict on a provenance field.
      // RESOLUTION: chosen value written; Conflict RESOLVED.
      {kResolve, kProvenance, A::kTakeValue},
      // CONFLICT: resolving an open manual conflict (the usual case).
      // RESOLUTION: chosen value written; Conflict RESOLVED (empty mask: DISMISSED).
      {kResolve, kManual, A::kTakeValue},
      // CONFLICT: resolving on a counter (counters never open conflicts).
      // RESOLUTION: chosen value written as an absolute value.
      {kResolve, kCounter, A::kTakeValue},
      // CONFLICT: resolving on a set field (sets never open conflicts).
      // RESOLUTION: chosen list written; every element gets a fresh dot.
      {kResolve, kSet, A::kTakeValue},
      // CONFLICT: resolving a disputed claim (admin reassigns it).
      // RESOLUTION: chosen value written; Conflict RESOLVED.
      {kResolve, kClaim, A::kTakeValue},

      // --- MERGE: two records of one customer become one (MergeRecords) ---
      // CONFLICT: both records hold a different lww value.
      // RESOLUTION: the higher precision wins, a tie keeps the survivor's.
      {kMergeRecords, kLww, A::kRecordLevel},
      // CONFLICT: both records hold a different server-owned value.
      // RESOLUTION: the higher precision wins, a tie keeps the survivor's.
      {kMergeRecords, kServerWins, A::kRecordLevel},
      // CONFLICT: both records hold a different client_wins value.
      // RESOLUTION: the higher precision wins, a tie keeps the survivor's.
      {kMergeRecords, kClientWins, A::kRecordLevel},
      // CONFLICT: two channels gave the customer's contact detail.
      // RESOLUTION: the higher precision wins (the default rule), then the survivor.
      {kMergeRecords, kProvenance, A::kRecordLevel},
      // CONFLICT: both records hold a different value that needs a human.
      // RESOLUTION: the person merging chose (MergeSpec), else the survivor's stays.
      {kMergeRecords, kManual, A::kRecordLevel},
      // CONFLICT: both records hold a counter (points).
      // RESOLUTION: not merged: records with counters are refused.
      {kMergeRecords, kCounter, A::kRecordLevel},
      // CONFLICT: both records hold elements of a set field.
      // RESOLUTION: union of both, every element with its adds.
      {kMergeRecords, kSet, A::kRecordLevel},
      // CONFLICT: both records hold a different unique claim.
      // RESOLUTION: the survivor keeps its claim; an empty one takes the other's.
      {kMergeRecords, kClaim, A::kRecordLevel},
  };
  return *kRules;
}

const std::vector<OutcomeRule>& OutcomeRules() {
  static const std::vector<OutcomeRule>* const kRules = new std::vector<OutcomeRule>{
      // --- lww ---
      // CONFLICT: none (field unchanged since base, or already equal).
      // RESOLUTION: client value; APPLIED.
      {kLww, V::kTookClient, kApplied, R::kNone},
      // CONFLICT: concurrent edit, client's clock later.
      // RESOLUTION: client value; APPLIED; audit Conflict.
      {kLww, V::kClientWon, kApplied, R::kAudit},
      // CONFLICT: concurrent edit, server's clock later.
      // RESOLUTION: server value kept; MERGED; audit Conflict.
      {kLww, V::kServerWon, kMerged, R::kAudit},
      // CONFLICT: lww never combines values.
      // RESOLUTION: cannot occur.
      {kLww, V::kCombined, kNever, R::kNone},
      // CONFLICT: lww never waits for a human.
      // RESOLUTION: cannot occur.
      {kLww, V::kNeedsHuman, kNever, R::kNone},
      // CONFLICT: lww has no claims.
      // RESOLUTION: cannot occur.
      {kLww, V::kClaimTaken, kNever, R::kNone},

      // --- server_wins ---
      // CONFLICT: none.
      // RESOLUTION: client value; APPLIED.
      {kServerWins, V::kTookClient, kApplied, R::kNone},
      // CONFLICT: server_wins never decides for the client.
      // RESOLUTION: cannot occur.
      {kServerWins, V::kClientWon, kNever, R::kNone},
      // CONFLICT: concurrent edit of a server-owned field.
      // RESOLUTION: server value kept; MERGED; audit Conflict.
      {kServerWins, V::kServerWon, kMerged, R::kAudit},
      // CONFLICT: never combines.
      // RESOLUTION: cannot occur.
      {kServerWins, V::kCombined, kNever, R::kNone},
      // CONFLICT: never waits for a human.
      // RESOLUTION: cannot occur.
      {kServerWins, V::kNeedsHuman, kNever, R::kNone},
      // CONFLICT: no claims.
      // RESOLUTION: cannot occur.
      {kServerWins, V::kClaimTaken, kNever, R::kNone},

      // --- client_wins ---
      // CONFLICT: none.
      // RESOLUTION: client value; APPLIED.
      {kClientWins, V::kTookClient, kApplied, R::kNone},
      // CONFLICT: concurrent edit.
      // RESOLUTION: client value; APPLIED; audit Conflict (server value overwritten).
      {kClientWins, V::kClientWon, kApplied, R::kAudit},
      // CONFLICT: client_wins never keeps the server value.
      // RESOLUTION: cannot occur.
      {kClientWins, V::kServerWon, kNever, R::kNone},
      // CONFLICT: never combines.
      // RESOLUTION: cannot occur.
      {kClientWins, V::kCombined, kNever, R::kNone},
      // CONFLICT: never waits for a human.
      // RESOLUTION: cannot occur.
      {kClientWins, V::kNeedsHuman, kNever, R::kNone},
      // CONFLICT: no claims.
      // RESOLUTION: cannot occur.
      {kClientWins, V::kClaimTaken, kNever, R::kNone},

      // --- provenance ---
      // CONFLICT: none.
      // RESOLUTION: client value; APPLIED.
      {kProvenance, V::kTookClient, kApplied, R::kNone},
      // CONFLICT: concurrent edit; client source more precise (or tie, later clock).
      // RESOLUTION: client value; APPLIED; audit Conflict.
      {kProvenance, V::kClientWon, kApplied, R::kAudit},
      // CONFLICT: concurrent edit; stored source more precise (or tie, later clock).
      // RESOLUTION: server value kept; MERGED; audit Conflict.
      {kProvenance, V::kServerWon, kMerged, R::kAudit},
      // CONFLICT: never combines.
      // RESOLUTION: cannot occur.
      {kProvenance, V::kCombined, kNever, R::kNone},
      // CONFLICT: never waits for a human.
      // RESOLUTION: cannot occur.
      {kProvenance, V::kNeedsHuman, kNever, R::kNone},
      // CONFLICT: no claims.
      // RESOLUTION: cannot occur.
      {kProvenance, V::kClaimTaken, kNever, R::kNone},

      // --- manual ---
      // CONFLICT: none.
      // RESOLUTION: client value; APPLIED.
      {kManual, V::kTookClient, kApplied, R::kNone},
      // CONFLICT: manual never decides automatically.
      // RESOLUTION: cannot occur.
      {kManual, V::kClientWon, kNever, R::kNone},
      // CONFLICT: manual never decides automatically.
      // RESOLUTION: cannot occur.
      {kManual, V::kServerWon, kNever, R::kNone},
      // CONFLICT: never combines.
      // RESOLUTION: cannot occur.
      {kManual, V::kCombined, kNever, R::kNone},
      // CONFLICT: concurrent edit of amount/stage.
      // RESOLUTION: server value kept; CONFLICT; one open Conflict record.
      {kManual, V::kNeedsHuman, kConflict, R::kOpen},
      // CONFLICT: no claims.
      // RESOLUTION: cannot occur.
      {kManual, V::kClaimTaken, kNever, R::kNone},

      // --- counter ---
      // CONFLICT: no concurrent change (or an increment, applied as sent).
      // RESOLUTION: APPLIED.
      {kCounter, V::kTookClient, kApplied, R::kNone},
      // CONFLICT: counters never pick a side.
      // RESOLUTION: cannot occur.
      {kCounter, V::kClientWon, kNever, R::kNone},
      // CONFLICT: counters never pick a side.
      // RESOLUTION: cannot occur.
      {kCounter, V::kServerWon, kNever, R::kNone},
      // CONFLICT: concurrent changes to the counter.
      // RESOLUTION: deltas summed; MERGED (value differs from the one sent).
      {kCounter, V::kCombined, kMerged, R::kNone},
      // CONFLICT: never waits for a human.
      // RESOLUTION: cannot occur.
      {kCounter, V::kNeedsHuman, kNever, R::kNone},
      // CONFLICT: no claims.
      // RESOLUTION: cannot occur.
      {kCounter, V::kClaimTaken, kNever, R::kNone},

      // --- set ---
      // CONFLICT: no concurrent change (or a set-add/remove, applied as sent).
      // RESOLUTION: APPLIED.
      {kSet, V::kTookClient, kApplied, R::kNone},
      // CONFLICT: sets never pick a side.
      // RESOLUTION: cannot occur.
      {kSet, V::kClientWon, kNever, R::kNone},
      // CONFLICT: sets never pick a side.
      // RESOLUTION: cannot occur.
      {kSet, V::kServerWon, kNever, R::kNone},
      // CONFLICT: concurrent adds/removes.
      // RESOLUTION: observed-remove merge; MERGED (list differs from the one sent).
      {kSet, V::kCombined, kMerged, R::kNone},
      // CONFLICT: never waits for a human.
      // RESOLUTION: cannot occur.
      {kSet, V::kNeedsHuman, kNever, R::kNone},
      // CONFLICT: no claims.
      // RESOLUTION: cannot occur.
      {kSet, V::kClaimTaken, kNever, R::kNone},

      // --- unique_claim ---
      // CONFLICT: the field was free (default) or holds the same claim.
      // RESOLUTION: claim written (or kept); APPLIED.
      {kClaim, V::kTookClient, kApplied, R::kNone},
      // CONFLICT: claims are never decided for a later claimant.
      // RESOLUTION: cannot occur.
      {kClaim, V::kClientWon, kNever, R::kNone},
      // CONFLICT: claims never silently keep the server value.
      // RESOLUTION: cannot occur (a taken claim rejects the mutation).
      {kClaim, V::kServerWon, kNever, R::kNone},
      // CONFLICT: claims never combine.
      // RESOLUTION: cannot occur.
      {kClaim, V::kCombined, kNever, R::kNone},
      // CONFLICT: claims never wait for a human.
      // RESOLUTION: cannot occur.
      {kClaim, V::kNeedsHuman, kNever, R::kNone},
      // CONFLICT: someone else's claim was committed first.
      // RESOLUTION: whole mutation REJECTED (REJECT_REASON_CLAIM_TAKEN).
      {kClaim, V::kClaimTaken, kRejected, R::kNone},
  };
  return *kRules;
}

FieldAction ActionFor(v1::Operation operation, v1::ConflictPolicy policy) {
  for (const OperationRule& r : OperationRules()) {
    if (r.operation == operation && r.policy == policy) return r.action;
  }
  return FieldAction::kReject;
}

const OutcomeRule& OutcomeFor(v1::ConflictPolicy policy, FieldVerdict verdict) {
  static const OutcomeRule kMissing{v1::CONFLICT_POLICY_UNSPECIFIED, FieldVerdict::kTookClient,
                                    kNever, ConflictRecordKind::kNone};
  for (const OutcomeRule& r : OutcomeRules()) {
    if (r.policy == policy && r.verdict == verdict) return r;
  }
  return kMissing;
}

static int Severity(v1::MutationOutcome o) {
  switch (o) {
    case v1::MUTATION_OUTCOME_APPLIED: return 1;
    case v1::MUTATION_OUTCOME_MERGED: return 2;
    case v1::MUTATION_OUTCOME_CONFLICT: return 3;
    case v1::MUTATION_OUTCOME_REJECTED: return 4;
    default: return 0;
  }
}

v1::MutationOutcome MoreSevere(v1::MutationOutcome a, v1::MutationOutcome b) {
  return Severity(a) >= Severity(b) ? a : b;
}

std::vector<FieldVerdict> AllFieldVerdicts() {
  return {V::kTookClient, V::kClientWon,  V::kServerWon,
          V::kCombined,   V::kNeedsHuman, V::kClaimTaken};
}

const char* FieldVerdictName(FieldVerdict verdict) {
  switch (verdict) {
    case V::kTookClient: return "took_client";
    case V::kClientWon: return "client_won";
    case V::kServerWon: return "server_won";
    case V::kCombined: return "combined";
    case V::kNeedsHuman: return "needs_human";
    case V::kClaimTaken: return "claim_taken";
  }
  return "?";
}

const char* FieldActionName(FieldAction action) {
  switch (action) {
    case A::kThreeWay: return "three_way";
    case A::kCounterDelta: return "counter_delta";
    case A::kCounterAdd: return "counter_add";
    case A::kSetDiff: return "set_diff";
    case A::kSetAdd: return "set_add";
    case A::kSetRemove: return "set_remove";
    case A::kClaim: return "claim";
    case A::kTakeValue: return "take_value";
    case A::kReject: return "reject";
    case A::kRecordLevel: return "record_level";
  }
  return "?";
}

}  // namespace crmsync::sync
