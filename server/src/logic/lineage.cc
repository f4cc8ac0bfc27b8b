#include "logic/lineage.h"

#include <string>

#include "crmsync/sync/field_path.h"
#include "crmsync/sync/record_model.h"
#include "logic/scope.h"
#include "store/store_codec.h"

namespace crmsync::server {

absl::Status ReadFieldHistory(ChangeLog* changes, const Principal& who, bool any_owner,
                              const v1::GetFieldHistoryRequest& request,
                              v1::GetFieldHistoryResponse* response) {
  response->Clear();
  const v1::RecordRef& ref = request.record();
  const google::protobuf::Descriptor* desc = sync::EntityDescriptor(ref.entity_type());
  if (desc == nullptr || ref.entity_type() == v1::ENTITY_TYPE_CONFLICT) {
    return absl::InvalidArgumentError(
        "record.entity_type must name a synced record type (lead, contact, account...)");
  }
  if (auto s = store_codec::CheckId(ref.id(), "record.id"); !s.ok()) return s;
  if (!request.field().empty()) {
    auto path = sync::ResolveFieldPath(desc, request.field());
    if (!path.ok()) {
      return absl::InvalidArgumentError(std::string(path.status().message()));
    }
  }
  if (request.limit() < 0) return absl::InvalidArgumentError("limit must not be negative");
  const std::string name = desc->name() + " " + ref.id();
  auto current = changes->GetRecord(who.tenant_id, ref);
  if (!current.ok()) return current.status();
  // A record the caller may not read is answered like a missing one.
  if (!*current || (*current)->deleted() ||
      (!any_owner && !CanRead(who, ref.entity_type(), (*current)->scope()))) {
    return absl::NotFoundError("no " + name +
                               " you may read (deleted and erased records keep "
                               "no history)");
  }
  const int depth = changes->field_history_depth();
  response->set_depth(depth);
  if (depth == 0) return absl::OkStatus();
  auto entries = changes->ReadFieldHistory(who.tenant_id, ref, request.field(),
                                           request.limit() > 0 ? request.limit() : depth);
  if (!entries.ok()) return entries.status();
  for (v1::FieldHistoryEntry& e : *entries) {
    auto field = (*current)->fields().find(e.path());
    e.set_current(field != (*current)->fields().end() && field->second.version() == e.version());
    *response->add_entries() = std::move(e);
  }
  return absl::OkStatus();
}

}  // namespace crmsync::server
