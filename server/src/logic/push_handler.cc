#include "push_handler.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/util/message_differencer.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_join.h"

#include <algorithm>
#include <chrono>

#include "crmsync/sync/merge.h"
#include "crmsync/sync/record_model.h"
#include "custom_fields.h"
#include "directive.h"
#include "entity_hooks.h"
#include "erasure.h"
#include "hashing.h"
#include "integration.h"
#include "record_merge.h"
#include "scope.h"
#include "store/store_codec.h"
#include "value_validation.h"
#include "version.h"

namespace crmsync::server {
namespace {

// Version handed to the probing merge; never stored.
constexpr int64_t kProbeVersion = INT64_MAX / 2;

v1::MutationResult Rejected(const v1::Mutation& m, v1::RejectReason reason, std::string message) {
  v1::MutationResult r;
  r.set_client_seq(m.client_seq());
  r.set_outcome(v1::MUTATION_OUTCOME_REJECTED);
  r.set_reject_reason(reason);
  r.set_message(std::move(message));
  return r;
}

// When the record's scope last changed after `base_version`: the latest
// clock reading of a change to a scope field made after that version.
int64_t ScopeChangeTimeMs(const v1::RecordState& state, int64_t base_version) {
  int64_t moved = 0;
  for (const auto& [path, field] : state.fields()) {
    if (sync::IsScopeField(state.ref().entity_type(), path) && field.version() > base_version) {
      moved = std::max(moved, field.hlc().wall_time_ms());
    }
  }
  return moved;
}

// Applies the mutations of one batch inside one write transaction.
class BatchApplier final : public PushTxn {
 public:
  BatchApplier(ChangeLog* changes, Directory* directory, WriteTx* tx, const Principal& who,
               const sync::PolicyTable& policies, const PushOptions& options, int64_t now_ms)
      : changes_(changes),
        directory_(directory),
        tx_(tx),
        who_(who),
        policies_(policies),
        options_(options),
        now_ms_(now_ms) {}

  // Newest sequence written for a side effect (coupons re-scoped around a
  // store), beyond the mutations' own change_seq.
  int64_t side_seq() const { return side_seq_; }

  // Whether results of newly applied mutations carry the record.
  void set_with_records(bool with) { with_records_ = with; }

  // Policies of the conflicts recorded so far in this batch.
  const std::vector<v1::ConflictPolicy>& conflict_policies() const { return conflict_policies_; }

  // Audit entries of this batch, recorded after commit: mutations a device
  // re-sent after a history change (Mutation.recovered), applied for the
  // first time; merges of two records.
  const std::vector<AuditRow>& audit_rows() const { return audit_rows_; }

  // The result for `m`, applying it unless it was applied before.
  absl::StatusOr<v1::MutationResult> Apply(const v1::Mutation& m) {
    const std::string hash = Sha256Hex(DeterministicBytes(m));
    auto applied = tx_->GetApplied(who_.device_id, m.client_seq());
    if (!applied.ok()) return applied.status();
    if (*applied) {
      if ((*applied)->payload_hash == hash) {
        // A retry: the original result, with the record as it is now. The
        // stored snapshot may be older than what the device has pulled since
        // (a later edit, a deletion); rebasing on it would go backwards.
        v1::MutationResult r = (*applied)->result;
        r.clear_record();
        auto now = tx_->GetRecord(m.record());
        if (!now.ok()) {
          // A malformed reference was rejected the first time: same answer.
          if (now.status().code() == absl::StatusCode::kInvalidArgument) return r;
          return now.status();
        }
        if (now->has_value() && CanRead(who_, (*now)->ref().entity_type(), (*now)->scope())) {
          *r.mutable_record() = **now;
        }
        return r;
      }
      // Not stored: the original result under this client_seq stays.
      return Rejected(m, v1::REJECT_REASON_CLIENT_SEQ_REUSED,
                      "client_seq " + std::to_string(m.client_seq()) +
                          " was already used by a different mutation from this device");
    }
    absl::StatusOr<v1::MutationResult> result;
    if (who_.role == v1::ROLE_INTEGRATION) {
      // Its writes carry its channel and precision, whatever it sent (the
      // hash above is of what it sent: a retry matches).
      v1::Mutation stamped;
      if (auto s = StampIntegrationWrite(who_, m, &stamped); !s.ok()) {
        result = Rejected(m, v1::REJECT_REASON_PERMISSION_DENIED, std::string(s.message()));
      } else {
        result = ApplyNew(stamped);
      }
    } else {
      result = ApplyNew(m);
    }
    if (!result.ok()) return result.status();
    // A definition written in this batch applies to the batch's next rows.
    if (m.record().entity_type() == v1::ENTITY_TYPE_CUSTOM_FIELD) custom_fields_.clear();
    if (m.recovered()) NoteRecovered(m, *result);
    // Kept without the record: a retry answers with the record as it is
    // then (above), and the log holds no copy of personal data to scrub.
    std::unique_ptr<v1::RecordState> held(result->has_record() ? result->release_record()
                                                               : nullptr);
    AppliedMutation record{who_.device_id, m.client_seq(), hash, *result};
    if (held) result->set_allocated_record(held.release());
    if (auto s = tx_->PutApplied(record); !s.ok()) return s;
    return result;
  }

 private:
  void NoteRecovered(const v1::Mutation& m, const v1::MutationResult& r) {
    AuditRow& row = audit_rows_.emplace_back();
    row.tenant_id = who_.tenant_id;
    row.at_ms = now_ms_;
    row.action = "history_resent";
    row.actor_user_id = who_.user_id;
    row.actor_device_id = who_.device_id;
    row.target = v1::EntityType_Name(m.record().entity_type()) + ":" + m.record().id();
    std::string outcome = v1::MutationOutcome_Name(r.outcome());
    row.detail = v1::Operation_Name(m.operation()) + " " +
                 absl::StrJoin(m.update_mask().paths(), ",") + " -> " + outcome;
    if (r.reject_reason() != v1::REJECT_REASON_UNSPECIFIED) {
      row.detail += " (" + v1::RejectReason_Name(r.reject_reason()) + ")";
    }
  }

  absl::StatusOr<v1::MutationResult> ApplyNew(const v1::Mutation& m) {
    if (sync::Status invalid = sync::ValidateMutation(m); !invalid.ok()) {
      return Rejected(m, v1::REJECT_REASON_VALIDATION, invalid.message());
    }
    if (auto invalid = ValidateValues(m); !invalid.ok()) {
      return Rejected(m, v1::REJECT_REASON_VALIDATION, std::string(invalid.message()));
    }
    auto stored = tx_->GetRecord(m.record());
    if (!stored.ok()) return stored.status();
    const v1::RecordState* current = stored->has_value() ? &**stored : nullptr;
    if (current && current->deleted() && current->has_merged_into() && !redirected_) {
      // An edit of a record merged into another (made offline before the
      // device heard of the merge) lands on the survivor.
      auto to = RedirectToSurvivor(*tx_, *current, m);
      if (!to.ok()) return to.status();
      if (*to) return ApplyRedirected(m, **to);
    }
    if (m.operation() == v1::OPERATION_MERGE) {
      AuditRow row;
      auto r = ApplyRecordMerge(*this, m, &row);
      if (r.ok() && !row.action.empty()) audit_rows_.push_back(std::move(row));
      return r;
    }
    if (current && IsErased(*current)) {
      // Whatever the delete rule: nothing brings an erased person back,
      // least of all an offline edit made before the device heard of it.
      return Rejected(m, v1::REJECT_REASON_RECORD_DELETED,
                      "the record was erased on the person's request; the edit was dropped");
    }

    if (auto s = Authorize(m, current); !s.ok()) return s;
    if (denied_) {
      v1::MutationResult r = Rejected(m, denied_reason_, denied_message_);
      if (current && CanRead(who_, current->ref().entity_type(), current->scope())) {
        *r.mutable_record() = *current;
      }
      return r;
    }

    // Custom fields: each value checked against its definition, and merged
    // with the definition's policy.
    std::optional<sync::PolicyTable> custom_policies;
    if (NeedsCustomFields(m, current)) {
      auto fields = CustomFieldsOf(m.record().entity_type());
      if (!fields.ok()) return fields.status();
      if (auto invalid = CheckCustomValues(**fields, m, current); !invalid.ok()) {
        return Rejected(m, v1::REJECT_REASON_VALIDATION, std::string(invalid.message()));
      }
      if (!(*fields)->empty()) custom_policies = WithCustomPolicies(policies_, **fields, m);
    }

    std::optional<v1::Mutation> content_only;
    std::vector<std::string> scope_paths_dropped;
    if (granted_by_grace_) {
      if (auto refusal = ContentOnly(m, &content_only, &scope_paths_dropped)) return *refusal;
    }

    auto conflict_record = ConflictSettledBy(m);
    if (!conflict_record.ok()) return conflict_record.status();
    v1::Conflict conflict;
    if (*conflict_record) conflict = (*conflict_record)->data().conflict();

    // Merge is pure: it runs with a probe version, which tells whether the
    // mutation changes anything; only then is a sequence number taken (so
    // no-op mutations leave no holes in the sequence) and stamped where the
    // probe was (sync::RestampVersion: the same result as merging with it).
    sync::MergeContext ctx;
    ctx.new_version = kProbeVersion;
    ctx.physical_ms = now_ms_;
    ctx.max_clock_skew_ms = options_.max_clock_skew_ms;
    ctx.policies = custom_policies ? &*custom_policies : &policies_;
    ctx.conflict = *conflict_record ? &conflict : nullptr;
    // The type's hooks may decide first (a redemption is arbitrated; the
    // merge then records it with the server's verdict).
    const v1::Mutation* to_merge = content_only ? &*content_only : &m;
    const std::unique_ptr<MutationHooks> hooks = HooksFor(m.record().entity_type()).ForMutation(m);
    if (hooks) {
      if (auto s = hooks->BeforeMerge(*this, m, current, &to_merge); !s.ok()) {
        if (s.code() != absl::StatusCode::kInvalidArgument) return s;
        return Rejected(m, v1::REJECT_REASON_VALIDATION, std::string(s.message()));
      }
    }

    sync::MergeResult merged = sync::Merge(current, *to_merge, ctx);
    if (hooks) {
      if (auto refusal = hooks->Check(m, current, merged); refusal) return *refusal;
    }
    int64_t seq = 0;
    if (merged.outcome != v1::MUTATION_OUTCOME_REJECTED &&
        (merged.changed || merged.metadata_changed)) {
      auto next = tx_->NextSeq();
      if (!next.ok()) return next.status();
      seq = *next;
      sync::RestampVersion(&merged, kProbeVersion, seq);
      if (!merged.changed && merged.metadata_changed) {
        // A write of the value a field already held, stamped later: the
        // newer clock must be stored for convergence, and every record
        // write takes a sequence number (devices receive the new field
        // metadata as an ordinary delta).
        merged.new_state.set_version(seq);
      }
    }

    // The record is added below, for those who may read it.
    v1::MutationResult r = sync::ToMutationResult(merged, m, /*include_audit_conflicts=*/true,
                                                  /*include_record=*/false);
    r.set_change_seq(seq);
    if (hooks) hooks->AdjustResult(merged, &r);
    if (!scope_paths_dropped.empty() && merged.outcome != v1::MUTATION_OUTCOME_REJECTED) {
      for (const std::string& p : scope_paths_dropped) r.add_server_kept_fields(p);
      r.set_outcome(v1::MUTATION_OUTCOME_MERGED);
      r.set_message(
          "the record was reassigned: your changes to its content were kept, its "
          "owner, team, visibility and stores stay as they are");
    }
    if (seq > 0) {
      if (auto s = PutMerged(current, &merged.new_state); !s.ok()) return s;
    }
    if (hooks) {
      if (auto s = hooks->AfterWrite(*this, merged); !s.ok()) return s;
    }
    if (auto s = StoreConflicts(m, merged, *conflict_record, seq, &r); !s.ok()) return s;
    const bool wrote = seq > 0;
    const v1::RecordState& after = wrote ? merged.new_state : *current_or_empty(current);
    if (with_records_ && after.has_ref() &&
        (CanRead(who_, after.ref().entity_type(), after.scope()) || granted_by_grace_)) {
      *r.mutable_record() = after;
    }
    return r;
  }

  // `m` aimed at a merged-away record, applied as `to` on its survivor.
  // When the device may not change the survivor (it belongs to someone
  // else), the edit becomes open Conflicts for the survivor's owner: never
  // lost.
  absl::StatusOr<v1::MutationResult> ApplyRedirected(const v1::Mutation& m,
                                                     const v1::Mutation& to) {
    const std::string note = "the record was merged into " +
                             sync::EntityTypeName(to.record().entity_type()) + "/" +
                             to.record().id();
    auto stored = tx_->GetRecord(to.record());
    if (!stored.ok()) return stored.status();
    if (stored->has_value() &&
        !CanWrite(who_, to.record().entity_type(), (*stored)->scope(), to.operation())) {
      return ConflictsForOwner(m, to, **stored, note);
    }
    redirected_ = true;
    auto r = ApplyNew(to);
    redirected_ = false;
    if (!r.ok()) return r;
    r->set_client_seq(m.client_seq());
    r->set_message(note + "; your edit was applied there" +
                   (r->message().empty() ? "" : " (" + r->message() + ")"));
    return r;
  }

  // One open Conflict per field of `to` on `survivor`, for its owner.
  absl::StatusOr<v1::MutationResult> ConflictsForOwner(const v1::Mutation& m,
                                                       const v1::Mutation& to,
                                                       const v1::RecordState& survivor,
                                                       const std::string& note) {
    v1::MutationResult r;
    r.set_client_seq(m.client_seq());
    r.set_outcome(v1::MUTATION_OUTCOME_CONFLICT);
    const v1::EntityType type = to.record().entity_type();
    const google::protobuf::Descriptor* d = sync::EntityDescriptor(type);
    for (const std::string& path : to.update_mask().paths()) {
      auto fp = sync::ResolveFieldPath(d, path);
      if (!fp.ok()) continue;
      v1::Conflict c;
      c.set_id(sync::ConflictId(to, path));
      *c.mutable_record() = to.record();
      c.set_field_path(path);
      c.set_policy(v1::CONFLICT_POLICY_MANUAL);
      c.set_status(v1::CONFLICT_STATUS_OPEN);
      *c.mutable_server_value() = sync::ExtractPath(survivor.data(), type, *fp);
      *c.mutable_client_value() = sync::ExtractPath(to.values(), type, *fp);
      if (to.has_base_values()) {
        *c.mutable_base_value() = sync::ExtractPath(to.base_values(), type, *fp);
      }
      *c.mutable_client_provenance() = to.provenance();
      *c.mutable_client_hlc() = to.hlc();
      c.set_detected_at_version(survivor.version());
      c.mutable_created_at()->set_seconds(now_ms_ / 1000);
      c.mutable_created_at()->set_nanos(static_cast<int32_t>(now_ms_ % 1000) * 1000000);
      c.set_owner_user_id(survivor.scope().owner_user_id());
      if (auto s = StoreConflict(c, to.hlc()); !s.ok()) return s;
      conflict_policies_.push_back(c.policy());
      r.add_conflict_ids(c.id());
    }
    r.set_message(note + ", which belongs to " + survivor.scope().owner_user_id() +
                  ": your edit waits there as a conflict for them to settle");
    return r;
  }

  // The previous owner's offline edit, let in by the reassignment grace
  // rule, keeps its content but never moves the record: its changes to
  // scope fields (owner, team, visibility, stores) are dropped. A refusal
  // when nothing would be left.
  std::optional<v1::MutationResult> ContentOnly(const v1::Mutation& m,
                                                std::optional<v1::Mutation>* content_only,
                                                std::vector<std::string>* dropped) {
    if (m.operation() == v1::OPERATION_DELETE) {
      return Rejected(m, v1::REJECT_REASON_OUT_OF_SCOPE,
                      "the record was reassigned: only its new owner may delete it");
    }
    *content_only = m;
    (*content_only)->mutable_update_mask()->clear_paths();
    for (const std::string& p : m.update_mask().paths()) {
      if (sync::IsScopeField(m.record().entity_type(), p)) {
        dropped->push_back(p);
      } else {
        (*content_only)->mutable_update_mask()->add_paths(p);
      }
    }
    if ((*content_only)->update_mask().paths().empty()) {
      return Rejected(m, v1::REJECT_REASON_OUT_OF_SCOPE,
                      "the record was reassigned: its owner, team, visibility and stores are "
                      "no longer yours to change");
    }
    return std::nullopt;
  }

  // The stored, open Conflict a conflict resolution names (nullopt for
  // other mutations, or when it names none of this record's).
  absl::StatusOr<std::optional<v1::RecordState>> ConflictSettledBy(const v1::Mutation& m) {
    if (m.operation() != v1::OPERATION_RESOLVE_CONFLICT) return std::optional<v1::RecordState>();
    v1::RecordRef ref;
    ref.set_entity_type(v1::ENTITY_TYPE_CONFLICT);
    ref.set_id(m.conflict_id());
    auto found = tx_->GetRecord(ref);
    if (!found.ok()) return found.status();
    if (found->has_value() && !(*found)->deleted() && (*found)->data().has_conflict() &&
        (*found)->data().conflict().record().id() == m.record().id()) {
      return *found;
    }
    return std::optional<v1::RecordState>();
  }

  // Stores the merge's new conflicts (whether or not the record changed: a
  // manual conflict keeps the server value and changes nothing else) and
  // the settled state of the conflict a resolution closed.
  absl::Status StoreConflicts(const v1::Mutation& m, const sync::MergeResult& merged,
                              const std::optional<v1::RecordState>& conflict_record, int64_t seq,
                              v1::MutationResult* r) {
    for (const v1::Conflict& c : merged.conflicts) {
      if (auto s = StoreConflict(c, m.hlc()); !s.ok()) return s;
      conflict_policies_.push_back(c.policy());
    }
    if (!merged.resolved_conflict || !conflict_record) return absl::OkStatus();
    auto cseq = tx_->NextSeq();
    if (!cseq.ok()) return cseq.status();
    v1::RecordState settled = sync::ConflictRecordState(*merged.resolved_conflict, *cseq, m.hlc());
    settled.set_created_version(conflict_record->created_version());
    if (auto s = tx_->PutRecord(settled, nullptr); !s.ok()) return s;
    if (seq == 0) r->set_change_seq(*cseq);
    return absl::OkStatus();
  }

  static const v1::RecordState* current_or_empty(const v1::RecordState* current) {
    static const v1::RecordState kEmpty;
    return current ? current : &kEmpty;
  }

  // PushTxn, for the entity hooks.
  WriteTx& tx() override { return *tx_; }
  const Principal& who() const override { return who_; }
  int64_t now_ms() const override { return now_ms_; }
  int64_t retention_ms() const override { return options_.retention_ms; }
  const DuplicateOptions& duplicate_options() const override { return options_.duplicates; }
  void NoteSideSeq(int64_t seq) override { side_seq_ = std::max(side_seq_, seq); }
  const sync::PolicyTable& policies() const override { return policies_; }
  absl::Status PutServerState(const v1::RecordState* current, v1::RecordState* state) override {
    NoteSideSeq(state->version());
    return PutMerged(current, state);
  }
  absl::Status ApplyServerChange(const v1::RecordState& current, const v1::Mutation& m) override {
    sync::MergeContext ctx;
    ctx.physical_ms = now_ms_;
    ctx.policies = &policies_;
    auto seq = tx_->NextSeq();
    if (!seq.ok()) return seq.status();
    ctx.new_version = *seq;
    sync::MergeResult merged = sync::Merge(&current, m, ctx);
    if (merged.outcome == v1::MUTATION_OUTCOME_REJECTED || !merged.changed) {
      return absl::InternalError("server change to " + current.ref().id() +
                                 " not applied: " + merged.message);
    }
    NoteSideSeq(*seq);
    return PutMerged(&current, &merged.new_state);
  }

  // Writes a merged record over `current` (nullptr if new): completes its
  // scope keys, with its type's hooks around the write (entity_hooks.h).
  absl::Status PutMerged(const v1::RecordState* current, v1::RecordState* state) {
    const EntityHooks& hooks = HooksFor(state->ref().entity_type());
    CompleteScopeKeys(state->data(), state->mutable_scope());
    if (auto s = hooks.BeforePut(*this, current, state); !s.ok()) return s;
    const v1::ScopeKeys* previous_scope = nullptr;
    if (current && !SameScope(current->scope(), state->scope())) {
      previous_scope = &current->scope();
    }
    if (auto s = tx_->PutRecord(*state, previous_scope); !s.ok()) return s;
    return hooks.AfterPut(*this, current, *state);
  }

  // Stores a Conflict as a record of its own (synced to the record owner).
  absl::Status StoreConflict(const v1::Conflict& conflict, const v1::HlcTimestamp& hlc) {
    auto seq = tx_->NextSeq();
    if (!seq.ok()) return seq.status();
    // Subscribers hear of it even when the record itself did not change (a
    // merged-away record's edit waiting for the survivor's owner).
    NoteSideSeq(*seq);
    return tx_->PutRecord(sync::ConflictRecordState(conflict, *seq, hlc), nullptr);
  }

  // Decides whether `who_` may apply `m`; sets denied_* when not. A non-OK
  // status is a store failure.
  absl::Status Authorize(const v1::Mutation& m, const v1::RecordState* current) {
    denied_ = false;
    granted_by_grace_ = false;
    const v1::EntityType type = m.record().entity_type();
    if (!current || current->deleted()) {
      // A create: the scope is the one the new values give the record.
      v1::ScopeKeys scope = sync::ScopeKeysOf(m.values());
      CompleteScopeKeys(m.values(), &scope);
      if (current && current->deleted()) scope = current->scope();
      if (!CanWrite(who_, type, scope, m.operation())) {
        Deny(v1::REJECT_REASON_PERMISSION_DENIED,
             "you may not create this record with this owner/team/store");
      }
      return absl::OkStatus();
    }
    if (CanWrite(who_, type, current->scope(), m.operation())) {
      // Moving a record out of one's own reach is allowed only where the
      // new scope is still writable (or for admins and managers).
      return absl::OkStatus();
    }
    // Not writable now. Was it writable at the version the device edited
    // from, and was the reassignment recent enough?
    if (m.base_version() > 0 && m.base_version() < current->version()) {
      auto then = changes_->ScopeAt(who_.tenant_id, m.record(), m.base_version());
      if (!then.ok()) return then.status();
      bool held = false;
      if (*then && CanWrite(who_, type, **then, m.operation())) {
        // Only a device that really received that version may use it.
        auto device = directory_->GetDevice(who_.tenant_id, who_.device_id);
        if (!device.ok()) return device.status();
        auto id_field = current->fields().find("id");
        bool created_here = id_field != current->fields().end() &&
                            id_field->second.provenance().device_id() == who_.device_id;
        held = created_here || (*device && (*device)->device.cursor_seq() >= m.base_version());
      }
      if (held) {
        int64_t moved_ms = ScopeChangeTimeMs(*current, m.base_version());
        if (now_ms_ - moved_ms <= options_.reassignment_grace_ms) {
          granted_by_grace_ = true;
          return absl::OkStatus();
        }
        Deny(v1::REJECT_REASON_OUT_OF_SCOPE,
             "the record was reassigned more than the grace period ago; ask its new owner");
        return absl::OkStatus();
      }
    }
    Deny(v1::REJECT_REASON_PERMISSION_DENIED, "this record is outside your scope");
    return absl::OkStatus();
  }

  void Deny(v1::RejectReason reason, std::string message) {
    denied_ = true;
    denied_reason_ = reason;
    denied_message_ = std::move(message);
  }

  ChangeLog* changes_;
  Directory* directory_;
  WriteTx* tx_;
  const Principal& who_;
  const sync::PolicyTable& policies_;
  const PushOptions& options_;
  int64_t now_ms_;
  int64_t side_seq_ = 0;
  bool with_records_ = true;
  // The custom field definitions of each entity type, read once per batch.
  absl::StatusOr<const CustomFieldSet*> CustomFieldsOf(v1::EntityType type) {
    auto it = custom_fields_.find(type);
    if (it == custom_fields_.end()) {
      auto loaded = LoadCustomFields(*tx_, type);
      if (!loaded.ok()) return loaded.status();
      it = custom_fields_.emplace(type, std::move(*loaded)).first;
    }
    return &it->second;
  }

  std::map<v1::EntityType, CustomFieldSet> custom_fields_;
  bool denied_ = false;
  bool granted_by_grace_ = false;
  // Applying an edit redirected to a survivor (no second redirect).
  bool redirected_ = false;
  std::vector<v1::ConflictPolicy> conflict_policies_;
  std::vector<AuditRow> audit_rows_;
  v1::RejectReason denied_reason_ = v1::REJECT_REASON_UNSPECIFIED;
  std::string denied_message_;
};

// The answer for a mutation at or below the device's applied floor: it was
// received before and its result is gone, so it is not applied again. The
// record as it is now goes with it (when the caller may read it), so the
// device can drop its pending edit and rebase.
absl::StatusOr<v1::MutationResult> PrunedResult(WriteTx& tx, const Principal& who,
                                                const v1::Mutation& m) {
  v1::MutationResult r =
      Rejected(m, v1::REJECT_REASON_RESULT_PRUNED,
               "client_seq " + std::to_string(m.client_seq()) +
                   " was received before and its result is no longer kept (acknowledged by "
                   "this device, or the device was silent past the retention period); it was "
                   "not applied again");
  auto now = tx.GetRecord(m.record());
  if (!now.ok()) {
    if (now.status().code() == absl::StatusCode::kInvalidArgument) return r;
    return now.status();
  }
  if (now->has_value() && CanRead(who, (*now)->ref().entity_type(), (*now)->scope())) {
    *r.mutable_record() = **now;
  }
  return r;
}

}  // namespace

v1::MutationResult RejectedResult(const v1::Mutation& m, v1::RejectReason reason,
                                  std::string message) {
  return Rejected(m, reason, std::move(message));
}

void PushHandler::RecordMetrics(const std::vector<v1::MutationResult>& results,
                                const std::vector<v1::ConflictPolicy>& conflict_policies) {
  metrics_->Increment("crmsync_pushes_total");
  metrics_->Observe("crmsync_push_batch_size", {}, static_cast<double>(results.size()));
  for (const auto& r : results) {
    std::string outcome = v1::MutationOutcome_Name(r.outcome());
    outcome = outcome.substr(std::string("MUTATION_OUTCOME_").size());
    std::transform(outcome.begin(), outcome.end(), outcome.begin(), ::tolower);
    metrics_->Increment("crmsync_mutations_total", {{"outcome", outcome}});
  }
  for (v1::ConflictPolicy p : conflict_policies) {
    metrics_->Increment("crmsync_conflicts_total", {{"policy", sync::PolicyName(p)}});
  }
}

absl::Status CheckProtocolVersion(const v1::ClientInfo& client) {
  // Stored on the device's row (Device.sdk_version): checked before anything
  // is written, so a push never commits and then fails on it.
  if (client.sdk_version().size() > 128) {
    return absl::InvalidArgumentError("client.sdk_version is longer than 128 bytes");
  }
  if (auto s = store_codec::CheckText(client.sdk_version(), "client.sdk_version"); !s.ok()) {
    return s;
  }
  unsigned v = client.protocol_version();
  if (v < kMinProtocolVersion || v > kMaxProtocolVersion) {
    return WithDirective(
        absl::FailedPreconditionError(
            "protocol version " + std::to_string(v) + " is not served here; this server speaks " +
            std::to_string(kMinProtocolVersion) + ".." + std::to_string(kMaxProtocolVersion) +
            (v < kMinProtocolVersion ? ": upgrade the crmsync client SDK" : "")),
        kDirectiveUpgradeRequired);
  }
  return absl::OkStatus();
}

PushHandler::PushHandler(ChangeLog* changes, Directory* directory, AuditTrail* audit,
                         const sync::PolicyTable* policies, Clock* clock, PushOptions options,
                         CommitListener on_commit)
    : changes_(changes),
      directory_(directory),
      audit_(audit),
      policies_(policies),
      clock_(clock),
      options_(std::move(options)),
      on_commit_(std::move(on_commit)) {}

void PushHandler::ReplacePolicies(std::shared_ptr<const sync::PolicyTable> policies) {
  absl::MutexLock lock(&policies_mu_);
  replaced_policies_ = std::move(policies);
}

std::shared_ptr<const sync::PolicyTable> PushHandler::CurrentPolicies() const {
  absl::MutexLock lock(&policies_mu_);
  if (replaced_policies_) return replaced_policies_;
  // The constructor's table is owned by the caller: alias it, owning nothing.
  return std::shared_ptr<const sync::PolicyTable>(std::shared_ptr<void>(), policies_);
}

absl::Status PushHandler::Push(const Principal& who, const v1::PushRequest& request,
                               v1::PushResponse* response) {
  return Push(who, request, response, true);
}

absl::Status PushHandler::Push(const Principal& who, const v1::PushRequest& request,
                               v1::PushResponse* response, bool with_records,
                               const std::function<void()>& committed) {
  if (auto s = CheckProtocolVersion(request.client()); !s.ok()) return s;
  if (who.device_id.empty()) {
    return absl::FailedPreconditionError("Push needs a registered device identity");
  }
  const int n = request.mutations_size();
  if (n > options_.max_batch) {
    return absl::ResourceExhaustedError("batch of " + std::to_string(n) +
                                        " mutations exceeds the limit of " +
                                        std::to_string(options_.max_batch) + "; split it");
  }
  for (int i = 0; i < n; ++i) {
    int64_t seq = request.mutations(i).client_seq();
    if (seq <= 0) {
      return absl::InvalidArgumentError("mutation " + std::to_string(i) +
                                        ": client_seq must be positive");
    }
    if (i > 0 && seq <= request.mutations(i - 1).client_seq()) {
      return absl::InvalidArgumentError("mutation " + std::to_string(i) +
                                        ": client_seq values must strictly increase in a batch");
    }
  }
  const int64_t acked = request.results_acked_through();
  if (acked < 0) {
    return absl::InvalidArgumentError("results_acked_through must be >= 0");
  }
  if (n > 0 && acked >= request.mutations(0).client_seq()) {
    return absl::InvalidArgumentError(
        "results_acked_through (" + std::to_string(acked) +
        ") must be below the batch's first client_seq (" +
        std::to_string(request.mutations(0).client_seq()) +
        "): a device cannot hold the result of a mutation it is still sending");
  }
  response->Clear();
  // An empty push carries nothing, not even its acknowledgement: the SDK
  // pushes only with a non-empty outbox, and the ack travels with the next
  // batch.
  if (n == 0) return absl::OkStatus();

  const int64_t now_ms = clock_->NowMs();
  int64_t last_seq = 0;
  std::vector<v1::MutationResult> results;
  std::vector<v1::ConflictPolicy> conflict_policies;
  std::vector<AuditRow> recovered;
  const auto started = std::chrono::steady_clock::now();
  const std::shared_ptr<const sync::PolicyTable> policies = CurrentPolicies();
  absl::Status status = changes_->Write(who.tenant_id, [&](WriteTx& tx) -> absl::Status {
    results.clear();  // the transaction may be re-run after a retryable failure
    last_seq = 0;
    BatchApplier applier(changes_, directory_, &tx, who, *policies, options_, now_ms);
    applier.set_with_records(with_records);
    // The results the device acknowledged go, in this transaction; what is
    // at or below the floor is never applied again (docs/storage.md,
    // "Bounded storage").
    auto floor = tx.RaiseAppliedFloor(who.device_id, acked);
    if (!floor.ok()) return floor.status();
    // Load what the batch will read in a few statements instead of several
    // per mutation: its records, what their hooks read, its applied log
    // (a hint: invalid refs are skipped and rejected per mutation below).
    std::vector<v1::RecordRef> refs;
    std::vector<int64_t> client_seqs;
    refs.reserve(n);
    client_seqs.reserve(n);
    for (const v1::Mutation& m : request.mutations()) {
      refs.push_back(m.record());
      if (m.client_seq() <= floor->floor) continue;
      client_seqs.push_back(m.client_seq());
      HooksFor(m.record().entity_type()).PrefetchRefs(m, &refs);
    }
    if (auto s = tx.Prefetch(refs, who.device_id, client_seqs); !s.ok()) return s;
    // And the index keys the batch's checks look up, in one read per kind
    // and set of types.
    std::vector<IndexLookup> lookups;
    for (const v1::Mutation& m : request.mutations()) {
      if (m.client_seq() <= floor->floor) continue;
      HooksFor(m.record().entity_type()).PrefetchIndexKeys(m, options_.duplicates, &lookups);
    }
    std::map<std::pair<IndexKind, std::vector<v1::EntityType>>, std::vector<int64_t>> grouped;
    for (IndexLookup& l : lookups) {
      std::vector<int64_t>& keys = grouped[{l.kind, l.types}];
      keys.insert(keys.end(), l.keys.begin(), l.keys.end());
    }
    for (const auto& [what, keys] : grouped) {
      if (auto s = tx.PrefetchIndexed(what.first, what.second, keys); !s.ok()) return s;
    }
    for (const v1::Mutation& m : request.mutations()) {
      auto r = m.client_seq() <= floor->floor ? PrunedResult(tx, who, m) : applier.Apply(m);
      if (!r.ok()) return r.status();
      r->set_client_seq(m.client_seq());  // every result names its mutation
      if (!with_records) r->clear_record();
      last_seq = std::max(last_seq, r->change_seq());
      results.push_back(std::move(*r));
    }
    conflict_policies = applier.conflict_policies();
    recovered = applier.audit_rows();
    last_seq = std::max(last_seq, applier.side_seq());
    return absl::OkStatus();
  });
  if (metrics_) {
    metrics_->Observe(
        "crmsync_store_write_seconds", {},
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  if (!status.ok()) return status;
  if (committed) committed();
  if (metrics_) RecordMetrics(results, conflict_policies);
  if (traffic_) {
    TrafficCounts outcomes;
    for (const auto& r : results) {
      switch (r.outcome()) {
        case v1::MUTATION_OUTCOME_APPLIED: ++outcomes.applied; break;
        case v1::MUTATION_OUTCOME_MERGED: ++outcomes.merged; break;
        case v1::MUTATION_OUTCOME_CONFLICT: ++outcomes.conflict; break;
        case v1::MUTATION_OUTCOME_REJECTED: ++outcomes.rejected; break;
        default: break;
      }
    }
    traffic_->AddPush(who.tenant_id, outcomes);
  }
  // What devices re-sent after a restore, for operators (crmctl audit
  // --action history_resent). The push is committed: a failure to record
  // it is logged, not returned (a retry would find the mutations applied).
  for (const AuditRow& row : recovered) {
    if (auto id = audit_->AppendAudit(row); !id.ok()) {
      spdlog::warn("cannot record re-sent mutation {} of {}: {}", row.target, row.actor_device_id,
                   std::string(id.status().message()));
    }
  }
  // Last contact, for device lists and retention (position unchanged).
  DeviceContact contact;
  contact.now_unix_ms = now_ms;
  contact.last_client_seq = request.mutations(n - 1).client_seq();  // the batch's highest
  contact.protocol_version = request.client().protocol_version();
  contact.sdk_version = request.client().sdk_version();
  if (auto s = directory_->TouchDevice(who.tenant_id, who.device_id, contact); !s.ok()) return s;
  for (auto& r : results) *response->add_results() = std::move(r);
  response->mutable_server_hlc()->set_wall_time_ms(now_ms);
  if (last_seq > 0 && on_commit_) on_commit_(who.tenant_id, last_seq);
  return absl::OkStatus();
}

}  // namespace crmsync::server
