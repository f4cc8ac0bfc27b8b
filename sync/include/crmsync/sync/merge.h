// Field-level three-way merge of one Mutation into a stored record.
//
// Merge is a pure function: the same (stored, mutation, context) always gives
// the same MergeResult, with no clock, randomness or I/O. It runs on the
// server for every pushed mutation; the algebra is in sync/README.md.
//
// Thread-safety: Merge only reads its arguments; concurrent calls on
// different (or the same const) inputs are safe.
#ifndef CRMSYNC_SYNC_MERGE_H_
#define CRMSYNC_SYNC_MERGE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "crmsync/sync/hlc.h"
#include "crmsync/sync/policy_table.h"
#include "crmsync/v1/entities.pb.h"
#include "crmsync/v1/sync.pb.h"

namespace crmsync::sync {

namespace v1 = ::crmsync::v1;

// What the caller knows that the mutation does not.
struct MergeContext {
  // Change sequence the caller assigns to this merge if it changes the
  // record. Must be greater than the stored record's version (and > 0);
  // otherwise the mutation is rejected as an internal error. Default 0.
  int64_t new_version = 0;
  // The caller's physical clock, ms since the Unix epoch: client HLC readings
  // beyond physical_ms + max_clock_skew_ms are clamped, and conflict
  // timestamps use it. Default 0.
  int64_t physical_ms = 0;
  // See HlcOptions::max_skew_ms. Default 60 s.
  int64_t max_clock_skew_ms = kDefaultMaxClockSkewMs;
  // Policies and the delete rule; nullptr = PolicyTable::DefaultInstance().
  // Not owned; must outlive the call.
  const PolicyTable* policies = nullptr;
  // For OPERATION_RESOLVE_CONFLICT only: the stored Conflict named by the
  // mutation's conflict_id, or nullptr when the caller found none (the
  // mutation is then rejected with REJECT_REASON_CONFLICT_CLOSED). Not owned.
  const v1::Conflict* conflict = nullptr;
};

struct MergeResult {
  v1::MutationOutcome outcome = v1::MUTATION_OUTCOME_UNSPECIFIED;
  // Set when outcome is REJECTED.
  v1::RejectReason reject_reason = v1::REJECT_REASON_UNSPECIFIED;
  // Human-readable detail (why rejected, which fields a delete lost, ...).
  std::string message;

  // The record after the merge. When nothing changed (or the mutation was
  // rejected) this is the stored state as given (empty if there was none).
  v1::RecordState new_state;
  // True when the data or the deleted flag changed: new_state.version is
  // ctx.new_version and the caller records a change.
  bool changed = false;
  // True when only per-field metadata moved: a write of the value a field
  // already held (lww/provenance fields are re-stamped so later concurrent
  // writes compare against it), or a new set dot on an element that was
  // already live. The caller stores new_state but records no change: the
  // record version stays, while the touched FieldState.version is
  // ctx.new_version (it may exceed new_state.version until the record's
  // next change). Never true together with `changed`.
  bool metadata_changed = false;

  // Paths whose value changed, in mask order.
  std::vector<std::string> changed_fields;
  // Masked paths that did not take the client's value as sent.
  std::vector<std::string> server_kept_fields;
  // For a delete that won over concurrent edits: the paths others changed
  // after the delete's base version (their values are gone).
  std::vector<std::string> lost_fields;

  // Conflict records produced: open ones (manual, auto_resolved = false) and
  // audit ones (auto_resolved = true, status RESOLVED) for conflicts a policy
  // decided. The caller stores them as ENTITY_TYPE_CONFLICT records (see
  // ConflictRecordState); storing the audit ones is its choice.
  std::vector<v1::Conflict> conflicts;
  // For OPERATION_RESOLVE_CONFLICT: ctx.conflict, now RESOLVED or DISMISSED.
  std::optional<v1::Conflict> resolved_conflict;
};

// Merges `m` into `stored` (nullptr when the server holds no such record).
// Validation failures, policy rejections and caller errors are returned as
// outcome REJECTED with a reason and message; Merge does not fail otherwise.
MergeResult Merge(const v1::RecordState* stored, const v1::Mutation& m, const MergeContext& ctx);

// Turns the result of a merge made with ctx.new_version = `probe` into the
// result of the same merge made with `version`: every version the merge
// stamped (the record's version and created_version, field versions, set
// and counter dots) is `probe`, and nothing else decides by it as long as
// both exceed every version in the stored record. So a caller can merge
// once to learn whether a mutation changes anything, then take a sequence
// number only if it does. `probe` must be a value no stored state holds
// (the push path uses INT64_MAX / 2).
void RestampVersion(MergeResult* result, int64_t probe, int64_t version);

// The MutationResult for `m` (client_seq, outcome, reason, message,
// conflict ids, kept fields, record, change_seq). Audit conflicts are listed
// in conflict_ids only when `include_audit_conflicts` (i.e. when the caller
// stores them); the record only when `include_record` (a caller that
// decides later whom it may show the record to copies it then).
v1::MutationResult ToMutationResult(const MergeResult& result, const v1::Mutation& m,
                                    bool include_audit_conflicts, bool include_record = true);

// Deterministic conflict id: "cf-" + 16 hex digits of a hash of
// (device id, client_seq, entity type, record id, field path). A retried
// merge of the same mutation yields the same id.
std::string ConflictId(const v1::Mutation& m, const std::string& field_path);

// A record the server writes itself (not merged: it holds the tenant's
// lock and read `current` in the same transaction) at `version`: `data`
// replaces the entity, the top-level fields that differ from `current`
// (nullptr or a tombstone: every field set) are stamped `version`, `hlc` and
// channel SYSTEM, the others keep their metadata; scope keys from `data`.
v1::RecordState ServerRecordState(const v1::RecordState* current, const v1::RecordRef& ref,
                                  const v1::Record& data, int64_t version,
                                  const v1::HlcTimestamp& hlc);

// The tombstone of `current` the server writes itself at `version` (its
// scope kept, so it reaches the devices that held the record).
v1::RecordState ServerTombstone(const v1::RecordState& current, int64_t version,
                                const v1::HlcTimestamp& hlc);

// A Conflict as a stored record of ENTITY_TYPE_CONFLICT at `version`, with
// its scope keys (the record owner) and per-field states stamped `hlc`.
v1::RecordState ConflictRecordState(const v1::Conflict& conflict, int64_t version,
                                    const v1::HlcTimestamp& hlc);

}  // namespace crmsync::sync

#endif  // CRMSYNC_SYNC_MERGE_H_
