// Merge: entry point, the per-field loop for creates and updates, and the
// record metadata of the result. Deletes and conflict resolution are in
// merge_delete.cc, field steps in merge_fields.cc / merge_set.cc.
#include "crmsync/sync/merge.h"

#include "merge_internal.h"

namespace crmsync::sync {

namespace internal {

MergeResult MergeDelete(const v1::RecordState& stored, const v1::Mutation& m,
                        const MergeContext& ctx, const PolicyTable& policies);
MergeResult MergeResolve(const v1::RecordState* stored, const v1::Mutation& m,
                         const MergeContext& ctx);
MergeResult RecoveredTombstone(const v1::Mutation& m, const MergeContext& ctx);

// Fills the record metadata of a state whose data changed.
void FinishChangedState(v1::RecordState* next, const v1::RecordState* stored,
                        const v1::HlcTimestamp& client_hlc, int64_t version) {
  next->set_version(version);
  v1::HlcTimestamp hlc = client_hlc;
  if (stored != nullptr && CompareHlc(stored->hlc(), hlc) > 0) hlc = stored->hlc();
  *next->mutable_hlc() = hlc;
  *next->mutable_scope() = ScopeKeysOf(next->data());
}

namespace {

// Sets the entity's `id` field to the record id.
void SetEntityId(pb::Message* entity, const std::string& id) {
  const pb::FieldDescriptor* f = entity->GetDescriptor()->FindFieldByName("id");
  if (f != nullptr && f->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING && !f->is_repeated()) {
    entity->GetReflection()->SetString(entity, f, id);
  }
}

// Creates and updates: UPSERT, INCREMENT, SET_ADD, SET_REMOVE, REDEEM.
MergeResult MergeFields(const v1::RecordState* stored, const v1::Mutation& m,
                        const MergeContext& ctx, const PolicyTable& policies) {
  MergeResult result;
  if (stored != nullptr) result.new_state = *stored;
  const std::string name = RecordName(m.record());
  const bool creates =
      m.operation() == v1::OPERATION_UPSERT || m.operation() == v1::OPERATION_REDEEM;
  v1::RecordState resurrected;
  bool is_new = false;
  if (stored == nullptr) {
    if (!creates || m.base_version() != 0) {
      Reject(&result, stored, v1::REJECT_REASON_NOT_FOUND, "record " + name + " does not exist");
      return result;
    }
    is_new = true;
  } else if (stored->deleted()) {
    if (m.recovered() &&
        CompareHlc(ClampHlc(m.hlc(), ctx.physical_ms, ctx.max_clock_skew_ms), stored->hlc()) <= 0) {
      // A value re-sent after a restore that is older than the delete the
      // server now holds (another device re-sent it): the delete came later
      // in the lost history, so it stands, whatever the delete rule.
      result.outcome = v1::MUTATION_OUTCOME_MERGED;
      result.message = "record " + name + " was deleted after this value was written; the " +
                       "re-sent value was not applied";
      return result;
    }
    if (policies.delete_rule() == DeleteRule::kKeepDelete) {
      Reject(&result, stored, v1::REJECT_REASON_RECORD_DELETED,
             "record " + name + " was deleted at version " + std::to_string(stored->version()) +
                 "; the edit was not applied (delete wins)");
      return result;
    }
    // keep_update: the edit brings the record back, starting from empty
    // data (a tombstone keeps only the id).
    // created_version stays 0 during the field loop, so no field of the
    // empty record counts as changed after the base; restored below.
    resurrected.mutable_ref()->CopyFrom(stored->ref());
    resurrected.set_version(stored->version());
    *resurrected.mutable_hlc() = stored->hlc();
    is_new = true;
  }

  internal::MergeState s(m, ctx, policies);
  s.result = &result;
  s.type = m.record().entity_type();
  s.stored = stored != nullptr && !stored->deleted() ? stored : nullptr;
  if (s.stored != nullptr) {
    s.next = *stored;
  } else if (stored != nullptr) {
    s.next = resurrected;
  } else {
    *s.next.mutable_ref() = m.record();
  }
  s.data = MutableEntity(s.next.mutable_data(), s.type);
  s.values = EntityOrDefault(m.values(), s.type);
  s.has_base_values = EntityTypeOf(m.base_values()) == s.type;
  s.base_values = EntityOrDefault(m.base_values(), s.type);
  s.client_hlc = ClampHlc(m.hlc(), ctx.physical_ms, ctx.max_clock_skew_ms);
  s.device_id = MutationDeviceId(m);

  std::vector<std::string> paths(m.update_mask().paths().begin(), m.update_mask().paths().end());
  // A create without a mask sets every non-default field of `values`.
  const bool create_all = m.operation() == v1::OPERATION_UPSERT && m.base_version() == 0;
  if ((is_new || create_all) && paths.empty()) {
    paths = DiffPaths(*EntityOrDefault(v1::Record(), s.type), *s.values);
  }
  const pb::Descriptor* desc = EntityDescriptor(s.type);
  v1::MutationOutcome outcome = v1::MUTATION_OUTCOME_APPLIED;
  for (const std::string& path : paths) {
    Result<FieldPath> fp = ResolveFieldPath(desc, path);
    if (!fp.ok()) {
      Reject(&result, stored, v1::REJECT_REASON_VALIDATION, fp.status().message());
      return result;
    }
    const v1::ConflictPolicy policy = policies.Lookup(s.type, path);
    const FieldAction action = ActionFor(m.operation(), policy);
    FieldStep step;
    switch (action) {
      case FieldAction::kThreeWay: step = MergeThreeWay(s, *fp, policy); break;
      case FieldAction::kCounterDelta:
      case FieldAction::kCounterAdd: step = MergeCounter(s, *fp, action); break;
      case FieldAction::kSetDiff:
      case FieldAction::kSetAdd:
      case FieldAction::kSetRemove: step = MergeSet(s, *fp, action); break;
      case FieldAction::kClaim: step = MergeClaim(s, *fp); break;
      case FieldAction::kTakeValue: TakeClientValue(s, *fp, policy); break;
      case FieldAction::kReject:
      case FieldAction::kRecordLevel:
        Reject(&result, stored, v1::REJECT_REASON_VALIDATION,
               v1::Operation_Name(m.operation()) + " is not defined for field '" + path +
                   "' (policy " + PolicyName(policy) + ")");
        return result;
    }
    if (!step.error.ok()) {
      Reject(&result, stored, v1::REJECT_REASON_VALIDATION, step.error.message());
      return result;
    }
    const OutcomeRule& rule = OutcomeFor(policy, step.verdict);
    if (rule.outcome == v1::MUTATION_OUTCOME_UNSPECIFIED) {
      Reject(&result, stored, v1::REJECT_REASON_UNSPECIFIED,
             std::string("internal: no outcome rule for policy ") + PolicyName(policy) +
                 " and verdict " + FieldVerdictName(step.verdict));
      return result;
    }
    if (step.verdict == FieldVerdict::kClaimTaken) {
      Reject(&result, stored, v1::REJECT_REASON_CLAIM_TAKEN,
             "claim rejected on " + name + ": " + step.detail);
      return result;
    }
    outcome = MoreSevere(outcome, rule.outcome);
    if (step.verdict != FieldVerdict::kTookClient && step.verdict != FieldVerdict::kClientWon) {
      result.server_kept_fields.push_back(path);
    }
    if (rule.record != ConflictRecordKind::kNone) {
      result.conflicts.push_back(MakeConflict(s, *fp, policy, step, rule.record));
    }
  }

  if (!result.changed_fields.empty() || is_new) {
    if (is_new) {
      SetEntityId(s.data, m.record().id());
      s.next.set_created_version(stored == nullptr ? ctx.new_version : stored->created_version());
    }
    s.next.set_deleted(false);
    s.next.clear_merged_into();
    FinishChangedState(&s.next, stored, s.client_hlc, ctx.new_version);
    result.changed = true;
    result.new_state = std::move(s.next);
  } else if (s.metadata_touched) {
    result.metadata_changed = true;
    result.new_state = std::move(s.next);
  }
  result.outcome = outcome;
  if (stored != nullptr && stored->deleted()) {
    result.message = "record " + name + " was deleted; the edit restored it (keep_update)";
  } else if (!result.server_kept_fields.empty()) {
    result.message = "some fields kept the server's value";
  }
  return result;
}

}  // namespace
}  // namespace internal

void RestampVersion(MergeResult* result, int64_t probe, int64_t version) {
  v1::RecordState& s = result->new_state;
  if (s.version() == probe) s.set_version(version);
  if (s.created_version() == probe) s.set_created_version(version);
  for (auto& [path, field] : *s.mutable_fields()) {
    if (field.version() == probe) field.set_version(version);
    for (v1::SetElement& element : *field.mutable_set_elements()) {
      for (v1::SetDot& dot : *element.mutable_dots()) {
        if (dot.version() == probe) dot.set_version(version);
      }
    }
  }
}

MergeResult Merge(const v1::RecordState* stored, const v1::Mutation& m, const MergeContext& ctx) {
  MergeResult result;
  Status valid = ValidateMutation(m);
  if (!valid.ok()) {
    internal::Reject(&result, stored, v1::REJECT_REASON_VALIDATION, valid.message());
    return result;
  }
  if (stored != nullptr && (stored->ref().entity_type() != m.record().entity_type() ||
                            stored->ref().id() != m.record().id())) {
    internal::Reject(&result, stored, v1::REJECT_REASON_VALIDATION,
                     "internal: stored record " + internal::RecordName(stored->ref()) +
                         " is not the mutation's record " + internal::RecordName(m.record()));
    return result;
  }
  if (ctx.new_version <= 0 || (stored != nullptr && ctx.new_version <= stored->version())) {
    internal::Reject(&result, stored, v1::REJECT_REASON_UNSPECIFIED,
                     "internal: new_version " + std::to_string(ctx.new_version) +
                         " must be positive and above the stored version");
    return result;
  }
  const PolicyTable& policies =
      ctx.policies != nullptr ? *ctx.policies : PolicyTable::DefaultInstance();
  switch (m.operation()) {
    case v1::OPERATION_DELETE:
      if (stored == nullptr) {
        if (m.recovered()) return internal::RecoveredTombstone(m, ctx);
        internal::Reject(&result, stored, v1::REJECT_REASON_NOT_FOUND,
                         "record " + internal::RecordName(m.record()) + " does not exist");
        return result;
      }
      return internal::MergeDelete(*stored, m, ctx, policies);
    case v1::OPERATION_RESOLVE_CONFLICT: return internal::MergeResolve(stored, m, ctx);
    case v1::OPERATION_MERGE:
      internal::Reject(&result, stored, v1::REJECT_REASON_VALIDATION,
                       "internal: a merge of two records is applied with MergeRecords, "
                       "not Merge");
      return result;
    default: return internal::MergeFields(stored, m, ctx, policies);
  }
}

}  // namespace crmsync::sync
