// Turning merge results into protocol messages: MutationResult, conflict
// ids and conflict records.
#include <cstdio>

#include "merge_internal.h"

namespace crmsync::sync {

v1::MutationResult ToMutationResult(const MergeResult& result, const v1::Mutation& m,
                                    bool include_audit_conflicts) {
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
  if (result.new_state.has_ref()) *out.mutable_record() = result.new_state;
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

v1::RecordState ConflictRecordState(const v1::Conflict& conflict, int64_t version,
                                    const v1::HlcTimestamp& hlc) {
  v1::RecordState state;
  state.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_CONFLICT);
  state.mutable_ref()->set_id(conflict.id());
  *state.mutable_data()->mutable_conflict() = conflict;
  StripEmptyMessages(state.mutable_data()->mutable_conflict());
  state.set_version(version);
  state.set_created_version(version);
  *state.mutable_hlc() = hlc;
  *state.mutable_scope() = ScopeKeysOf(state.data());
  for (const std::string& path : DiffPaths(v1::Conflict::default_instance(), conflict)) {
    // One entry per top-level field is enough for change building.
    const std::string top = path.substr(0, path.find('.'));
    v1::FieldState& fs = (*state.mutable_fields())[top];
    fs.set_version(version);
    *fs.mutable_hlc() = hlc;
  }
  return state;
}

}  // namespace crmsync::sync
