// BuildChange (server side) and ApplyChange (device side).
#include "crmsync/sync/change.h"

#include <algorithm>

#include "crmsync/sync/record_model.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "merge_internal.h"

namespace crmsync::sync {

namespace pb = ::google::protobuf;

v1::Change BuildChange(const v1::RecordState& state, int64_t since_version, bool full) {
  v1::Change change;
  BuildChangeInto(state, since_version, full, &change);
  return change;
}

void BuildChangeInto(const v1::RecordState& state, int64_t since_version, bool full,
                     v1::Change* out) {
  v1::Change& change = *out;
  change.Clear();
  change.set_seq(state.version());
  *change.mutable_record() = state.ref();
  change.set_version(state.version());
  change.set_created_version(state.created_version());
  *change.mutable_scope() = state.scope();
  *change.mutable_hlc() = state.hlc();
  if (state.deleted()) {
    change.set_kind(v1::CHANGE_KIND_TOMBSTONE);
    if (state.has_merged_into()) *change.mutable_merged_into() = state.merged_into();
    return;
  }
  change.set_kind(v1::CHANGE_KIND_UPSERT);
  const v1::EntityType type = state.ref().entity_type();
  const pb::Descriptor* desc = EntityDescriptor(type);
  const pb::Message* data = EntityOrDefault(state.data(), type);
  if (desc == nullptr || data == nullptr) return;
  pb::Message* values = MutableEntity(change.mutable_values(), type);
  std::vector<std::string> paths;
  const bool whole = full || state.created_version() > since_version;
  if (whole) {
    const pb::Reflection* r = data->GetReflection();
    for (int i = 0; i < desc->field_count(); ++i) {
      const pb::FieldDescriptor* f = desc->field(i);
      const bool set = f->is_repeated() ? r->FieldSize(*data, f) > 0 : r->HasField(*data, f);
      if (set) paths.push_back(f->name());
    }
    // Fields written once and now back at their default are listed too, so
    // that their default clears them: the reader may already hold an older
    // copy of the record (from its push results, or from before a reset).
    std::vector<std::string> written;
    written.reserve(state.fields().size());
    for (const auto& [path, fs] : state.fields()) {
      (*change.mutable_fields())[path] = fs;
      written.push_back(path);
    }
    std::sort(written.begin(), written.end());
    for (const std::string& w : written) {
      bool covered = false;
      for (const std::string& p : paths) covered = covered || PathIsUnder(w, p);
      if (!covered) paths.push_back(w);
    }
    // Every set field is listed and the rest are at their defaults, so the
    // values are the record's values: one copy instead of one per path.
    values->CopyFrom(*data);
    // A field of an older schema is not sent, as a per-path copy would not.
    values->GetReflection()->MutableUnknownFields(values)->Clear();
  } else {
    std::vector<std::string> changed;
    for (const auto& [path, fs] : state.fields()) {
      if (fs.version() > since_version) changed.push_back(path);
    }
    std::sort(changed.begin(), changed.end());
    for (const std::string& p : changed) {
      bool covered = false;
      for (const std::string& q : changed) {
        if (q != p && PathIsUnder(p, q)) covered = true;
      }
      if (!covered) paths.push_back(p);
      (*change.mutable_fields())[p] = state.fields().at(p);
    }
  }
  for (const std::string& p : paths) {
    Result<FieldPath> fp = ResolveFieldPath(desc, p);
    if (!fp.ok()) continue;  // A stale path from an older schema.
    if (!whole) CopyPathValue(*data, *fp, values);
    change.mutable_changed_fields()->add_paths(p);
  }
}

Result<ReplicaAction> ApplyChange(v1::RecordState* replica, const v1::Change& change) {
  const bool empty = !replica->has_ref() || replica->ref().id().empty();
  if (!empty && (replica->ref().entity_type() != change.record().entity_type() ||
                 replica->ref().id() != change.record().id())) {
    return Status::InvalidArgument("change for " + internal::RecordName(change.record()) +
                                   " applied to replica of " +
                                   internal::RecordName(replica->ref()));
  }
  switch (change.kind()) {
    case v1::CHANGE_KIND_LEFT_SCOPE:
    case v1::CHANGE_KIND_ERASED: return ReplicaAction::kRemove;
    case v1::CHANGE_KIND_UPSERT:
    case v1::CHANGE_KIND_TOMBSTONE: break;
    default: return Status::InvalidArgument("change has an unknown kind");
  }
  if (!empty && change.version() <= replica->version()) return ReplicaAction::kUnchanged;
  const v1::EntityType type = change.record().entity_type();
  const pb::Descriptor* desc = EntityDescriptor(type);
  if (desc == nullptr) return Status::InvalidArgument("change names an unknown entity type");
  std::vector<FieldPath> paths;
  for (const std::string& p : change.changed_fields().paths()) {
    Result<FieldPath> fp = ResolveFieldPath(desc, p);
    if (!fp.ok()) return fp.status();
    paths.push_back(std::move(fp).value());
  }
  v1::RecordState next = *replica;
  *next.mutable_ref() = change.record();
  if (empty || change.created_version() > 0) {
    next.set_created_version(change.created_version() > 0 ? change.created_version()
                                                          : change.version());
  }
  next.set_version(change.version());
  *next.mutable_scope() = change.scope();
  *next.mutable_hlc() = change.hlc();
  if (change.kind() == v1::CHANGE_KIND_TOMBSTONE) {
    next.set_deleted(true);
    next.clear_data();
    next.clear_fields();
    if (change.has_merged_into()) *next.mutable_merged_into() = change.merged_into();
    pb::Message* e = MutableEntity(next.mutable_data(), type);
    const pb::FieldDescriptor* idf = e->GetDescriptor()->FindFieldByName("id");
    if (idf != nullptr) e->GetReflection()->SetString(e, idf, change.record().id());
  } else {
    if (next.deleted()) next.clear_data();  // Resurrected: start from empty data.
    next.set_deleted(false);
    next.clear_merged_into();
    pb::Message* dst = MutableEntity(next.mutable_data(), type);
    const pb::Message* src = EntityOrDefault(change.values(), type);
    for (const FieldPath& fp : paths) CopyPathValue(*src, fp, dst);
    for (const auto& [path, fs] : change.fields()) {
      auto* fields = next.mutable_fields();
      for (auto it = fields->begin(); it != fields->end();) {
        if (it->first != path && PathIsUnder(it->first, path) &&
            it->second.version() <= fs.version()) {
          it = fields->erase(it);
        } else {
          ++it;
        }
      }
      (*fields)[path] = fs;
    }
  }
  *replica = std::move(next);
  return ReplicaAction::kUpdated;
}

std::string CanonicalBytes(const v1::RecordState& state) {
  std::string out = "crmsync-record-v1";
  out.push_back('\0');
  auto put_u64 = [&out](uint64_t v) {
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  auto put_bytes = [&](const std::string& b) {
    put_u64(b.size());
    out += b;
  };
  put_u64(static_cast<uint64_t>(state.ref().entity_type()));
  put_bytes(state.ref().id());
  put_u64(static_cast<uint64_t>(state.version()));
  out.push_back(state.deleted() ? '\1' : '\0');
  std::string data;
  {
    pb::io::StringOutputStream stream(&data);
    pb::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    state.data().SerializeToCodedStream(&coded);
  }
  put_bytes(data);
  return out;
}

}  // namespace crmsync::sync
