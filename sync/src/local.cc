// ApplyMutationLocally: the device's optimistic view of a pending mutation.
#include <algorithm>

#include "crmsync/sync/change.h"
#include "crmsync/sync/hlc.h"
#include "crmsync/sync/record_model.h"
#include "merge_internal.h"

namespace crmsync::sync {

namespace pb = ::google::protobuf;

Status ApplyMutationLocally(v1::RecordState* local, const v1::Mutation& m) {
  Status valid = ValidateMutation(m);
  if (!valid.ok()) return valid;
  const bool empty = !local->has_ref() || local->ref().id().empty();
  if (!empty && (local->ref().entity_type() != m.record().entity_type() ||
                 local->ref().id() != m.record().id())) {
    return Status::InvalidArgument("mutation for " + internal::RecordName(m.record()) +
                                   " applied to " + internal::RecordName(local->ref()));
  }
  const v1::EntityType type = m.record().entity_type();
  const pb::Descriptor* desc = EntityDescriptor(type);
  std::vector<FieldPath> paths;
  for (const std::string& p : m.update_mask().paths()) {
    Result<FieldPath> fp = ResolveFieldPath(desc, p);
    if (!fp.ok()) return fp.status();
    paths.push_back(std::move(fp).value());
  }
  // A merge is decided by the server (it reads both records as they are
  // there); the device sees it when the result and the next pull arrive.
  if (m.operation() == v1::OPERATION_MERGE) return Status::Ok();
  v1::RecordState next = *local;
  *next.mutable_ref() = m.record();
  pb::Message* data = MutableEntity(next.mutable_data(), type);
  const pb::Message* values = EntityOrDefault(m.values(), type);
  switch (m.operation()) {
    case v1::OPERATION_DELETE: {
      next.clear_data();
      data = MutableEntity(next.mutable_data(), type);
      const pb::FieldDescriptor* idf = desc->FindFieldByName("id");
      if (idf != nullptr) data->GetReflection()->SetString(data, idf, m.record().id());
      next.set_deleted(true);
      break;
    }
    case v1::OPERATION_INCREMENT:
      for (const FieldPath& fp : paths) {
        int64_t sum = 0;
        if (__builtin_add_overflow(GetPathInt(*data, fp), GetPathInt(*values, fp), &sum)) {
          return Status::InvalidArgument("counter '" + fp.text + "' overflows");
        }
        Status s = SetPathInt(data, fp, sum);
        if (!s.ok()) return s;
      }
      break;
    case v1::OPERATION_SET_ADD:
    case v1::OPERATION_SET_REMOVE:
      for (const FieldPath& fp : paths) {
        std::vector<std::string> keys = internal::ReadSetKeys(*data, fp);
        for (const std::string& k : internal::ReadSetKeys(*values, fp)) {
          if (m.operation() == v1::OPERATION_SET_ADD) {
            keys.push_back(k);
          } else {
            keys.erase(std::remove(keys.begin(), keys.end(), k), keys.end());
          }
        }
        internal::WriteSetKeys(data, fp, std::move(keys));
      }
      break;
    default: {  // UPSERT, REDEEM, RESOLVE_CONFLICT
      if (next.deleted()) {
        next.clear_data();
        data = MutableEntity(next.mutable_data(), type);
      }
      next.set_deleted(false);
      next.clear_merged_into();
      std::vector<FieldPath> all = paths;
      if (empty && all.empty()) {
        for (const std::string& p : DiffPaths(*EntityOrDefault(v1::Record(), type), *values)) {
          all.push_back(*ResolveFieldPath(desc, p));
        }
      }
      for (const FieldPath& fp : all) CopyPathValue(*values, fp, data);
      if (empty) {
        const pb::FieldDescriptor* idf = desc->FindFieldByName("id");
        if (idf != nullptr) data->GetReflection()->SetString(data, idf, m.record().id());
      }
      break;
    }
  }
  // The view's last change is now this one (when its clock reading is
  // later): what the device's "changed since" queries order by.
  if (CompareHlc(m.hlc(), next.hlc()) > 0) *next.mutable_hlc() = m.hlc();
  *local = std::move(next);
  return Status::Ok();
}

}  // namespace crmsync::sync
