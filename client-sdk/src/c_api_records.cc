// C API: writes, reads, queries and notices.
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "c_api_internal.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

using namespace crmsync::client;  // NOLINT: C API implementation file
using capi::Fail;
using capi::Guard;
using capi::Ok;

namespace crmsync::client::capi {
namespace {

absl::StatusOr<v1::Record> ParseRecord(const crmsync_client* client, const void* data,
                                       size_t size) {
  v1::Record record;
  if (absl::Status s = Decode(client, data, size, &record); !s.ok()) return s;
  return record;
}

v1::RecordRef Ref(int32_t type, const char* id) {
  v1::RecordRef ref;
  ref.set_entity_type(static_cast<v1::EntityType>(type));
  ref.set_id(Str(id));
  return ref;
}

absl::Status CheckType(int32_t type, bool allow_any) {
  if ((allow_any && type == 0) ||
      (v1::EntityType_IsValid(type) && type != v1::ENTITY_TYPE_UNSPECIFIED)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError("entity_type " + std::to_string(type) +
                                    " is not a crmsync.v1.EntityType");
}

// "a, b,c" -> {"a", "b", "c"}.
google::protobuf::FieldMask MaskOf(const char* fields) {
  google::protobuf::FieldMask mask;
  for (absl::string_view p : absl::StrSplit(Str(fields), ',', absl::SkipWhitespace())) {
    p = absl::StripAsciiWhitespace(p);
    mask.add_paths(std::string(p));
  }
  return mask;
}

// The fields a JSON record names: the keys of its entity object but the
// id, as field paths ({"opportunity":{"id":"o-1","amount":{...}}} ->
// "amount"), and each key of its custom fields ("custom.region").
absl::StatusOr<google::protobuf::FieldMask> JsonFieldMask(const char* data, size_t size) {
  const std::string json = size == 0 ? std::string(data) : std::string(data, size);
  google::protobuf::Struct doc;
  if (!google::protobuf::util::JsonStringToMessage(json, &doc).ok()) {
    return absl::InvalidArgumentError("not a crmsync.v1.Record in JSON");
  }
  google::protobuf::FieldMask mask;
  const google::protobuf::Descriptor* record = v1::Record::descriptor();
  for (const auto& [entity_key, entity_value] : doc.fields()) {
    const google::protobuf::FieldDescriptor* entity = nullptr;
    for (int i = 0; i < record->field_count() && entity == nullptr; ++i) {
      const google::protobuf::FieldDescriptor* f = record->field(i);
      if (f->json_name() == entity_key || f->name() == entity_key) entity = f;
    }
    if (entity == nullptr || entity->message_type() == nullptr) continue;
    const google::protobuf::Descriptor* type = entity->message_type();
    for (const auto& [key, value] : entity_value.struct_value().fields()) {
      for (int i = 0; i < type->field_count(); ++i) {
        const google::protobuf::FieldDescriptor* f = type->field(i);
        if (f->json_name() == key || f->name() == key) {
          if (f->is_map()) {
            // Custom fields: each entry named is a field of its own
            // ({"custom":{"region":{...}}} -> "custom.region"; {} clears).
            for (const auto& [name, unused] : value.struct_value().fields()) {
              mask.add_paths(f->name() + "." + name);
            }
          } else if (f->name() != "id") {
            mask.add_paths(f->name());  // the id names the record
          }
          break;
        }
      }
    }
  }
  return mask;
}

}  // namespace
}  // namespace crmsync::client::capi

extern "C" {

crmsync_status crmsync_create(crmsync_client* client, const void* record, size_t size,
                              crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    auto r = capi::ParseRecord(client, record, size);
    if (!r.ok()) return Fail(r.status());
    return capi::FillState(client, client->db->Create(*r), out);
  });
}

crmsync_status crmsync_update(crmsync_client* client, const void* record, size_t size,
                              crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    auto r = capi::ParseRecord(client, record, size);
    if (!r.ok()) return Fail(r.status());
    if (client->format == CRMSYNC_FORMAT_JSON) {
      // JSON says which fields it holds: those, and only those, change.
      auto mask = capi::JsonFieldMask(static_cast<const char*>(record), size);
      if (!mask.ok()) return Fail(mask.status());
      return capi::FillState(client, client->db->Update(*r, &*mask), out);
    }
    return capi::FillState(client, client->db->Update(*r), out);
  });
}

crmsync_status crmsync_delete(crmsync_client* client, int32_t entity_type, const char* id) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    if (absl::Status s = capi::CheckType(entity_type, false); !s.ok()) return Fail(s);
    return capi::FillState(client, client->db->Delete(capi::Ref(entity_type, id)), nullptr);
  });
}

crmsync_status crmsync_apply(crmsync_client* client, const crmsync_edit* edit,
                             crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    if (edit == nullptr) return Fail(absl::InvalidArgumentError("edit is NULL"));
    if (!v1::Operation_IsValid(edit->operation) || edit->operation == v1::OPERATION_UNSPECIFIED) {
      return Fail(absl::InvalidArgumentError("edit.operation " + std::to_string(edit->operation) +
                                             " is not a crmsync_operation"));
    }
    if (edit->operation == v1::OPERATION_MERGE) {
      return Fail(absl::InvalidArgumentError("merges go through crmsync_merge"));
    }
    if (absl::Status s = capi::CheckType(edit->entity_type, false); !s.ok()) return Fail(s);
    if (edit->record_id == nullptr || edit->record_id[0] == '\0') {
      return Fail(absl::InvalidArgumentError("edit.record_id is required"));
    }
    LocalEdit e;
    e.ref = capi::Ref(edit->entity_type, edit->record_id);
    e.operation = static_cast<v1::Operation>(edit->operation);
    if (edit->record != nullptr) {
      auto r = capi::ParseRecord(client, edit->record, edit->record_size);
      if (!r.ok()) return Fail(r.status());
      e.values = *std::move(r);
    } else if (e.operation != v1::OPERATION_DELETE &&
               e.operation != v1::OPERATION_RESOLVE_CONFLICT) {
      return Fail(absl::InvalidArgumentError("edit.record is required for this operation"));
    }
    e.mask = capi::MaskOf(edit->fields);
    e.conflict_id = capi::Str(edit->conflict_id);
    if (e.operation == v1::OPERATION_RESOLVE_CONFLICT && e.conflict_id.empty()) {
      return Fail(absl::InvalidArgumentError("edit.conflict_id is required to resolve a conflict"));
    }
    return capi::FillState(client, client->db->Apply(e), out);
  });
}

crmsync_status crmsync_merge(crmsync_client* client, int32_t entity_type, const char* survivor_id,
                             const char* merged_id, const char* take_fields,
                             const char* keep_fields) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    if (absl::Status s = capi::CheckType(entity_type, false); !s.ok()) return Fail(s);
    if (survivor_id == nullptr || survivor_id[0] == '\0' || merged_id == nullptr ||
        merged_id[0] == '\0') {
      return Fail(absl::InvalidArgumentError("survivor_id and merged_id are required"));
    }
    v1::MergeSpec spec;
    spec.set_merged_record_id(merged_id);
    const google::protobuf::FieldMask take = capi::MaskOf(take_fields);
    const google::protobuf::FieldMask keep = capi::MaskOf(keep_fields);
    for (const std::string& f : take.paths()) spec.add_take_from_merged(f);
    for (const std::string& f : keep.paths()) spec.add_keep_survivor(f);
    return capi::FillState(client, client->db->Merge(capi::Ref(entity_type, survivor_id), spec),
                           nullptr);
  });
}

crmsync_status crmsync_resolve_conflict(crmsync_client* client, int32_t entity_type,
                                        const char* record_id, const char* conflict_id,
                                        const void* record, size_t size, const char* fields,
                                        crmsync_buffer* out) {
  crmsync_edit e;
  std::memset(&e, 0, sizeof e);
  e.operation = CRMSYNC_OP_RESOLVE_CONFLICT;
  e.entity_type = entity_type;
  e.record_id = record_id;
  e.record = record;
  e.record_size = size;
  e.fields = fields;
  e.conflict_id = conflict_id;
  return crmsync_apply(client, &e, out);
}

crmsync_status crmsync_redeem(crmsync_client* client, const crmsync_redeem_request* request,
                              crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    if (request == nullptr) return Fail(absl::InvalidArgumentError("request is NULL"));
    RedeemRequest r;
    r.coupon_id = capi::Str(request->coupon_id);
    r.store_id = capi::Str(request->store_id);
    r.loyalty_account_id = capi::Str(request->loyalty_account_id);
    r.latitude = request->latitude;
    r.longitude = request->longitude;
    r.accuracy_m = request->accuracy_m;
    r.id = capi::Str(request->id);
    return capi::FillState(client, client->db->Redeem(r), out);
  });
}

crmsync_status crmsync_add_points(crmsync_client* client, const char* account_id, int64_t delta,
                                  crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    return capi::FillState(client, client->db->AddPoints(capi::Str(account_id), delta), out);
  });
}

crmsync_status crmsync_get(crmsync_client* client, int32_t entity_type, const char* id,
                           crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    if (absl::Status s = capi::CheckType(entity_type, false); !s.ok()) return Fail(s);
    return capi::FillState(client, client->db->Get(capi::Ref(entity_type, id)), out);
  });
}

crmsync_status crmsync_list(crmsync_client* client, int32_t entity_type, crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    if (absl::Status s = capi::CheckType(entity_type, false); !s.ok()) return Fail(s);
    return capi::FillList(client, client->db->List(static_cast<v1::EntityType>(entity_type)), out);
  });
}

crmsync_status crmsync_list_by_owner(crmsync_client* client, int32_t entity_type,
                                     const char* owner_user_id, crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    if (absl::Status s = capi::CheckType(entity_type, false); !s.ok()) return Fail(s);
    return capi::FillList(
        client,
        client->db->ListByOwner(static_cast<v1::EntityType>(entity_type), capi::Str(owner_user_id)),
        out);
  });
}

crmsync_status crmsync_changed_since(crmsync_client* client, int32_t entity_type, int64_t since_ms,
                                     int32_t limit, crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    if (absl::Status s = capi::CheckType(entity_type, true); !s.ok()) return Fail(s);
    if (limit < 0) return Fail(absl::InvalidArgumentError("limit must be >= 0"));
    return capi::FillList(
        client, client->db->ChangedSince(static_cast<v1::EntityType>(entity_type), since_ms, limit),
        out);
  });
}

crmsync_status crmsync_my_open_leads(crmsync_client* client, crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    return capi::FillList(client, client->db->MyOpenLeads(), out);
  });
}

crmsync_status crmsync_opportunities_of_account(crmsync_client* client, const char* account_id,
                                                crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    return capi::FillList(client, client->db->OpportunitiesOfAccount(capi::Str(account_id)), out);
  });
}

crmsync_status crmsync_todays_calendar(crmsync_client* client, int64_t now_ms,
                                       int32_t utc_offset_minutes, crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    return capi::FillList(client, client->db->TodaysCalendar(now_ms, utc_offset_minutes), out);
  });
}

crmsync_status crmsync_timeline(crmsync_client* client, int32_t entity_type, const char* id,
                                int32_t limit, int32_t offset, crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    if (out == nullptr) return Fail(absl::InvalidArgumentError("out is NULL"));
    if (absl::Status s = capi::CheckType(entity_type, false); !s.ok()) return Fail(s);
    auto items = client->db->Timeline(capi::Ref(entity_type, id), limit, offset);
    if (!items.ok()) return Fail(items.status());
    v1::GetTimelineResponse resp;
    for (v1::TimelineItem& item : *items) *resp.add_items() = std::move(item);
    auto bytes = capi::Encode(client, resp);
    if (!bytes.ok()) return Fail(bytes.status());
    if (!capi::FillBuffer(*bytes, out)) return Fail(absl::ResourceExhaustedError("out of memory"));
    return Ok();
  });
}

crmsync_status crmsync_search(crmsync_client* client, const char* text, crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    return capi::FillList(client, client->db->Search(capi::Str(text)), out);
  });
}

crmsync_status crmsync_coupons_near(crmsync_client* client, double latitude, double longitude,
                                    double radius_m, int64_t now_ms, crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    return capi::FillList(client, client->db->CouponsNear(latitude, longitude, radius_m, now_ms),
                          out);
  });
}

crmsync_status crmsync_notices(crmsync_client* client, crmsync_notice_fn fn, void* user_data) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    if (fn == nullptr) return Fail(absl::InvalidArgumentError("fn is NULL"));
    auto notices = client->db->Notices();
    if (!notices.ok()) return Fail(notices.status());
    for (const Notice& n : *notices) {
      std::vector<const char*> ids;
      ids.reserve(n.conflict_ids.size());
      for (const std::string& id : n.conflict_ids) ids.push_back(id.c_str());
      crmsync_notice c{};
      c.id = n.id;
      c.kind = n.kind.c_str();
      c.entity_type = n.record.entity_type();
      c.record_id = n.record.id().c_str();
      c.message = n.message.c_str();
      c.at_ms = n.at_ms;
      c.conflict_ids = ids.data();
      c.conflict_count = ids.size();
      fn(user_data, &c);
    }
    return Ok();
  });
}

crmsync_status crmsync_clear_notices(crmsync_client* client) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    absl::Status s = client->db->ClearNotices();
    return s.ok() ? Ok() : Fail(s);
  });
}

}  // extern "C"
