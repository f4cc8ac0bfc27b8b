#include "crmsync/sync/record_model.h"

#include "crmsync/sync/entity_catalog.h"

#include <algorithm>

namespace crmsync::sync {

namespace pb = ::google::protobuf;
using FD = pb::FieldDescriptor;

// The Record oneof field numbers equal the EntityType values (entities.proto).
static const FD* OneofField(v1::EntityType type) {
  if (type == v1::ENTITY_TYPE_UNSPECIFIED) return nullptr;
  const FD* f = v1::Record::descriptor()->FindFieldByNumber(static_cast<int>(type));
  if (f == nullptr || f->containing_oneof() == nullptr) return nullptr;
  return f;
}

const pb::Descriptor* EntityDescriptor(v1::EntityType type) {
  const FD* f = OneofField(type);
  return f == nullptr ? nullptr : f->message_type();
}

v1::EntityType EntityTypeOf(const v1::Record& record) {
  const int n = static_cast<int>(record.entity_case());
  return v1::EntityType_IsValid(n) ? static_cast<v1::EntityType>(n) : v1::ENTITY_TYPE_UNSPECIFIED;
}

const pb::Message* EntityOf(const v1::Record& record) {
  const FD* f = OneofField(EntityTypeOf(record));
  if (f == nullptr) return nullptr;
  return &record.GetReflection()->GetMessage(record, f);
}

pb::Message* MutableEntity(v1::Record* record, v1::EntityType type) {
  const FD* f = OneofField(type);
  if (f == nullptr) return nullptr;
  return record->GetReflection()->MutableMessage(record, f);
}

const pb::Message* EntityOrDefault(const v1::Record& record, v1::EntityType type) {
  const FD* f = OneofField(type);
  if (f == nullptr) return nullptr;
  // GetMessage returns the default instance when another member is set.
  return &record.GetReflection()->GetMessage(record, f);
}

std::string EntityTypeName(v1::EntityType type) {
  const FD* f = OneofField(type);
  return f == nullptr ? std::string() : f->name();
}

v1::EntityType EntityTypeFromName(std::string_view name) {
  const FD* f = v1::Record::descriptor()->FindFieldByName(std::string(name));
  if (f == nullptr || f->containing_oneof() == nullptr) {
    return v1::ENTITY_TYPE_UNSPECIFIED;
  }
  return static_cast<v1::EntityType>(f->number());
}

Status ApplyFieldMask(const v1::Record& partial, const pb::FieldMask& mask, v1::EntityType type,
                      v1::Record* target) {
  const pb::Descriptor* d = EntityDescriptor(type);
  if (d == nullptr) return Status::InvalidArgument("unknown entity type");
  std::vector<FieldPath> paths;
  for (const std::string& p : mask.paths()) {
    Result<FieldPath> fp = ResolveFieldPath(d, p);
    if (!fp.ok()) return fp.status();
    paths.push_back(std::move(fp).value());
  }
  const pb::Message* src = EntityOrDefault(partial, type);
  pb::Message* dst = MutableEntity(target, type);
  for (const FieldPath& fp : paths) CopyPathValue(*src, fp, dst);
  return Status::Ok();
}

pb::FieldMask ComputeFieldMask(const v1::Record& before, const v1::Record& after) {
  pb::FieldMask mask;
  const v1::EntityType type = EntityTypeOf(after);
  const pb::Message* a = EntityOrDefault(before, type);
  const pb::Message* b = EntityOf(after);
  if (a == nullptr || b == nullptr) return mask;
  for (std::string& p : DiffPaths(*a, *b)) *mask.add_paths() = std::move(p);
  return mask;
}

v1::Record ExtractPath(const v1::Record& source, v1::EntityType type, const FieldPath& path) {
  v1::Record out;
  pb::Message* dst = MutableEntity(&out, type);
  const pb::Message* src = EntityOrDefault(source, type);
  if (dst != nullptr && src != nullptr) CopyPathValue(*src, path, dst);
  return out;
}

v1::ScopeKeys ScopeKeysOf(const v1::Record& record) {
  const pb::Message* e = EntityOf(record);
  const EntitySpec* spec = EntityCatalog::Default().Find(EntityTypeOf(record));
  if (e == nullptr || spec == nullptr) return v1::ScopeKeys();
  return ScopeKeysOfEntity(*spec, *e);
}

bool IsScopeField(v1::EntityType type, const std::string& path) {
  const EntitySpec* spec = EntityCatalog::Default().Find(type);
  return spec != nullptr && spec->IsScopeField(path);
}

const std::string& MutationDeviceId(const v1::Mutation& m) {
  return m.provenance().device_id().empty() ? m.hlc().node_id() : m.provenance().device_id();
}

void StripEmptyMessages(google::protobuf::Message* message) {
  const google::protobuf::Reflection* r = message->GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(*message, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(*message, f); ++i) {
        StripEmptyMessages(r->MutableRepeatedMessage(message, f, i));
      }
      continue;
    }
    google::protobuf::Message* child = r->MutableMessage(message, f);
    StripEmptyMessages(child);
    // A oneof member that is set counts as a value even when empty.
    if (child->ByteSizeLong() == 0 && f->containing_oneof() == nullptr) r->ClearField(message, f);
  }
}

}  // namespace crmsync::sync
