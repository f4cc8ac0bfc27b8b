// Turning merge results into protocol messages: MutationResult, conflict
// ids and conflict records.
#include <cstdio>

#include "merge_internal.h"

namespace crmsync::sync {

namespace internal {
void FinishChangedState(v1::RecordState* next, const v1::RecordState* stored,
                        const v1::HlcTimestamp& client_hlc, int64_t version);
}  // namespace internal

v1::MutationResult ToMutationResult(const MergeResult& result, const v1::Mutation& m,
                                    bool include_audit_conflicts, bool include_record) {
  v1::MutationResult out;
  out.set_client_seq(m.client_seq());
  out.set_outcome(result.outcome);
  out.set_reject_reason(result.reject_reason);
  out.set_message(result.message);
  for (const v1::Conflict& c : result.conflicts) {
    if (c.auto_resolved() && !include_audit_conflicts) continue;
    out.add_conflict_ids(c.id());
  }
  if (result.resolved_conflict) out.add_conflict_ids(result.resolved_conflict->id());
  for (const std::string& f : result.server_kept_fields) out.add_server_kept_fields(f);
  if (include_record && result.new_state.has_ref()) *out.mutable_record() = result.new_state;
  out.set_change_seq(result.changed ? result.new_state.version() : 0);
  return out;
}

// FNV-1a, 64 bit: small, stable across platforms and releases.
static void Fnv(uint64_t* h, const std::string& bytes) {
  for (unsigned char c : bytes) {
    *h ^= c;
    *h *= 1099511628211ULL;
  }
  *h ^= 0xff;  // Field separator, so ("ab","c") != ("a","bc").
  *h *= 1099511628211ULL;
}

std::string ConflictId(const v1::Mutation& m, const std::string& field_path) {
  uint64_t h = 14695981039346656037ULL;
  Fnv(&h, MutationDeviceId(m));
  Fnv(&h, std::to_string(m.client_seq()));
  Fnv(&h, std::to_string(m.record().entity_type()));
  Fnv(&h, m.record().id());
  Fnv(&h, field_path);
  char buf[24];
  std::snprintf(buf, sizeof buf, "cf-%016llx", static_cast<unsigned long long>(h));
  return buf;
}

v1::RecordState ServerRecordState(const v1::RecordState* current, const v1::RecordRef& ref,
                                  const v1::Record& data, int64_t version,
                                  const v1::HlcTimestamp& hlc) {
  const bool live = current != nullptr && !current->deleted();
  v1::RecordState state;
  if (live) state = *current;  // unchanged fields keep their metadata
  *state.mutable_ref() = ref;
  state.clear_deleted();
  state.clear_merged_into();
  const v1::EntityType type = ref.entity_type();
  const v1::Record none;
  const v1::Record& previous = live ? current->data() : none;
  const google::protobuf::Message* before = EntityOrDefault(previous, type);
  *state.mutable_data() = data;
  google::protobuf::Message* after = MutableEntity(state.mutable_data(), type);
  StripEmptyMessages(after);
  state.set_version(version);
  if (!live) state.set_created_version(version);
  *state.mutable_hlc() = hlc;
  *state.mutable_scope() = ScopeKeysOf(state.data());
  for (const std::string& path : DiffPaths(*before, *after)) {
    // One entry per top-level field is enough for change building.
    const std::string top = path.substr(0, path.find('.'));
    v1::FieldState& fs = (*state.mutable_fields())[top];
    fs.set_version(version);
    *fs.mutable_hlc() = hlc;
    fs.clear_provenance();
    fs.mutable_provenance()->set_channel(v1::CHANNEL_SYSTEM);
  }
  return state;
}

v1::RecordState ServerTombstone(const v1::RecordState& current, int64_t version,
                                const v1::HlcTimestamp& hlc) {
  v1::RecordState next = current;
  next.clear_fields();
  next.clear_data();
  google::protobuf::Message* entity =
      MutableEntity(next.mutable_data(), current.ref().entity_type());
  const google::protobuf::FieldDescriptor* idf = entity->GetDescriptor()->FindFieldByName("id");
  if (idf != nullptr) entity->GetReflection()->SetString(entity, idf, current.ref().id());
  next.set_deleted(true);
  internal::FinishChangedState(&next, &current, hlc, version);
  *next.mutable_scope() = current.scope();  // tombstones reach the same devices
  return next;
}

v1::RecordState ConflictRecordState(const v1::Conflict& conflict, int64_t version,
                                    const v1::HlcTimestamp& hlc) {
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_CONFLICT);
  ref.set_id(conflict.id());
  v1::Record data;
  *data.mutable_conflict() = conflict;
  v1::RecordState state = ServerRecordState(nullptr, ref, data, version, hlc);
  for (auto& [path, fs] : *state.mutable_fields()) fs.clear_provenance();
  return state;
}

}  // namespace crmsync::sync
