// AdminService: ListConflicts, GetConflict, ResolveConflict; ListDuplicates,
// GetDuplicates, MergeRecords.
#include "admin_handler.h"

#include <algorithm>
#include <functional>
#include <string>

#include "crmsync/sync/record_model.h"
#include "logic/duplicates.h"
#include "logic/identity_keys.h"
#include "store/store_codec.h"

namespace crmsync::server {

namespace codec = store_codec;

namespace {

constexpr int kDefaultPage = 100;
constexpr int kMaxPage = 1000;

absl::StatusOr<int64_t> FeedToken(const std::string& token) {
  if (token.empty()) return int64_t{0};
  if (token.size() > 18 || token.find_first_not_of("0123456789") != std::string::npos) {
    return absl::InvalidArgumentError("malformed page_token");
  }
  return static_cast<int64_t>(std::stoll(token));
}

v1::RecordRef ConflictRef(const std::string& id) {
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_CONFLICT);
  ref.set_id(id);
  return ref;
}

bool Matches(const v1::Conflict& c, const v1::ListConflictsRequest& req) {
  const v1::ConflictStatus wanted =
      req.status() == v1::CONFLICT_STATUS_UNSPECIFIED ? v1::CONFLICT_STATUS_OPEN : req.status();
  if (c.status() != wanted) return false;
  if (!req.owner_user_id().empty() && c.owner_user_id() != req.owner_user_id()) return false;
  if (req.has_record()) {
    if (req.record().entity_type() != v1::ENTITY_TYPE_UNSPECIFIED &&
        req.record().entity_type() != c.record().entity_type()) {
      return false;
    }
    if (!req.record().id().empty() && req.record().id() != c.record().id()) return false;
  }
  return true;
}

// The conflict stored under `id`, NOT_FOUND if there is none (or it was
// erased with its record).
absl::StatusOr<v1::Conflict> LoadConflict(Store* store, const std::string& tenant_id,
                                          const std::string& id) {
  auto found = store->changes().GetRecord(tenant_id, ConflictRef(id));
  if (!found.ok()) return found.status();
  if (!*found || (*found)->deleted() || !(*found)->data().has_conflict()) {
    return absl::NotFoundError("no conflict " + id + " in this tenant");
  }
  return (*found)->data().conflict();
}

// One page of the live records of `type` that `matches` accepts, from
// `page_token` (a feed position) in feed order: `add` takes each;
// `*next_token` is set when more may follow.
absl::Status PageOfType(ChangeLog* changes, const std::string& tenant_id, v1::EntityType type,
                        const std::string& page_token, int32_t page_size,
                        const std::function<bool(const v1::RecordState&)>& matches,
                        const std::function<void(const v1::RecordState&)>& add,
                        std::string* next_token) {
  auto after = FeedToken(page_token);
  if (!after.ok()) return after.status();
  const int page = page_size <= 0 ? kDefaultPage : std::min(page_size, kMaxPage);
  int taken = 0;
  int64_t last_position = 0;
  bool more = false;
  auto end = ScanRecords(changes, tenant_id, type, *after, [&](const v1::RecordState& state) {
    if (!matches(state)) return true;
    if (taken == page) {
      more = true;  // one past the page: stop
      return false;
    }
    add(state);
    ++taken;
    last_position = state.version();
    return true;
  });
  if (!end.ok()) return end.status();
  if (more) *next_token = std::to_string(last_position);
  return absl::OkStatus();
}

}  // namespace

absl::Status AdminHandler::ListConflicts(const Principal& who, const v1::ListConflictsRequest& req,
                                         v1::ListConflictsResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  return PageOfType(
      &store_->changes(), who.tenant_id, v1::ENTITY_TYPE_CONFLICT, req.page_token(),
      req.page_size(),
      [&](const v1::RecordState& state) { return Matches(state.data().conflict(), req); },
      [&](const v1::RecordState& state) { *resp->add_conflicts() = state.data().conflict(); },
      resp->mutable_next_page_token());
}

absl::Status AdminHandler::GetConflict(const Principal& who, const v1::GetConflictRequest& req,
                                       v1::GetConflictResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  if (auto s = codec::CheckId(req.conflict_id(), "conflict_id"); !s.ok()) return s;
  auto conflict = LoadConflict(store_, who.tenant_id, req.conflict_id());
  if (!conflict.ok()) return conflict.status();
  auto record = store_->changes().GetRecord(who.tenant_id, conflict->record());
  if (!record.ok()) return record.status();
  *resp->mutable_conflict() = std::move(*conflict);
  if (*record) *resp->mutable_record() = std::move(**record);
  return absl::OkStatus();
}

absl::Status AdminHandler::ResolveConflict(const Principal& who, const AdminContext& ctx,
                                           const v1::ResolveConflictRequest& req,
                                           v1::ResolveConflictResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  if (auto s = codec::CheckId(req.conflict_id(), "conflict_id"); !s.ok()) return s;
  if (req.resolution() == v1::RESOLUTION_UNSPECIFIED || !v1::Resolution_IsValid(req.resolution())) {
    return absl::InvalidArgumentError("resolution must be KEEP_SERVER, TAKE_CLIENT or CUSTOM");
  }
  auto conflict = LoadConflict(store_, who.tenant_id, req.conflict_id());
  if (!conflict.ok()) return conflict.status();
  if (conflict->status() != v1::CONFLICT_STATUS_OPEN) {
    return absl::FailedPreconditionError("conflict " + req.conflict_id() + " is already closed (" +
                                         v1::ConflictStatus_Name(conflict->status()) + ")");
  }
  auto record = store_->changes().GetRecord(who.tenant_id, conflict->record());
  if (!record.ok()) return record.status();
  if (!*record) return absl::FailedPreconditionError("the conflicted record no longer exists");

  v1::Mutation m;
  *m.mutable_record() = conflict->record();
  m.set_operation(v1::OPERATION_RESOLVE_CONFLICT);
  m.set_conflict_id(conflict->id());
  m.set_base_version((*record)->version());
  std::string how = "keep_server";
  if (req.resolution() != v1::RESOLUTION_KEEP_SERVER) {
    m.mutable_update_mask()->add_paths(conflict->field_path());
    if (req.resolution() == v1::RESOLUTION_TAKE_CLIENT) {
      *m.mutable_values() = conflict->client_value();
      how = "take_client";
    } else {
      if (req.value().entity_case() == v1::Record::ENTITY_NOT_SET) {
        return absl::InvalidArgumentError("RESOLUTION_CUSTOM needs `value`");
      }
      *m.mutable_values() = req.value();
      how = "custom";
    }
  }
  auto result = writer_.Apply(who, std::move(m));
  if (!result.ok()) return result.status();
  if (result->outcome() == v1::MUTATION_OUTCOME_REJECTED) {
    const std::string why = "conflict " + req.conflict_id() + " not resolved: " + result->message();
    switch (result->reject_reason()) {
      case v1::REJECT_REASON_VALIDATION: return absl::InvalidArgumentError(why);
      case v1::REJECT_REASON_PERMISSION_DENIED:
      case v1::REJECT_REASON_OUT_OF_SCOPE: return absl::PermissionDeniedError(why);
      default:  // closed meanwhile, record deleted
        return absl::FailedPreconditionError(why);
    }
  }
  auto settled = LoadConflict(store_, who.tenant_id, req.conflict_id());
  if (!settled.ok()) return settled.status();
  auto after = store_->changes().GetRecord(who.tenant_id, settled->record());
  if (!after.ok()) return after.status();
  const v1::RecordRef& ref = settled->record();
  if (auto s =
          audit_->Record(auth::AuditEvent(who.tenant_id, "conflict_resolved", who.user_id,
                                          kAdminDeviceId, "conflict:" + req.conflict_id(),
                                          how + " on " + v1::EntityType_Name(ref.entity_type()) +
                                              ":" + ref.id() + " " + settled->field_path(),
                                          ctx.peer));
      !s.ok()) {
    return s;
  }
  *resp->mutable_conflict() = std::move(*settled);
  if (*after) *resp->mutable_record() = std::move(**after);
  return absl::OkStatus();
}

absl::Status AdminHandler::ListDuplicates(const Principal& who,
                                          const v1::ListDuplicatesRequest& req,
                                          v1::ListDuplicatesResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  if (req.entity_type() != v1::ENTITY_TYPE_UNSPECIFIED &&
      !identity::HasIdentity(req.entity_type())) {
    return absl::InvalidArgumentError(
        "entity_type: only leads, contacts and accounts are "
        "checked for duplicates");
  }
  return PageOfType(
      &store_->changes(), who.tenant_id, v1::ENTITY_TYPE_POSSIBLE_DUPLICATE, req.page_token(),
      req.page_size(),
      [&](const v1::RecordState& state) {
        const v1::PossibleDuplicate& d = state.data().possible_duplicate();
        return !d.candidates().empty() &&
               (req.entity_type() == v1::ENTITY_TYPE_UNSPECIFIED ||
                d.record().entity_type() == req.entity_type()) &&
               (req.owner_user_id().empty() || d.owner_user_id() == req.owner_user_id());
      },
      [&](const v1::RecordState& state) {
        *resp->add_duplicates() = state.data().possible_duplicate();
      },
      resp->mutable_next_page_token());
}

absl::Status AdminHandler::GetDuplicates(const Principal& who, const v1::GetDuplicatesRequest& req,
                                         v1::GetDuplicatesResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  if (!identity::HasIdentity(req.record().entity_type())) {
    return absl::InvalidArgumentError(
        "record.entity_type: only leads, contacts and accounts are checked for duplicates");
  }
  if (auto s = codec::CheckId(req.record().id(), "record.id"); !s.ok()) return s;
  auto record = store_->changes().GetRecord(who.tenant_id, req.record());
  if (!record.ok()) return record.status();
  if (!*record || (*record)->deleted()) {
    return absl::NotFoundError("no " + sync::EntityTypeName(req.record().entity_type()) + " " +
                               req.record().id() + " in this tenant");
  }
  *resp->mutable_record() = std::move(**record);
  auto flag = store_->changes().GetRecord(who.tenant_id, PossibleDuplicateRef(req.record()));
  if (!flag.ok()) return flag.status();
  if (!*flag || (*flag)->deleted() || !(*flag)->data().has_possible_duplicate() ||
      (*flag)->data().possible_duplicate().record().id() != req.record().id()) {
    return absl::OkStatus();
  }
  *resp->mutable_duplicate() = (*flag)->data().possible_duplicate();
  for (const v1::DuplicateCandidate& c : resp->duplicate().candidates()) {
    auto other = store_->changes().GetRecord(who.tenant_id, c.record());
    if (!other.ok()) return other.status();
    if (*other) *resp->add_candidates() = std::move(**other);
  }
  return absl::OkStatus();
}

absl::Status AdminHandler::MergeRecords(const Principal& who, const v1::MergeRecordsRequest& req,
                                        v1::MergeRecordsResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  if (!identity::HasIdentity(req.survivor().entity_type())) {
    return absl::InvalidArgumentError(
        "survivor.entity_type: only leads, contacts and accounts merge");
  }
  if (auto s = codec::CheckId(req.survivor().id(), "survivor.id"); !s.ok()) return s;
  if (auto s = codec::CheckId(req.merged_record_id(), "merged_record_id"); !s.ok()) return s;
  v1::Mutation m;
  *m.mutable_record() = req.survivor();
  m.set_operation(v1::OPERATION_MERGE);
  v1::MergeSpec* spec = m.mutable_merge();
  spec->set_merged_record_id(req.merged_record_id());
  *spec->mutable_take_from_merged() = req.take_from_merged();
  *spec->mutable_keep_survivor() = req.keep_survivor();
  if (sync::Status bad = sync::ValidateMutation(m); !bad.ok()) {
    // The message names the mutation's client_seq, which the caller never
    // saw: keep what follows it.
    std::string why = bad.message();
    const size_t colon = why.find(": ");
    if (colon != std::string::npos) why = why.substr(colon + 2);
    return absl::InvalidArgumentError(why);
  }
  auto result = writer_.Apply(who, std::move(m));
  if (!result.ok()) return result.status();
  if (result->outcome() == v1::MUTATION_OUTCOME_REJECTED) {
    const std::string why = "not merged: " + result->message();
    switch (result->reject_reason()) {
      case v1::REJECT_REASON_VALIDATION: return absl::InvalidArgumentError(why);
      case v1::REJECT_REASON_NOT_FOUND: return absl::NotFoundError(why);
      case v1::REJECT_REASON_PERMISSION_DENIED:
      case v1::REJECT_REASON_OUT_OF_SCOPE: return absl::PermissionDeniedError(why);
      default: return absl::FailedPreconditionError(why);  // deleted, merged elsewhere
    }
  }
  *resp->mutable_result() = std::move(*result);
  return absl::OkStatus();
}

}  // namespace crmsync::server
