// Shared working state of one Merge call. Private to sync/src.
#ifndef CRMSYNC_SYNC_SRC_MERGE_INTERNAL_H_
#define CRMSYNC_SYNC_SRC_MERGE_INTERNAL_H_

#include <optional>
#include <string>

#include "crmsync/sync/field_path.h"
#include "crmsync/sync/merge.h"
#include "crmsync/sync/merge_rules.h"
#include "crmsync/sync/record_model.h"

namespace crmsync::sync::internal {

namespace pb = ::google::protobuf;

// Everything one field merge needs. `next` is the working copy of the
// record; `data` points into it.
struct MergeState {
  MergeState(const v1::Mutation& mutation, const MergeContext& context, const PolicyTable& table)
      : m(mutation), ctx(context), policies(table) {}

  const v1::Mutation& m;
  const MergeContext& ctx;
  const PolicyTable& policies;
  v1::EntityType type = v1::ENTITY_TYPE_UNSPECIFIED;
  // The stored record the merge started from; nullptr for a create.
  const v1::RecordState* stored = nullptr;
  v1::RecordState next;
  pb::Message* data = nullptr;
  // The client's values and base values (default instances when unset).
  const pb::Message* values = nullptr;
  const pb::Message* base_values = nullptr;
  bool has_base_values = false;
  // The mutation's clock reading, clamped against ctx.physical_ms.
  v1::HlcTimestamp client_hlc;
  std::string device_id;
  // Set when per-field metadata moved without a data change.
  bool metadata_touched = false;
  MergeResult* result = nullptr;
};

// The result of merging one masked field.
struct FieldStep {
  FieldVerdict verdict = FieldVerdict::kTookClient;
  // Non-ok: the mutation is rejected with REJECT_REASON_VALIDATION.
  Status error;
  // For conflict records: the stored value and field state before the merge.
  std::optional<v1::Record> server_value;
  v1::FieldState server_state;
  // For kClaimTaken: what holds the claim.
  std::string detail;
};

// The metadata governing `path`: among the entries of state.fields that are
// `path`, an ancestor or a descendant, the one with the highest version; if
// none, `fallback` set to {version = created_version}.
const v1::FieldState& EffectiveFieldState(const v1::RecordState& state, const std::string& path,
                                          v1::FieldState* fallback);

// Records that the mutation set `path` now: version ctx.new_version, the
// clamped clock, the mutation's provenance. Removes entries below `path`.
// Keeps the entry's set_elements when `keep_elements`.
v1::FieldState* StampField(MergeState& s, const std::string& path, bool keep_elements);

// Writes the client's value of `fp` into the record; records the change
// when the value differs. Under the `set` policy, rebuilds the element dots.
void TakeClientValue(MergeState& s, const FieldPath& fp, v1::ConflictPolicy policy);

FieldStep MergeThreeWay(MergeState& s, const FieldPath& fp, v1::ConflictPolicy policy);
FieldStep MergeCounter(MergeState& s, const FieldPath& fp, FieldAction action);
FieldStep MergeSet(MergeState& s, const FieldPath& fp, FieldAction action);
FieldStep MergeClaim(MergeState& s, const FieldPath& fp);

// A conflict record for `fp` (decided or open) from a field step.
v1::Conflict MakeConflict(const MergeState& s, const FieldPath& fp, v1::ConflictPolicy policy,
                          const FieldStep& step, ConflictRecordKind kind);

// Sets `result` to a rejection, keeping the stored state.
void Reject(MergeResult* result, const v1::RecordState* stored, v1::RejectReason reason,
            std::string message);

// ms since the epoch -> Timestamp.
void SetTimestamp(int64_t ms, google::protobuf::Timestamp* ts);

// "lead/abc".
std::string RecordName(const v1::RecordRef& ref);

// Set element keys of a repeated scalar field, in field order; and the
// inverse (writes `keys` sorted by their typed value). Defined in
// merge_set.cc, also used by change.cc.
std::vector<std::string> ReadSetKeys(const pb::Message& m, const FieldPath& fp);
void WriteSetKeys(pb::Message* m, const FieldPath& fp, std::vector<std::string> keys);
// Sorts element keys by their typed value (numbers numerically).
void SortSetKeys(const FieldPath& fp, std::vector<std::string>* keys);

}  // namespace crmsync::sync::internal

#endif  // CRMSYNC_SYNC_SRC_MERGE_INTERNAL_H_
