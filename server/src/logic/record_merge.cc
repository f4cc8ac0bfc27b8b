#include "record_merge.h"

#include <string>

#include "absl/strings/str_join.h"
#include "crmsync/sync/merge_records.h"
#include "crmsync/sync/record_model.h"
#include "erasure.h"
#include "references.h"
#include "scope.h"

namespace crmsync::server {
namespace {

// Versions handed to the probing merge; never stored.
constexpr int64_t kProbeVersion = INT64_MAX / 2;

std::string Name(const v1::RecordRef& ref) {
  return sync::EntityTypeName(ref.entity_type()) + "/" + ref.id();
}

bool Mergeable(v1::EntityType type) {
  return type == v1::ENTITY_TYPE_LEAD || type == v1::ENTITY_TYPE_CONTACT ||
         type == v1::ENTITY_TYPE_ACCOUNT;
}

}  // namespace

absl::StatusOr<v1::MutationResult> ApplyRecordMerge(PushTxn& txn, const v1::Mutation& m,
                                                    AuditRow* audit) {
  const v1::EntityType type = m.record().entity_type();
  if (!Mergeable(type)) {
    return RejectedResult(
        m, v1::REJECT_REASON_VALIDATION,
        "only leads, contacts and accounts merge, not " + sync::EntityTypeName(type) + " records");
  }
  v1::RecordRef other_ref;
  other_ref.set_entity_type(type);
  other_ref.set_id(m.merge().merged_record_id());
  auto survivor = txn.tx().GetRecord(m.record());
  if (!survivor.ok()) {
    if (survivor.status().code() == absl::StatusCode::kInvalidArgument) {
      return RejectedResult(m, v1::REJECT_REASON_VALIDATION,
                            std::string(survivor.status().message()));
    }
    return survivor.status();
  }
  auto other = txn.tx().GetRecord(other_ref);
  if (!other.ok()) {
    if (other.status().code() == absl::StatusCode::kInvalidArgument) {
      return RejectedResult(m, v1::REJECT_REASON_VALIDATION,
                            "merge.merged_record_id: " + std::string(other.status().message()));
    }
    return other.status();
  }
  if (!survivor->has_value()) {
    return RejectedResult(m, v1::REJECT_REASON_NOT_FOUND, Name(m.record()) + " does not exist");
  }
  if (!other->has_value()) {
    return RejectedResult(m, v1::REJECT_REASON_NOT_FOUND, Name(other_ref) + " does not exist");
  }
  const v1::RecordState& keep = **survivor;
  const v1::RecordState& gone = **other;
  const Principal& who = txn.who();
  // A caller learns no more than it may read: a record outside its scope
  // reads as missing.
  if (!CanRead(who, type, keep.scope())) {
    return RejectedResult(m, v1::REJECT_REASON_NOT_FOUND, Name(m.record()) + " does not exist");
  }
  if (!CanRead(who, type, gone.scope())) {
    return RejectedResult(m, v1::REJECT_REASON_NOT_FOUND, Name(other_ref) + " does not exist");
  }
  if (gone.deleted()) {
    if (gone.has_merged_into() && gone.merged_into().id() == keep.ref().id()) {
      v1::MutationResult r;
      r.set_client_seq(m.client_seq());
      r.set_outcome(v1::MUTATION_OUTCOME_MERGED);
      r.set_message(Name(other_ref) + " was already merged into " + Name(keep.ref()));
      if (CanRead(who, type, keep.scope())) *r.mutable_record() = keep;
      return r;
    }
    return RejectedResult(m, v1::REJECT_REASON_RECORD_DELETED,
                          gone.has_merged_into()
                              ? Name(other_ref) + " was merged into " + Name(gone.merged_into())
                              : Name(other_ref) + " was deleted");
  }
  if (keep.deleted()) {
    return RejectedResult(m, v1::REJECT_REASON_RECORD_DELETED,
                          keep.has_merged_into()
                              ? "the survivor " + Name(keep.ref()) + " was merged into " +
                                    Name(keep.merged_into()) + "; merge into that one"
                              : "the survivor " + Name(keep.ref()) + " was deleted");
  }
  if (!CanWrite(who, type, keep.scope(), v1::OPERATION_UPSERT) ||
      !CanWrite(who, type, gone.scope(), v1::OPERATION_DELETE)) {
    const v1::RecordState& locked =
        CanWrite(who, type, keep.scope(), v1::OPERATION_UPSERT) ? gone : keep;
    return RejectedResult(
        m, v1::REJECT_REASON_PERMISSION_DENIED,
        "merging needs the right to change both records; " + Name(locked.ref()) + " belongs to " +
            (locked.scope().owner_user_id().empty() ? std::string("someone else")
                                                    : locked.scope().owner_user_id()) +
            ": ask them or an admin");
  }

  const sync::PolicyTable& policies = txn.policies();
  sync::RecordMergeResult probe =
      sync::MergeRecords(keep, gone, m, kProbeVersion, kProbeVersion + 1, policies);
  if (!probe.status.ok()) {
    return RejectedResult(m, v1::REJECT_REASON_VALIDATION, probe.status.message());
  }
  // The tombstone goes first: the survivor's duplicate check must not find
  // the record it absorbed.
  auto tomb_seq = txn.tx().NextSeq();
  if (!tomb_seq.ok()) return tomb_seq.status();
  int64_t survivor_seq = *tomb_seq + 1;
  if (probe.survivor_changed) {
    auto next = txn.tx().NextSeq();
    if (!next.ok()) return next.status();
    survivor_seq = *next;
  }
  sync::RecordMergeResult merged =
      sync::MergeRecords(keep, gone, m, survivor_seq, *tomb_seq, policies);
  if (!merged.status.ok()) return absl::InternalError(merged.status.message());
  if (auto s = txn.PutServerState(&gone, &merged.tombstone); !s.ok()) return s;
  txn.NoteSideSeq(*tomb_seq);
  if (merged.survivor_changed) {
    if (auto s = txn.PutServerState(&keep, &merged.survivor); !s.ok()) return s;
  }
  auto moved = MoveReferences(txn, other_ref, keep.ref());
  if (!moved.ok()) return moved.status();

  v1::MutationResult r;
  r.set_client_seq(m.client_seq());
  r.set_outcome(v1::MUTATION_OUTCOME_APPLIED);
  r.set_change_seq(merged.survivor_changed ? survivor_seq : *tomb_seq);
  std::string detail = Name(other_ref) + " merged into " + Name(keep.ref());
  if (!merged.taken_fields.empty()) {
    detail += "; took " + absl::StrJoin(merged.taken_fields, ", ");
  }
  if (!merged.combined_fields.empty()) {
    detail += "; combined " + absl::StrJoin(merged.combined_fields, ", ");
  }
  detail += "; " + std::to_string(*moved) + (*moved == 1 ? " reference" : " references") + " moved";
  r.set_message(detail);
  const v1::RecordState& now = merged.survivor_changed ? merged.survivor : keep;
  if (CanRead(who, type, now.scope())) *r.mutable_record() = now;

  audit->tenant_id = who.tenant_id;
  audit->at_ms = txn.now_ms();
  audit->action = "record_merged";
  audit->actor_user_id = who.user_id;
  audit->actor_device_id = who.device_id;
  audit->target = v1::EntityType_Name(type) + ":" + keep.ref().id();
  audit->detail = detail;
  return r;
}

absl::StatusOr<std::optional<v1::Mutation>> RedirectToSurvivor(WriteTx& tx,
                                                               const v1::RecordState& current,
                                                               const v1::Mutation& m) {
  if (!current.deleted() || !current.has_merged_into() || IsErased(current)) return std::nullopt;
  switch (m.operation()) {
    case v1::OPERATION_UPSERT:
    case v1::OPERATION_SET_ADD:
    case v1::OPERATION_SET_REMOVE:
    case v1::OPERATION_INCREMENT: break;
    default: return std::nullopt;
  }
  auto survivor = MergedInto(tx, current.ref());
  if (!survivor.ok()) return survivor.status();
  if (!*survivor) return std::nullopt;
  v1::Mutation to = m;
  *to.mutable_record() = **survivor;
  // The survivor keeps its own id.
  auto* paths = to.mutable_update_mask()->mutable_paths();
  for (auto it = paths->begin(); it != paths->end();) {
    it = *it == "id" ? paths->erase(it) : std::next(it);
  }
  if (to.base_version() == 0) to.set_base_version(1);  // not a create of the survivor
  return to;
}

}  // namespace crmsync::server
