#include "crmsync/sync/field_path.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "crmsync/sync/record_model.h"

#include "google/protobuf/util/message_differencer.h"

namespace crmsync::sync {

namespace pb = ::google::protobuf;
using FD = pb::FieldDescriptor;

bool IsValidMapKey(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsKeyedMapField(const FD* f) {
  return f->is_map() && f->message_type()->map_key()->cpp_type() == FD::CPPTYPE_STRING;
}

Result<FieldPath> ResolveFieldPath(const pb::Descriptor* type, std::string_view path) {
  if (type == nullptr) return Status::InvalidArgument("unknown entity type");
  if (path.empty()) return Status::InvalidArgument("empty field path");
  FieldPath out;
  out.text = std::string(path);
  const pb::Descriptor* current = type;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string_view segment =
        path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (current == nullptr) {
      return Status::InvalidArgument("field path '" + out.text +
                                     "': cannot descend below a non-message "
                                     "or repeated field");
    }
    const FD* field = current->FindFieldByName(std::string(segment));
    if (field == nullptr) {
      return Status::InvalidArgument("field path '" + out.text + "': " + current->name() +
                                     " has no field '" + std::string(segment) + "'");
    }
    out.fields.push_back(field);
    if (dot == std::string_view::npos) break;
    if (IsKeyedMapField(field)) {
      // The rest is one key: "custom.region".
      const std::string_view key = path.substr(dot + 1);
      if (!IsValidMapKey(key)) {
        return Status::InvalidArgument("field path '" + out.text + "': '" + std::string(key) +
                                       "' is not a field name (a-z, 0-9 and _, starting with "
                                       "a letter, at most 64)");
      }
      out.map_key = std::string(key);
      break;
    }
    current = (field->cpp_type() == FD::CPPTYPE_MESSAGE && !field->is_repeated())
                  ? field->message_type()
                  : nullptr;
    start = dot + 1;
  }
  return out;
}

bool PathIsUnder(std::string_view path, std::string_view ancestor) {
  if (path.size() < ancestor.size()) return false;
  if (path.compare(0, ancestor.size(), ancestor) != 0) return false;
  return path.size() == ancestor.size() || path[ancestor.size()] == '.';
}

const pb::Message* PathParent(const pb::Message& m, const FieldPath& path) {
  const pb::Message* current = &m;
  for (size_t i = 0; i + 1 < path.fields.size(); ++i) {
    const pb::Reflection* r = current->GetReflection();
    if (!r->HasField(*current, path.fields[i])) return nullptr;
    current = &r->GetMessage(*current, path.fields[i]);
  }
  return current;
}

// The parent of the leaf, or the default instance of the parent type.
static const pb::Message& ParentOrDefault(const pb::Message& m, const FieldPath& path) {
  const pb::Message* parent = PathParent(m, path);
  if (parent != nullptr) return *parent;
  if (path.fields.size() == 1) return m;
  return *pb::MessageFactory::generated_factory()->GetPrototype(
      path.fields[path.fields.size() - 2]->message_type());
}

// The entry of map field `f` in `parent` with key `key`, or nullptr.
static const pb::Message* FindEntry(const pb::Message& parent, const FD* f,
                                    const std::string& key) {
  const pb::Reflection* r = parent.GetReflection();
  const FD* key_field = f->message_type()->map_key();
  const int n = r->FieldSize(parent, f);
  for (int i = 0; i < n; ++i) {
    const pb::Message& entry = r->GetRepeatedMessage(parent, f, i);
    if (entry.GetReflection()->GetString(entry, key_field) == key) return &entry;
  }
  return nullptr;
}

// Whether a map entry holds its value type's default (as if absent).
static bool EntryIsDefault(const pb::Message* entry) {
  if (entry == nullptr) return true;
  const FD* value = entry->GetDescriptor()->map_value();
  const pb::Reflection* r = entry->GetReflection();
  if (!r->HasField(*entry, value)) return true;
  if (value->cpp_type() == FD::CPPTYPE_MESSAGE) {
    return r->GetMessage(*entry, value).ByteSizeLong() == 0;
  }
  return false;
}

// The bit pattern of a floating-point value (what std::bit_cast gives in C++20).
template <typename Bits, typename Float>
static Bits BitsOf(Float value) {
  static_assert(sizeof(Bits) == sizeof(Float));
  Bits bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

static bool ScalarEqual(const pb::Message& a, const pb::Message& b, const FD* f, int i) {
  const pb::Reflection* ra = a.GetReflection();
  const pb::Reflection* rb = b.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
#define CRMSYNC_CASE(CPPTYPE, Getter)                                                 \
  case FD::CPPTYPE:                                                                   \
    return rep ? ra->GetRepeated##Getter(a, f, i) == rb->GetRepeated##Getter(b, f, i) \
               : ra->Get##Getter(a, f) == rb->Get##Getter(b, f);
    CRMSYNC_CASE(CPPTYPE_INT32, Int32)
    CRMSYNC_CASE(CPPTYPE_INT64, Int64)
    CRMSYNC_CASE(CPPTYPE_UINT32, UInt32)
    CRMSYNC_CASE(CPPTYPE_UINT64, UInt64)
    CRMSYNC_CASE(CPPTYPE_BOOL, Bool)
    CRMSYNC_CASE(CPPTYPE_STRING, String)
    CRMSYNC_CASE(CPPTYPE_ENUM, EnumValue)
#undef CRMSYNC_CASE
    case FD::CPPTYPE_DOUBLE: {
      // Bitwise, so that NaN equals itself and merges stay deterministic.
      return BitsOf<uint64_t>(rep ? ra->GetRepeatedDouble(a, f, i) : ra->GetDouble(a, f)) ==
             BitsOf<uint64_t>(rep ? rb->GetRepeatedDouble(b, f, i) : rb->GetDouble(b, f));
    }
    case FD::CPPTYPE_FLOAT: {
      return BitsOf<uint32_t>(rep ? ra->GetRepeatedFloat(a, f, i) : ra->GetFloat(a, f)) ==
             BitsOf<uint32_t>(rep ? rb->GetRepeatedFloat(b, f, i) : rb->GetFloat(b, f));
    }
    case FD::CPPTYPE_MESSAGE: {
      const pb::Message& x = rep ? ra->GetRepeatedMessage(a, f, i) : ra->GetMessage(a, f);
      const pb::Message& y = rep ? rb->GetRepeatedMessage(b, f, i) : rb->GetMessage(b, f);
      return pb::util::MessageDifferencer::Equals(x, y);
    }
  }
  return false;
}

static bool EntryEqual(const pb::Message* a, const pb::Message* b) {
  const bool da = EntryIsDefault(a);
  const bool db = EntryIsDefault(b);
  if (da || db) return da == db;
  return ScalarEqual(*a, *b, a->GetDescriptor()->map_value(), 0);
}

// The keys of map field `f` (string keys) in `m`, sorted and unique.
static std::vector<std::string> MapKeys(const pb::Message& m, const FD* f) {
  const pb::Reflection* r = m.GetReflection();
  const FD* key_field = f->message_type()->map_key();
  std::vector<std::string> keys;
  const int n = r->FieldSize(m, f);
  keys.reserve(n);
  for (int i = 0; i < n; ++i) {
    const pb::Message& entry = r->GetRepeatedMessage(m, f, i);
    keys.push_back(entry.GetReflection()->GetString(entry, key_field));
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

// The keys of map field `f` in `a` or `b`, sorted and unique.
static std::vector<std::string> UnionKeys(const pb::Message& a, const pb::Message& b, const FD* f) {
  std::vector<std::string> keys = MapKeys(a, f);
  const std::vector<std::string> more = MapKeys(b, f);
  keys.insert(keys.end(), more.begin(), more.end());
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

// Keys of map field `f` whose entries differ between `a` and `b`, sorted.
static std::vector<std::string> DifferingKeys(const pb::Message& a, const pb::Message& b,
                                              const FD* f) {
  std::vector<std::string> out;
  for (const std::string& k : UnionKeys(a, b, f)) {
    if (!EntryEqual(FindEntry(a, f, k), FindEntry(b, f, k))) out.push_back(k);
  }
  return out;
}

std::vector<std::string> KeyedMapPaths(const pb::Message& a, const pb::Message& b, const FD* f) {
  std::vector<std::string> keys = UnionKeys(a, b, f);
  for (std::string& k : keys) k = f->name() + "." + k;
  return keys;
}

static bool LeafEqual(const pb::Message& a, const pb::Message& b, const FD* f) {
  const pb::Reflection* ra = a.GetReflection();
  const pb::Reflection* rb = b.GetReflection();
  if (IsKeyedMapField(f)) return DifferingKeys(a, b, f).empty();  // entry order is no value
  if (f->is_repeated()) {
    const int n = ra->FieldSize(a, f);
    if (n != rb->FieldSize(b, f)) return false;
    for (int i = 0; i < n; ++i) {
      if (!ScalarEqual(a, b, f, i)) return false;
    }
    return true;
  }
  if (f->containing_oneof() != nullptr && ra->HasField(a, f) != rb->HasField(b, f)) {
    return false;
  }
  return ScalarEqual(a, b, f, 0);
}

bool PathValuesEqual(const pb::Message& a, const pb::Message& b, const FieldPath& path) {
  const pb::Message& pa = ParentOrDefault(a, path);
  const pb::Message& pb_ = ParentOrDefault(b, path);
  if (path.names_map_entry()) {
    return EntryEqual(FindEntry(pa, path.leaf(), path.map_key),
                      FindEntry(pb_, path.leaf(), path.map_key));
  }
  return LeafEqual(pa, pb_, path.leaf());
}

bool PathIsDefault(const pb::Message& m, const FieldPath& path) {
  const pb::Message* parent = PathParent(m, path);
  if (parent == nullptr) return true;
  const pb::Reflection* r = parent->GetReflection();
  const FD* f = path.leaf();
  if (path.names_map_entry()) return EntryIsDefault(FindEntry(*parent, f, path.map_key));
  if (f->is_repeated()) return r->FieldSize(*parent, f) == 0;
  if (!r->HasField(*parent, f)) return true;
  if (f->cpp_type() == FD::CPPTYPE_MESSAGE) {
    return r->GetMessage(*parent, f).ByteSizeLong() == 0;
  }
  // A oneof member that is set counts as a value even when zero.
  return false;
}

void CopyPathValue(const pb::Message& from, const FieldPath& path, pb::Message* to) {
  const FD* leaf = path.leaf();
  const pb::Message* src_parent = PathParent(from, path);
  const bool is_default = PathIsDefault(from, path);
  // Find (or create) the destination parent, remembering the way down.
  pb::Message* dst = to;
  std::vector<pb::Message*> ancestors;
  for (size_t i = 0; i + 1 < path.fields.size(); ++i) {
    const pb::Reflection* r = dst->GetReflection();
    if (is_default && !r->HasField(*dst, path.fields[i])) return;
    ancestors.push_back(dst);
    dst = r->MutableMessage(dst, path.fields[i]);
  }
  const pb::Reflection* rd = dst->GetReflection();
  if (path.names_map_entry()) {
    // One entry: the old one goes, the new one (if any) is added.
    const FD* key_field = leaf->message_type()->map_key();
    const int n = rd->FieldSize(*dst, leaf);
    for (int i = n; i-- > 0;) {
      const pb::Message& entry = rd->GetRepeatedMessage(*dst, leaf, i);
      if (entry.GetReflection()->GetString(entry, key_field) != path.map_key) continue;
      rd->SwapElements(dst, leaf, i, rd->FieldSize(*dst, leaf) - 1);
      rd->RemoveLast(dst, leaf);
    }
    if (!is_default && src_parent != nullptr) {
      pb::Message* entry = rd->AddMessage(dst, leaf);
      entry->CopyFrom(*FindEntry(*src_parent, leaf, path.map_key));
      StripEmptyMessages(entry);
      return;
    }
  }
  if (is_default || src_parent == nullptr) {
    // Clearing a oneof member only clears the oneof if that member is set.
    if (!path.names_map_entry() && (leaf->is_repeated() || rd->HasField(*dst, leaf))) {
      rd->ClearField(dst, leaf);
    }
    // A message left holding nothing is unset, like one never written
    // (PathIsDefault): clearing its last field clears it, up the path, so
    // stored and replicated records keep one form (see StripEmptyMessages).
    for (size_t i = ancestors.size(); i-- > 0;) {
      pb::Message* parent = ancestors[i];
      const FD* f = path.fields[i];
      if (f->containing_oneof() != nullptr ||  // a set oneof member is a value
          parent->GetReflection()->GetMessage(*parent, f).ByteSizeLong() != 0) {
        break;
      }
      parent->GetReflection()->ClearField(parent, f);
    }
    return;
  }
  const pb::Message& src = *src_parent;
  const pb::Reflection* rs = src.GetReflection();
  if (leaf->is_repeated()) {
    rd->ClearField(dst, leaf);
    const int n = rs->FieldSize(src, leaf);
    for (int i = 0; i < n; ++i) {
      switch (leaf->cpp_type()) {
#define CRMSYNC_CASE(CPPTYPE, Getter) \
  case FD::CPPTYPE: rd->Add##Getter(dst, leaf, rs->GetRepeated##Getter(src, leaf, i)); break;
        CRMSYNC_CASE(CPPTYPE_INT32, Int32)
        CRMSYNC_CASE(CPPTYPE_INT64, Int64)
        CRMSYNC_CASE(CPPTYPE_UINT32, UInt32)
        CRMSYNC_CASE(CPPTYPE_UINT64, UInt64)
        CRMSYNC_CASE(CPPTYPE_DOUBLE, Double)
        CRMSYNC_CASE(CPPTYPE_FLOAT, Float)
        CRMSYNC_CASE(CPPTYPE_BOOL, Bool)
        CRMSYNC_CASE(CPPTYPE_STRING, String)
        CRMSYNC_CASE(CPPTYPE_ENUM, EnumValue)
#undef CRMSYNC_CASE
        case FD::CPPTYPE_MESSAGE:
          rd->AddMessage(dst, leaf)->CopyFrom(rs->GetRepeatedMessage(src, leaf, i));
          break;
      }
    }
    return;
  }
  switch (leaf->cpp_type()) {
#define CRMSYNC_CASE(CPPTYPE, Getter) \
  case FD::CPPTYPE: rd->Set##Getter(dst, leaf, rs->Get##Getter(src, leaf)); break;
    CRMSYNC_CASE(CPPTYPE_INT32, Int32)
    CRMSYNC_CASE(CPPTYPE_INT64, Int64)
    CRMSYNC_CASE(CPPTYPE_UINT32, UInt32)
    CRMSYNC_CASE(CPPTYPE_UINT64, UInt64)
    CRMSYNC_CASE(CPPTYPE_DOUBLE, Double)
    CRMSYNC_CASE(CPPTYPE_FLOAT, Float)
    CRMSYNC_CASE(CPPTYPE_BOOL, Bool)
    CRMSYNC_CASE(CPPTYPE_STRING, String)
    CRMSYNC_CASE(CPPTYPE_ENUM, EnumValue)
#undef CRMSYNC_CASE
    case FD::CPPTYPE_MESSAGE: {
      pb::Message* copy = rd->MutableMessage(dst, leaf);
      copy->CopyFrom(rs->GetMessage(src, leaf));
      StripEmptyMessages(copy);  // nested messages holding nothing are unset
      break;
    }
  }
}

bool IsIntegerLeaf(const FieldPath& path) {
  const FD* f = path.leaf();
  if (f->is_repeated()) return false;
  switch (f->cpp_type()) {
    case FD::CPPTYPE_INT32:
    case FD::CPPTYPE_INT64:
    case FD::CPPTYPE_UINT32:
    case FD::CPPTYPE_UINT64: return true;
    default: return false;
  }
}

bool IsRepeatedScalarLeaf(const FieldPath& path) {
  const FD* f = path.leaf();
  if (!f->is_repeated() || f->is_map()) return false;
  switch (f->cpp_type()) {
    case FD::CPPTYPE_MESSAGE:
    case FD::CPPTYPE_DOUBLE:
    case FD::CPPTYPE_FLOAT: return false;
    default: return true;
  }
}

int64_t GetPathInt(const pb::Message& m, const FieldPath& path) {
  const pb::Message& parent = ParentOrDefault(m, path);
  const pb::Reflection* r = parent.GetReflection();
  const FD* f = path.leaf();
  switch (f->cpp_type()) {
    case FD::CPPTYPE_INT32: return r->GetInt32(parent, f);
    case FD::CPPTYPE_INT64: return r->GetInt64(parent, f);
    case FD::CPPTYPE_UINT32: return r->GetUInt32(parent, f);
    case FD::CPPTYPE_UINT64: {
      const uint64_t v = r->GetUInt64(parent, f);
      return v > uint64_t{std::numeric_limits<int64_t>::max()} ? std::numeric_limits<int64_t>::max()
                                                               : static_cast<int64_t>(v);
    }
    default: return 0;
  }
}

Status SetPathInt(pb::Message* m, const FieldPath& path, int64_t value) {
  const FD* f = path.leaf();
  auto out_of_range = [&] {
    return Status::InvalidArgument("value " + std::to_string(value) + " does not fit field '" +
                                   path.text + "'");
  };
  switch (f->cpp_type()) {
    case FD::CPPTYPE_INT32:
      if (value < std::numeric_limits<int32_t>::min() ||
          value > std::numeric_limits<int32_t>::max()) {
        return out_of_range();
      }
      break;
    case FD::CPPTYPE_UINT32:
      if (value < 0 || value > std::numeric_limits<uint32_t>::max()) {
        return out_of_range();
      }
      break;
    case FD::CPPTYPE_UINT64:
      if (value < 0) return out_of_range();
      break;
    case FD::CPPTYPE_INT64: break;
    default: return Status::InvalidArgument("field '" + path.text + "' is not an integer");
  }
  pb::Message* dst = m;
  for (size_t i = 0; i + 1 < path.fields.size(); ++i) {
    const pb::Reflection* r = dst->GetReflection();
    if (value == 0 && !r->HasField(*dst, path.fields[i])) return Status::Ok();
    dst = r->MutableMessage(dst, path.fields[i]);
  }
  const pb::Reflection* r = dst->GetReflection();
  switch (f->cpp_type()) {
    case FD::CPPTYPE_INT32: r->SetInt32(dst, f, static_cast<int32_t>(value)); break;
    case FD::CPPTYPE_UINT32: r->SetUInt32(dst, f, static_cast<uint32_t>(value)); break;
    case FD::CPPTYPE_UINT64: r->SetUInt64(dst, f, static_cast<uint64_t>(value)); break;
    default: r->SetInt64(dst, f, value); break;
  }
  return Status::Ok();
}

static bool MessageIsEmpty(const pb::Message& m) { return m.ByteSizeLong() == 0; }

static void DiffInto(const pb::Message& a, const pb::Message& b, const std::string& prefix,
                     std::vector<std::string>* out) {
  const pb::Descriptor* d = a.GetDescriptor();
  const pb::Reflection* ra = a.GetReflection();
  const pb::Reflection* rb = b.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FD* f = d->field(i);
    const std::string name = prefix.empty() ? f->name() : prefix + "." + f->name();
    if (f->cpp_type() == FD::CPPTYPE_MESSAGE && !f->is_repeated()) {
      const bool ha = ra->HasField(a, f);
      const bool hb = rb->HasField(b, f);
      if (ha && hb) {
        DiffInto(ra->GetMessage(a, f), rb->GetMessage(b, f), name, out);
      } else if (ha != hb) {
        const pb::Message& present = ha ? ra->GetMessage(a, f) : rb->GetMessage(b, f);
        if (!MessageIsEmpty(present) || f->containing_oneof() != nullptr) {
          out->push_back(name);
        }
      }
      continue;
    }
    if (IsKeyedMapField(f)) {
      for (const std::string& key : DifferingKeys(a, b, f)) out->push_back(name + "." + key);
      continue;
    }
    if (!LeafEqual(a, b, f)) out->push_back(name);
  }
}

std::vector<std::string> DiffPaths(const pb::Message& a, const pb::Message& b) {
  std::vector<std::string> out;
  if (a.GetDescriptor() != b.GetDescriptor()) return out;
  DiffInto(a, b, "", &out);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace crmsync::sync
