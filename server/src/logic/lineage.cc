#include "logic/lineage.h"

#include <algorithm>
#include <string>
#include <vector>

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
  const int per_field = request.limit() > 0 ? std::min(request.limit(), depth) : depth;
  // The current values are the record's own; the store keeps the ones
  // later writes replaced.
  std::vector<v1::FieldHistoryEntry> entries;
  for (const auto& [path, field] : (*current)->fields()) {
    if (path == "id" || (!request.field().empty() && path != request.field())) continue;
    v1::FieldHistoryEntry e = store_codec::FieldEntry(**current, path, field);
    if (e.path().empty()) continue;
    e.set_current(true);
    entries.push_back(std::move(e));
  }
  if (per_field > 1) {
    auto replaced = changes->ReadFieldHistory(who.tenant_id, ref, request.field(), per_field - 1);
    if (!replaced.ok()) return replaced.status();
    for (v1::FieldHistoryEntry& e : *replaced) entries.push_back(std::move(e));
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const v1::FieldHistoryEntry& a, const v1::FieldHistoryEntry& b) {
                     if (a.version() != b.version()) return a.version() > b.version();
                     return a.path() < b.path();
                   });
  for (v1::FieldHistoryEntry& e : entries) *response->add_entries() = std::move(e);
  return absl::OkStatus();
}

}  // namespace crmsync::server
