// Record-level merges: deletes (DeleteRule) and conflict resolution.
#include <algorithm>

#include "merge_internal.h"

namespace crmsync::sync::internal {

void FinishChangedState(v1::RecordState* next, const v1::RecordState* stored,
                        const v1::HlcTimestamp& client_hlc, int64_t version);

static std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

MergeResult MergeDelete(const v1::RecordState& stored, const v1::Mutation& m,
                        const MergeContext& ctx, const PolicyTable& policies) {
  MergeResult result;
  result.new_state = stored;
  result.outcome = v1::MUTATION_OUTCOME_APPLIED;
  const std::string name = RecordName(m.record());
  if (stored.deleted()) {
    result.message = "record " + name + " was already deleted";
    return result;
  }
  // Fields others changed after the delete's base version.
  const std::string& device = MutationDeviceId(m);
  std::vector<std::string> concurrent;
  for (const auto& [path, fs] : stored.fields()) {
    if (fs.version() > m.base_version() &&
        (device.empty() || fs.provenance().device_id() != device)) {
      concurrent.push_back(path);
    }
  }
  std::sort(concurrent.begin(), concurrent.end());
  if (!concurrent.empty() && policies.delete_rule() == DeleteRule::kKeepUpdate) {
    result.outcome = v1::MUTATION_OUTCOME_MERGED;
    result.server_kept_fields = concurrent;
    result.message = "delete of " + name + " not applied: others changed " + Join(concurrent) +
                     " after version " + std::to_string(m.base_version()) + " (keep_update)";
    return result;
  }
  v1::RecordState& next = result.new_state;
  const v1::EntityType type = m.record().entity_type();
  next.clear_fields();
  next.clear_data();
  pb::Message* entity = MutableEntity(next.mutable_data(), type);
  const pb::FieldDescriptor* idf = entity->GetDescriptor()->FindFieldByName("id");
  if (idf != nullptr) entity->GetReflection()->SetString(entity, idf, m.record().id());
  next.set_deleted(true);
  const v1::ScopeKeys scope = stored.scope();
  FinishChangedState(&next, &stored, ClampHlc(m.hlc(), ctx.physical_ms, ctx.max_clock_skew_ms),
                     ctx.new_version);
  *next.mutable_scope() = scope;  // Tombstones still reach the same devices.
  result.changed = true;
  result.lost_fields = concurrent;
  result.message = concurrent.empty()
                       ? "record " + name + " deleted"
                       : "record " + name +
                             " deleted; the delete won over changes others made after version " +
                             std::to_string(m.base_version()) + " to: " + Join(concurrent);
  return result;
}

MergeResult RecoveredTombstone(const v1::Mutation& m, const MergeContext& ctx) {
  // A delete re-sent after a restore for a record the restored server never
  // had (created and deleted after the backup): kept as a tombstone, so a
  // stale copy another device re-sends later does not bring it back. Its
  // scope is the one the device held, carried in `values`.
  MergeResult result;
  result.outcome = v1::MUTATION_OUTCOME_APPLIED;
  v1::RecordState& next = result.new_state;
  *next.mutable_ref() = m.record();
  const v1::EntityType type = m.record().entity_type();
  pb::Message* entity = MutableEntity(next.mutable_data(), type);
  const pb::FieldDescriptor* idf = entity->GetDescriptor()->FindFieldByName("id");
  if (idf != nullptr) entity->GetReflection()->SetString(entity, idf, m.record().id());
  next.set_deleted(true);
  next.set_created_version(ctx.new_version);
  const v1::ScopeKeys scope =
      EntityTypeOf(m.values()) == type ? ScopeKeysOf(m.values()) : v1::ScopeKeys();
  FinishChangedState(&next, nullptr, ClampHlc(m.hlc(), ctx.physical_ms, ctx.max_clock_skew_ms),
                     ctx.new_version);
  *next.mutable_scope() = scope;
  result.changed = true;
  result.message = "record " + RecordName(m.record()) + " deleted (re-sent after a restore)";
  return result;
}

MergeResult MergeResolve(const v1::RecordState* stored, const v1::Mutation& m,
                         const MergeContext& ctx) {
  MergeResult result;
  if (stored != nullptr) result.new_state = *stored;
  const v1::Conflict* c = ctx.conflict;
  if (c == nullptr || c->id() != m.conflict_id()) {
    Reject(&result, stored, v1::REJECT_REASON_CONFLICT_CLOSED,
           "conflict " + m.conflict_id() + " does not exist");
    return result;
  }
  if (c->status() != v1::CONFLICT_STATUS_OPEN) {
    Reject(&result, stored, v1::REJECT_REASON_CONFLICT_CLOSED,
           "conflict " + c->id() + " is already closed (" + v1::ConflictStatus_Name(c->status()) +
               ")");
    return result;
  }
  if (c->record().entity_type() != m.record().entity_type() ||
      c->record().id() != m.record().id()) {
    Reject(&result, stored, v1::REJECT_REASON_VALIDATION,
           "conflict " + c->id() + " is about " + RecordName(c->record()) + ", not " +
               RecordName(m.record()));
    return result;
  }
  if (stored == nullptr) {
    Reject(&result, stored, v1::REJECT_REASON_NOT_FOUND,
           "record " + RecordName(m.record()) + " does not exist");
    return result;
  }
  if (stored->deleted()) {
    Reject(&result, stored, v1::REJECT_REASON_RECORD_DELETED,
           "record " + RecordName(m.record()) + " was deleted; conflict " + c->id() +
               " can only be dismissed by an admin");
    return result;
  }
  v1::Conflict resolved = *c;
  resolved.set_resolved_by_user_id(m.provenance().author_user_id());
  SetTimestamp(ctx.physical_ms, resolved.mutable_resolved_at());
  result.outcome = v1::MUTATION_OUTCOME_APPLIED;
  if (m.update_mask().paths_size() == 0) {
    resolved.set_status(v1::CONFLICT_STATUS_DISMISSED);
    result.message = "conflict " + c->id() + " dismissed; the server value stays";
    result.resolved_conflict = std::move(resolved);
    return result;
  }
  const std::string& path = m.update_mask().paths(0);
  if (path != c->field_path()) {
    Reject(&result, stored, v1::REJECT_REASON_VALIDATION,
           "conflict " + c->id() + " is about field '" + c->field_path() +
               "', the mutation names '" + path + "'");
    return result;
  }
  const PolicyTable& policies =
      ctx.policies != nullptr ? *ctx.policies : PolicyTable::DefaultInstance();
  MergeState s(m, ctx, policies);
  s.result = &result;
  s.type = m.record().entity_type();
  s.stored = stored;
  s.next = *stored;
  s.data = MutableEntity(s.next.mutable_data(), s.type);
  s.values = EntityOrDefault(m.values(), s.type);
  s.base_values = EntityOrDefault(m.base_values(), s.type);
  s.client_hlc = ClampHlc(m.hlc(), ctx.physical_ms, ctx.max_clock_skew_ms);
  s.device_id = MutationDeviceId(m);
  Result<FieldPath> fp = ResolveFieldPath(EntityDescriptor(s.type), path);
  if (!fp.ok()) {
    Reject(&result, stored, v1::REJECT_REASON_VALIDATION, fp.status().message());
    return result;
  }
  const v1::ConflictPolicy policy = policies.Lookup(s.type, path);
  // RESOLVE_CONFLICT x every policy is kTakeValue (merge_rules.cc).
  TakeClientValue(s, *fp, policy);
  if (!result.changed_fields.empty()) {
    FinishChangedState(&s.next, stored, s.client_hlc, ctx.new_version);
    result.changed = true;
    result.new_state = std::move(s.next);
  } else if (s.metadata_touched) {
    result.metadata_changed = true;
    result.new_state = std::move(s.next);
  }
  resolved.set_status(v1::CONFLICT_STATUS_RESOLVED);
  *resolved.mutable_resolved_value() = ExtractPath(m.values(), s.type, *fp);
  result.message = "conflict " + c->id() + " resolved";
  result.resolved_conflict = std::move(resolved);
  return result;
}

}  // namespace crmsync::sync::internal
