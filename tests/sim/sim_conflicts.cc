// Same-field concurrent edits: found while the server applies a push (from
// the record each mutation is merged against), checked at quiescence
// against the Conflict records the server stored.
//
// A mutation edits a field concurrently when the field (or a field inside or
// around it) was last written after the mutation's base version, by another
// device, and holds a different value than the one sent (docs/conflicts.md,
// sync/README.md; a field the record's create left unset and nobody wrote
// since was never written).
// Then the field's policy either merges silently (counter, set), rejects the
// mutation (unique_claim), or decides or defers and records a Conflict (lww,
// server_wins, client_wins, provenance: auto-resolved; manual: open), whose
// id is sync::ConflictId(mutation, path). Deletes are decided per record
// (DeleteRule) and are not field edits.
#include <algorithm>
#include <map>
#include <set>

#include "crmsync/sync/field_path.h"
#include "crmsync/sync/merge.h"
#include "crmsync/sync/record_model.h"
#include "logic/scope.h"
#include "sim_world.h"

namespace crmsync::sim {

const v1::Mutation* SimWorld::PushedMutation(int64_t client_seq) const {
  if (push_request_ == nullptr) return nullptr;
  for (const v1::Mutation& m : push_request_->mutations()) {
    if (m.client_seq() == client_seq) return &m;
  }
  return nullptr;
}

void SimWorld::MutationStarting(server::WriteTx& tx, const std::string& device,
                                int64_t client_seq) {
  if (pushing_ == nullptr || device != pushing_->id) return;
  const v1::Mutation* m = PushedMutation(client_seq);
  if (m == nullptr) return;
  auto record = tx.GetRecord(m->record());
  if (!record.ok()) return;
  redirected_.erase(client_seq);
  const bool edit =
      m->operation() == v1::OPERATION_UPSERT || m->operation() == v1::OPERATION_SET_ADD ||
      m->operation() == v1::OPERATION_SET_REMOVE || m->operation() == v1::OPERATION_INCREMENT;
  // An edit of a merged-away record is merged against its survivor.
  for (int hop = 0;
       edit && hop < 16 && *record && (*record)->deleted() && (*record)->has_merged_into(); ++hop) {
    const v1::RecordRef survivor = (*record)->merged_into();
    record = tx.GetRecord(survivor);
    if (!record.ok()) return;
    redirected_[client_seq] = survivor;
  }
  merging_[client_seq] = std::move(*record);
}

void SimWorld::MutationApplied(const server::AppliedMutation& applied) {
  open_results_.push_back(applied);
  auto it = merging_.find(applied.client_seq);
  const v1::Mutation* m = PushedMutation(applied.client_seq);
  if (it == merging_.end() || m == nullptr) return;
  const std::optional<v1::RecordState>& before = it->second;
  if (!before || before->deleted() || m->operation() == v1::OPERATION_DELETE) return;
  // A redirected edit is the same edit of the survivor (the server keeps
  // its base version and drops an `id` path).
  v1::Mutation redirected;
  if (auto r = redirected_.find(applied.client_seq); r != redirected_.end()) {
    redirected = *m;
    *redirected.mutable_record() = r->second;
    auto* paths = redirected.mutable_update_mask()->mutable_paths();
    paths->erase(std::remove(paths->begin(), paths->end(), std::string("id")), paths->end());
    if (redirected.base_version() == 0) redirected.set_base_version(1);
    m = &redirected;
    if (pushing_ != nullptr && !server::CanWrite(pushing_->principal, m->record().entity_type(),
                                                 before->scope(), m->operation())) {
      // The user may not change the survivor: every field of the edit
      // waits there as an open Conflict for its owner.
      for (const std::string& path : m->update_mask().paths()) {
        SameFieldEdit edit;
        edit.record = m->record();
        edit.path = path;
        edit.policy = v1::CONFLICT_POLICY_MANUAL;
        edit.device = applied.device_id;
        edit.client_seq = applied.client_seq;
        edit.base_version = m->base_version();
        edit.other_version = before->version();
        edit.conflict_id = sync::ConflictId(*m, path);
        ++stats_["merged_away_edits_for_owner"];
        pending_edits_.push_back(std::move(edit));
      }
      return;
    }
    ++stats_["merged_away_edits_redirected"];
  }
  const v1::EntityType type = m->record().entity_type();
  const google::protobuf::Message* stored = sync::EntityOrDefault(before->data(), type);
  const google::protobuf::Message* sent = sync::EntityOrDefault(m->values(), type);
  for (const std::string& path : m->update_mask().paths()) {
    auto fp = sync::ResolveFieldPath(sync::EntityDescriptor(type), path);
    if (!fp.ok()) continue;
    // The last write of the field, or of a field inside or around it; a
    // field never written since the record's creation counts as written then.
    const v1::FieldState* last = nullptr;
    for (const auto& [key, fs] : before->fields()) {
      if ((sync::PathIsUnder(key, path) || sync::PathIsUnder(path, key)) &&
          (last == nullptr || fs.version() > last->version())) {
        last = &fs;
      }
    }
    // A field no write ever set (no metadata, default value) did not change
    // after any base.
    if (last == nullptr && sync::PathIsDefault(*stored, *fp)) continue;
    const int64_t written_at = last ? last->version() : before->created_version();
    const std::string writer = last ? last->provenance().device_id() : "";
    if (written_at <= m->base_version() || writer == applied.device_id) continue;
    if (sync::PathValuesEqual(*stored, *sent, *fp)) continue;  // equal values never conflict
    ++stats_["same_field_concurrent_edits"];
    ++stats_["same_field_policy_" + sync::PolicyName(policies_.Lookup(type, path))];
    SameFieldEdit edit;
    edit.record = m->record();
    edit.path = path;
    edit.policy = policies_.Lookup(type, path);
    edit.device = applied.device_id;
    edit.client_seq = applied.client_seq;
    edit.base_version = m->base_version();
    edit.other_version = written_at;
    edit.other_device = writer;
    const v1::MutationResult& r = applied.result;
    switch (edit.policy) {
      case v1::CONFLICT_POLICY_COUNTER:
      case v1::CONFLICT_POLICY_SET: break;  // merged silently
      case v1::CONFLICT_POLICY_UNIQUE_CLAIM:
        if (r.outcome() != v1::MUTATION_OUTCOME_REJECTED ||
            r.reject_reason() != v1::REJECT_REASON_CLAIM_TAKEN) {
          run_violations_.push_back("mutation " + edit.device + "#" +
                                    std::to_string(edit.client_seq) + " claimed " + path + " of " +
                                    m->record().id() + ", already claimed at v" +
                                    std::to_string(written_at) + ", and was not refused");
        }
        continue;
      default:
        if (r.outcome() == v1::MUTATION_OUTCOME_REJECTED) {
          // Refused as a whole (permission, validation): nothing was decided.
          ++stats_["same_field_edits_refused"];
          continue;
        }
        edit.conflict_id = sync::ConflictId(*m, path);
    }
    pending_edits_.push_back(std::move(edit));
  }
}

void SimWorld::CheckSameFieldEdits(const std::vector<server::RecordRow>& rows,
                                   const std::function<void(const std::string&)>& fail) {
  std::map<std::string, const v1::Conflict*> stored;
  for (const auto& r : rows) {
    if (r.state.ref().entity_type() == v1::ENTITY_TYPE_CONFLICT && r.state.data().has_conflict()) {
      stored[r.state.ref().id()] = &r.state.data().conflict();
    }
  }
  std::set<std::string> expected;
  for (const SameFieldEdit& e : same_field_edits_) {
    if (e.conflict_id.empty()) continue;
    expected.insert(e.conflict_id);
    auto it = stored.find(e.conflict_id);
    const std::string what =
        sync::EntityTypeName(e.record.entity_type()) + " " + e.record.id() + " field '" + e.path +
        "': " + e.device + "#" + std::to_string(e.client_seq) + " (edited from v" +
        std::to_string(e.base_version) + ") and " +
        (e.other_device.empty() ? "the record's creation" : e.other_device + "'s write") + " at v" +
        std::to_string(e.other_version) + " set it concurrently; policy " +
        sync::PolicyName(e.policy);
    if (it == stored.end()) {
      fail(what + " records a Conflict, but the server holds no Conflict " + e.conflict_id);
    } else if (it->second->record().id() != e.record.id() || it->second->field_path() != e.path) {
      fail(what + ", but Conflict " + e.conflict_id + " is about " + it->second->record().id() +
           " field '" + it->second->field_path() + "'");
    }
  }
  // And no Conflict record without a concurrent edit behind it.
  for (const auto& [id, conflict] : stored) {
    if (expected.count(id)) continue;
    fail("Conflict " + id + " (" + conflict->record().id() + " field '" + conflict->field_path() +
         "', policy " + sync::PolicyName(conflict->policy()) +
         ") was stored, but no concurrent edit of that field was pushed");
  }
}

}  // namespace crmsync::sim
