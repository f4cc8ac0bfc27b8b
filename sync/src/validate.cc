// ValidateMutation: the shape of a Mutation, independent of stored data.
#include <set>

#include "crmsync/sync/record_model.h"

namespace crmsync::sync {

namespace pb = ::google::protobuf;

static Status Invalid(const v1::Mutation& m, const std::string& what) {
  return Status::InvalidArgument("mutation client_seq " + std::to_string(m.client_seq()) + ": " +
                                 what);
}

static bool OperationUsesValues(v1::Operation op, const v1::Mutation& m) {
  switch (op) {
    case v1::OPERATION_DELETE:
    case v1::OPERATION_MERGE: return false;
    case v1::OPERATION_RESOLVE_CONFLICT: return m.update_mask().paths_size() > 0;
    default: return true;
  }
}

Status ValidateMutation(const v1::Mutation& m) {
  if (!m.has_record()) return Invalid(m, "record reference is missing");
  const v1::EntityType type = m.record().entity_type();
  const pb::Descriptor* d = EntityDescriptor(type);
  if (d == nullptr) {
    return Invalid(m,
                   "record.entity_type " + std::to_string(type) + " is not a synced entity type");
  }
  const std::string type_name = EntityTypeName(type);
  if (m.record().id().empty()) return Invalid(m, "record.id is empty");
  if (type == v1::ENTITY_TYPE_CONFLICT) {
    return Invalid(m,
                   "conflict records change only through "
                   "OPERATION_RESOLVE_CONFLICT on the conflicted record");
  }
  if (m.client_seq() < 0) return Invalid(m, "client_seq is negative");
  if (m.base_version() < 0) return Invalid(m, "base_version is negative");
  const v1::Operation op = m.operation();
  if (op == v1::OPERATION_UNSPECIFIED || !v1::Operation_IsValid(op)) {
    return Invalid(m, "operation is unspecified or unknown");
  }
  if (OperationUsesValues(op, m) && EntityTypeOf(m.values()) != type) {
    return Invalid(m, "values must hold a " + type_name + " (record.entity_type)" +
                          (m.values().entity_case() == v1::Record::ENTITY_NOT_SET
                               ? ", but values is empty"
                               : ", but holds a " + EntityTypeName(EntityTypeOf(m.values()))));
  }
  if (m.has_base_values() && m.base_values().entity_case() != v1::Record::ENTITY_NOT_SET &&
      EntityTypeOf(m.base_values()) != type) {
    return Invalid(m, "base_values must hold a " + type_name);
  }
  if (op == v1::OPERATION_DELETE && m.update_mask().paths_size() > 0) {
    return Invalid(m, "a delete takes no update_mask");
  }
  if (type == v1::ENTITY_TYPE_POSSIBLE_DUPLICATE) {
    // The server writes these; people only say "not a duplicate".
    const bool dismissal = (op == v1::OPERATION_UPSERT || op == v1::OPERATION_SET_ADD) &&
                           m.base_version() > 0 && m.update_mask().paths_size() == 1 &&
                           m.update_mask().paths(0) == "dismissed_record_ids";
    if (!dismissal) {
      return Invalid(m,
                     "possible duplicates are kept by the server: an edit may only add to "
                     "dismissed_record_ids (update_mask [\"dismissed_record_ids\"], "
                     "base_version of the stored flag)");
    }
  }
  if (op == v1::OPERATION_MERGE) {
    if (m.update_mask().paths_size() > 0) {
      return Invalid(m, "a merge takes no update_mask (per-field choices go in merge)");
    }
    const v1::MergeSpec& spec = m.merge();
    if (spec.merged_record_id().empty()) {
      return Invalid(m, "OPERATION_MERGE needs merge.merged_record_id");
    }
    if (spec.merged_record_id() == m.record().id()) {
      return Invalid(m, "cannot merge record '" + m.record().id() + "' into itself");
    }
    std::set<std::string> named;
    for (const auto* list : {&spec.take_from_merged(), &spec.keep_survivor()}) {
      for (const std::string& p : *list) {
        const pb::FieldDescriptor* f = d->FindFieldByName(p);
        if (f == nullptr || p.find('.') != std::string::npos) {
          return Invalid(m, "merge: '" + p + "' is not a top-level field of " + type_name);
        }
        if (p == "id") return Invalid(m, "merge: the survivor keeps its id");
        if (!named.insert(p).second) {
          return Invalid(m, "merge: '" + p + "' is named twice (take or keep, once)");
        }
      }
    }
  } else if (m.has_merge()) {
    return Invalid(m, "merge is set but the operation is not OPERATION_MERGE");
  }
  if (op == v1::OPERATION_REDEEM && type != v1::ENTITY_TYPE_REDEMPTION) {
    return Invalid(m, "OPERATION_REDEEM applies to redemptions only, not " + type_name);
  }
  if (op == v1::OPERATION_RESOLVE_CONFLICT) {
    if (m.conflict_id().empty()) {
      return Invalid(m, "OPERATION_RESOLVE_CONFLICT needs a conflict_id");
    }
    if (m.update_mask().paths_size() > 1) {
      return Invalid(m,
                     "OPERATION_RESOLVE_CONFLICT takes at most one path "
                     "(the conflicted field); empty dismisses");
    }
  }
  const bool is_create = op == v1::OPERATION_UPSERT && m.base_version() == 0;
  std::set<std::string> seen;
  std::vector<std::string> paths;
  for (const std::string& p : m.update_mask().paths()) {
    Result<FieldPath> fp = ResolveFieldPath(d, p);
    if (!fp.ok()) {
      return Invalid(m, "update_mask: " + fp.status().message() + " (on " + type_name + ")");
    }
    if (IsKeyedMapField(fp->leaf()) && !fp->names_map_entry()) {
      return Invalid(
          m, "update_mask: '" + p + "' holds named fields: name one, as '" + p + ".<name>'");
    }
    if (!seen.insert(p).second) {
      return Invalid(m, "update_mask names '" + p + "' twice");
    }
    if (fp->fields.front()->name() == "id") {
      if (!is_create && op != v1::OPERATION_REDEEM) {
        return Invalid(m,
                       "the id field can only be set when creating a "
                       "record (base_version 0)");
      }
      const pb::Message* e = EntityOf(m.values());
      const pb::FieldDescriptor* idf = e->GetDescriptor()->FindFieldByName("id");
      if (e->GetReflection()->GetString(*e, idf) != m.record().id()) {
        return Invalid(m, "values.id must equal record.id '" + m.record().id() + "'");
      }
    }
    if (op == v1::OPERATION_INCREMENT && !IsIntegerLeaf(*fp)) {
      return Invalid(m, "OPERATION_INCREMENT needs integer fields; '" + p + "' is not one");
    }
    if ((op == v1::OPERATION_SET_ADD || op == v1::OPERATION_SET_REMOVE) &&
        !IsRepeatedScalarLeaf(*fp)) {
      return Invalid(m, "set operations need repeated scalar fields; '" + p + "' is not one");
    }
    paths.push_back(p);
  }
  // No path may lie under another ("address" and "address.city").
  for (const std::string& a : paths) {
    for (const std::string& b : paths) {
      if (a != b && PathIsUnder(b, a)) {
        return Invalid(m, "update_mask paths '" + a + "' and '" + b + "' overlap");
      }
    }
  }
  return Status::Ok();
}

}  // namespace crmsync::sync
