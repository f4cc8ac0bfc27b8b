// AdminService: ListStores, UpsertStore, ListCoupons, UpsertCoupon and the
// custom field definitions. Stores, coupons and definitions are synced
// records; upserts are ordinary UPSERT mutations.
#include <algorithm>
#include <set>

#include "admin_handler.h"
#include "crmsync/sync/entity_catalog.h"
#include "crmsync/sync/field_path.h"
#include "crmsync/sync/geo.h"
#include "logic/coupon_index.h"
#include "logic/custom_fields.h"
#include "store/store_codec.h"

namespace crmsync::server {

namespace codec = store_codec;
namespace pb = ::google::protobuf;

namespace {

constexpr int kDefaultPage = 100;
constexpr int kMaxPage = 1000;

int PageSize(int requested) {
  return requested <= 0 ? kDefaultPage : std::min(requested, kMaxPage);
}

absl::StatusOr<int64_t> FeedToken(const std::string& token) {
  if (token.empty()) return int64_t{0};
  if (token.size() > 18 || token.find_first_not_of("0123456789") != std::string::npos) {
    return absl::InvalidArgumentError("malformed page_token");
  }
  return static_cast<int64_t>(std::stoll(token));
}

// Top-level fields set in `m` (proto3 presence).
std::set<std::string> SetFields(const pb::Message& m) {
  std::vector<const pb::FieldDescriptor*> fields;
  m.GetReflection()->ListFields(m, &fields);
  std::set<std::string> names;
  for (const auto* f : fields) names.insert(f->name());
  return names;
}

// The UPSERT that makes the stored entity equal `wanted` (a replace): on a
// create every set field; on an update the fields `wanted` sets plus those
// the stored entity sets and `wanted` does not (cleared), never `id` or the
// `server_owned` fields, and never a oneof member `wanted` replaces by
// another member.
v1::Mutation ReplaceMutation(v1::EntityType type, const std::string& id, const v1::Record& values,
                             const pb::Message& wanted, const v1::RecordState* current,
                             const pb::Message* stored, const std::set<std::string>& server_owned) {
  v1::Mutation m;
  m.mutable_record()->set_entity_type(type);
  m.mutable_record()->set_id(id);
  m.set_operation(v1::OPERATION_UPSERT);
  *m.mutable_values() = values;
  const bool create = current == nullptr || current->deleted();
  std::set<std::string> paths = SetFields(wanted);
  if (!create) {
    m.set_base_version(current->version());
    const pb::Descriptor* d = wanted.GetDescriptor();
    for (const std::string& name : SetFields(*stored)) {
      const pb::FieldDescriptor* f = d->FindFieldByName(name);
      const pb::OneofDescriptor* oneof = f->real_containing_oneof();
      if (oneof && wanted.GetReflection()->HasOneof(wanted, oneof)) continue;
      paths.insert(name);
    }
    paths.erase("id");
  }
  for (const std::string& owned : server_owned) paths.erase(owned);
  for (const std::string& p : paths) m.mutable_update_mask()->add_paths(p);
  return m;
}

// INVALID_ARGUMENT for a rejected upsert, FAILED_PRECONDITION otherwise.
absl::Status UpsertRejected(const v1::MutationResult& r, const std::string& what) {
  const std::string why = what + " not saved: " + r.message();
  if (r.reject_reason() == v1::REJECT_REASON_VALIDATION) return absl::InvalidArgumentError(why);
  if (r.reject_reason() == v1::REJECT_REASON_PERMISSION_DENIED) {
    return absl::PermissionDeniedError(why);
  }
  return absl::FailedPreconditionError(why);
}

}  // namespace

absl::Status AdminHandler::ListStores(const Principal& who, const v1::ListStoresRequest& req,
                                      v1::ListStoresResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  auto after = FeedToken(req.page_token());
  if (!after.ok()) return after.status();
  const int page = PageSize(req.page_size());
  int64_t last = 0;
  bool more = false;
  auto end = ScanRecords(&store_->changes(), who.tenant_id, v1::ENTITY_TYPE_STORE, *after,
                         [&](const v1::RecordState& state) {
                           if (resp->stores_size() == page) {
                             more = true;
                             return false;
                           }
                           *resp->add_stores() = state.data().store();
                           last = state.version();
                           return true;
                         });
  if (!end.ok()) return end.status();
  if (more) resp->set_next_page_token(std::to_string(last));
  return absl::OkStatus();
}

absl::Status AdminHandler::UpsertStore(const Principal& who, const AdminContext& ctx,
                                       const v1::UpsertStoreRequest& req,
                                       v1::UpsertStoreResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  const v1::Store& wanted = req.store();
  if (auto s = codec::CheckId(wanted.id(), "store.id"); !s.ok()) return s;
  if (wanted.name().empty()) return absl::InvalidArgumentError("store.name is required");
  if (wanted.has_location() && !sync::geo::ValidPoint(wanted.location())) {
    return absl::InvalidArgumentError("store.location is not a valid point");
  }
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_STORE);
  ref.set_id(wanted.id());
  auto current = store_->changes().GetRecord(who.tenant_id, ref);
  if (!current.ok()) return current.status();
  const v1::RecordState* cur = *current ? &**current : nullptr;
  v1::Record values;
  *values.mutable_store() = wanted;
  auto result =
      writer_.Apply(who, ReplaceMutation(v1::ENTITY_TYPE_STORE, wanted.id(), values, wanted, cur,
                                         cur ? &cur->data().store() : nullptr, {}));
  if (!result.ok()) return result.status();
  if (result->outcome() == v1::MUTATION_OUTCOME_REJECTED) {
    return UpsertRejected(*result, "store " + wanted.id());
  }
  auto saved = store_->changes().GetRecord(who.tenant_id, ref);
  if (!saved.ok()) return saved.status();
  if (!*saved) return absl::InternalError("store vanished after its upsert");
  if (auto s = audit_->Record(auth::AuditEvent(who.tenant_id, "store_upserted", who.user_id,
                                               kAdminDeviceId, "store:" + wanted.id(),
                                               cur ? "updated" : "created", ctx.peer));
      !s.ok()) {
    return s;
  }
  *resp->mutable_store() = (*saved)->data().store();
  return absl::OkStatus();
}

absl::Status AdminHandler::ListCoupons(const Principal& who, const v1::ListCouponsRequest& req,
                                       v1::ListCouponsResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  auto after = FeedToken(req.page_token());
  if (!after.ok()) return after.status();
  if (req.has_at() && !sync::geo::ValidPoint(req.at())) {
    return absl::InvalidArgumentError("`at` is not a valid point");
  }
  if (!(req.within_km() >= 0) || req.within_km() > 20000) {
    return absl::InvalidArgumentError("within_km must be between 0 and 20000");
  }
  const int64_t now_ms = clock_->NowMs();
  const int page = PageSize(req.page_size());
  int64_t last = 0;
  bool more = false;
  auto take = [&](const v1::RecordState& state) {
    if (resp->coupons_size() == page) {
      more = true;
      return false;
    }
    *resp->add_coupons() = state.data().coupon();
    last = state.version();
    return true;
  };
  if (req.has_at()) {
    // The cell index narrows the candidates; the exact test decides.
    auto near = FindCouponsNear(&store_->changes(), who.tenant_id, req.at(),
                                req.within_km() * 1000.0, !req.include_inactive(), now_ms);
    if (!near.ok()) return near.status();
    for (const v1::RecordState& state : *near) {
      if (state.version() <= *after) continue;
      if (!take(state)) break;
    }
  } else {
    auto end = ScanRecords(&store_->changes(), who.tenant_id, v1::ENTITY_TYPE_COUPON, *after,
                           [&](const v1::RecordState& state) {
                             if (!req.include_inactive() &&
                                 !sync::geo::CouponRedeemableAt(state.data().coupon(), now_ms)) {
                               return true;
                             }
                             return take(state);
                           });
    if (!end.ok()) return end.status();
  }
  if (more) resp->set_next_page_token(std::to_string(last));
  return absl::OkStatus();
}

absl::Status AdminHandler::UpsertCoupon(const Principal& who, const AdminContext& ctx,
                                        const v1::UpsertCouponRequest& req,
                                        v1::UpsertCouponResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  const v1::Coupon& wanted = req.coupon();
  if (auto s = codec::CheckId(wanted.id(), "coupon.id"); !s.ok()) return s;
  if (wanted.code().empty()) return absl::InvalidArgumentError("coupon.code is required");
  if (wanted.has_valid_from() && wanted.has_valid_until() &&
      codec::ToUnixMs(wanted.valid_until()) < codec::ToUnixMs(wanted.valid_from())) {
    return absl::InvalidArgumentError("coupon.valid_until is before valid_from");
  }
  if (wanted.max_redemptions_total() < 0 || wanted.max_redemptions_per_customer() < 0) {
    return absl::InvalidArgumentError("redemption limits cannot be negative");
  }
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_COUPON);
  ref.set_id(wanted.id());
  auto current = store_->changes().GetRecord(who.tenant_id, ref);
  if (!current.ok()) return current.status();
  const v1::RecordState* cur = *current ? &**current : nullptr;
  v1::Record values;
  *values.mutable_coupon() = wanted;
  values.mutable_coupon()->clear_redemption_count();  // counted by the server
  auto result = writer_.Apply(
      who, ReplaceMutation(v1::ENTITY_TYPE_COUPON, wanted.id(), values, values.coupon(), cur,
                           cur ? &cur->data().coupon() : nullptr, {"redemption_count"}));
  if (!result.ok()) return result.status();
  if (result->outcome() == v1::MUTATION_OUTCOME_REJECTED) {
    return UpsertRejected(*result, "coupon " + wanted.id());
  }
  auto saved = store_->changes().GetRecord(who.tenant_id, ref);
  if (!saved.ok()) return saved.status();
  if (!*saved) return absl::InternalError("coupon vanished after its upsert");
  if (auto s = audit_->Record(auth::AuditEvent(who.tenant_id, "coupon_upserted", who.user_id,
                                               kAdminDeviceId, "coupon:" + wanted.id(),
                                               cur ? "updated" : "created", ctx.peer));
      !s.ok()) {
    return s;
  }
  *resp->mutable_coupon() = (*saved)->data().coupon();
  return absl::OkStatus();
}

absl::Status AdminHandler::DefineCustomField(const Principal& who, const AdminContext& ctx,
                                             const v1::DefineCustomFieldRequest& req,
                                             v1::DefineCustomFieldResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  v1::CustomField wanted = req.field();
  if (wanted.id().empty()) wanted.set_id(CustomFieldId(wanted.entity_type(), wanted.name()));
  wanted.set_removed(false);
  if (auto s = codec::CheckId(wanted.id(), "field.id"); !s.ok()) return s;
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_CUSTOM_FIELD);
  ref.set_id(wanted.id());
  auto current = store_->changes().GetRecord(who.tenant_id, ref);
  if (!current.ok()) return current.status();
  const v1::RecordState* cur = *current && !(*current)->deleted() ? &**current : nullptr;
  const v1::CustomField* previous = cur ? &cur->data().custom_field() : nullptr;
  // Checked here too, so that a bad definition is INVALID_ARGUMENT with
  // nothing written (the push path refuses it the same way).
  if (auto s = ValidateCustomField(wanted, previous); !s.ok()) return s;
  v1::Record values;
  *values.mutable_custom_field() = wanted;
  auto result = writer_.Apply(who, ReplaceMutation(v1::ENTITY_TYPE_CUSTOM_FIELD, wanted.id(),
                                                   values, wanted, cur, previous, {}));
  if (!result.ok()) return result.status();
  if (result->outcome() == v1::MUTATION_OUTCOME_REJECTED) {
    return UpsertRejected(*result, "custom field " + wanted.id());
  }
  auto saved = store_->changes().GetRecord(who.tenant_id, ref);
  if (!saved.ok()) return saved.status();
  if (!*saved) return absl::InternalError("custom field vanished after its upsert");
  const bool restored = previous != nullptr && previous->removed();
  const bool created = previous == nullptr || restored;
  std::string note;
  if (previous == nullptr) {
    note = wanted.id() + " added; devices receive it with their next sync";
  } else if (restored) {
    note = wanted.id() + " defined again: the values stored before its removal are shown again";
  } else {
    note = wanted.id() +
           " changed; values stored before keep their value even where the new rules would "
           "refuse it: the rules apply to the next writes";
  }
  if (auto s = audit_->Record(auth::AuditEvent(who.tenant_id, "custom_field_defined", who.user_id,
                                               kAdminDeviceId, "custom_field:" + wanted.id(),
                                               restored  ? "defined again"
                                               : created ? "created"
                                                         : "updated",
                                               ctx.peer));
      !s.ok()) {
    return s;
  }
  *resp->mutable_field() = (*saved)->data().custom_field();
  resp->set_created(created);
  resp->set_note(note);
  return absl::OkStatus();
}

absl::Status AdminHandler::RemoveCustomField(const Principal& who, const AdminContext& ctx,
                                             const v1::RemoveCustomFieldRequest& req,
                                             v1::RemoveCustomFieldResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  if (!HasCustomFields(req.entity_type())) {
    return absl::InvalidArgumentError(
        "entity_type must be one with custom fields (account, "
        "contact, lead, opportunity, activity, calendar_event)");
  }
  if (!sync::IsValidMapKey(req.name())) {
    return absl::InvalidArgumentError("'" + req.name() + "' is not a custom field name");
  }
  const std::string id = CustomFieldId(req.entity_type(), req.name());
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_CUSTOM_FIELD);
  ref.set_id(id);
  auto current = store_->changes().GetRecord(who.tenant_id, ref);
  if (!current.ok()) return current.status();
  if (!*current || (*current)->deleted()) {
    return absl::NotFoundError("no custom field " + id + " (crmctl fields list)");
  }
  const v1::RecordState& cur = **current;
  if (cur.data().custom_field().removed()) {
    *resp->mutable_field() = cur.data().custom_field();
    resp->set_note(id + " was already removed; nothing changed");
    return absl::OkStatus();
  }
  v1::Mutation m;
  *m.mutable_record() = ref;
  m.set_operation(v1::OPERATION_UPSERT);
  m.set_base_version(cur.version());
  m.mutable_values()->mutable_custom_field()->set_removed(true);
  m.mutable_update_mask()->add_paths("removed");
  auto result = writer_.Apply(who, m);
  if (!result.ok()) return result.status();
  if (result->outcome() == v1::MUTATION_OUTCOME_REJECTED) {
    return UpsertRejected(*result, "custom field " + id);
  }
  auto saved = store_->changes().GetRecord(who.tenant_id, ref);
  if (!saved.ok()) return saved.status();
  if (!*saved) return absl::InternalError("custom field vanished after its removal");
  if (auto s = audit_->Record(auth::AuditEvent(who.tenant_id, "custom_field_removed", who.user_id,
                                               kAdminDeviceId, "custom_field:" + id, "removed",
                                               ctx.peer));
      !s.ok()) {
    return s;
  }
  *resp->mutable_field() = (*saved)->data().custom_field();
  resp->set_note(id +
                 " removed: values stored in records are kept, not deleted, but hidden from apps, "
                 "and new values are refused; defining the field again shows them again");
  return absl::OkStatus();
}

absl::Status AdminHandler::ListCustomFields(const Principal& who,
                                            const v1::ListCustomFieldsRequest& req,
                                            v1::ListCustomFieldsResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  if (req.entity_type() != v1::ENTITY_TYPE_UNSPECIFIED && !HasCustomFields(req.entity_type())) {
    return absl::InvalidArgumentError(
        "entity_type must be one with custom fields (account, "
        "contact, lead, opportunity, activity, calendar_event)");
  }
  for (const sync::EntitySpec& spec : sync::EntityCatalog::Default().entities()) {
    if (!HasCustomFields(spec.type())) continue;
    if (req.entity_type() != v1::ENTITY_TYPE_UNSPECIFIED && req.entity_type() != spec.type()) {
      continue;
    }
    auto fields = LoadCustomFields(store_->changes(), who.tenant_id, spec.type());
    if (!fields.ok()) return fields.status();
    for (const auto& [name, field] : *fields) {
      if (field.removed() && !req.include_removed()) continue;
      *resp->add_fields() = field;
    }
  }
  return absl::OkStatus();
}

}  // namespace crmsync::server
