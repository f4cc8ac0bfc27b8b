// Field paths over protobuf reflection: "phone", "billing_address.city".
//
// A path is a FieldMask path relative to an entity message. Every segment but
// the last names a singular message field; the last may name any field
// (scalar, enum, message, repeated). A path naming a whole nested message
// addresses (and replaces) the whole message.
//
// Unset intermediate messages read as their default instance, so reading a
// path never fails once it has been resolved. All functions are pure and
// thread-compatible (they touch only the messages passed in).
#ifndef CRMSYNC_SYNC_FIELD_PATH_H_
#define CRMSYNC_SYNC_FIELD_PATH_H_

#include <string>
#include <string_view>
#include <vector>

#include "crmsync/sync/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace crmsync::sync {

// A resolved path: one FieldDescriptor per segment, and the entry's key when
// the path ends in a key of a map field (then leaf() is the map field).
struct FieldPath {
  std::string text;
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  std::string map_key;

  const google::protobuf::FieldDescriptor* leaf() const { return fields.back(); }
  bool names_map_entry() const { return !map_key.empty(); }
};

// Whether `name` may be a key of a map field in a path: 1..64 characters of
// [a-z0-9_], starting with a letter.
bool IsValidMapKey(std::string_view name);

// Resolves `path` against `type`. Fails (kInvalidArgument, naming the bad
// segment) when a segment does not exist, a non-final segment is not a
// singular message field (or a string-keyed map field followed by one key),
// or a map key is not IsValidMapKey.
Result<FieldPath> ResolveFieldPath(const google::protobuf::Descriptor* type, std::string_view path);

// Whether `field` is a map keyed by strings, whose entries paths name one by
// one ("custom.region").
bool IsKeyedMapField(const google::protobuf::FieldDescriptor* field);

// The paths of the entries of keyed map `field` present in `a` or `b` (same
// message type), "field.key", sorted.
std::vector<std::string> KeyedMapPaths(const google::protobuf::Message& a,
                                       const google::protobuf::Message& b,
                                       const google::protobuf::FieldDescriptor* field);

// True if `path` is `ancestor` or lies below it ("a.b" is under "a").
bool PathIsUnder(std::string_view path, std::string_view ancestor);

// True if the value at `path` is equal in `a` and `b` (same message type).
// Unset messages equal their default instance; repeated fields compare
// element by element, in order.
bool PathValuesEqual(const google::protobuf::Message& a, const google::protobuf::Message& b,
                     const FieldPath& path);

// True if the value at `path` in `m` is the default (unset, empty, zero).
bool PathIsDefault(const google::protobuf::Message& m, const FieldPath& path);

// Copies the value at `path` from `from` into `to` (same message type),
// creating intermediate messages in `to` as needed; a default value clears
// the field in `to` (and does not create intermediate messages), and then
// clears each message on the path that it left empty. Copied messages lose
// their empty sub-messages (StripEmptyMessages): what this writes is in the
// one form records are stored and replicated in, where an empty message is
// unset.
void CopyPathValue(const google::protobuf::Message& from, const FieldPath& path,
                   google::protobuf::Message* to);

// The message holding the leaf of `path` in `m`, or nullptr when an
// intermediate message is unset.
const google::protobuf::Message* PathParent(const google::protobuf::Message& m,
                                            const FieldPath& path);

// Integer value of a singular integer leaf (int32/int64/uint32/uint64 and
// their sint/fixed variants); 0 when unset.
int64_t GetPathInt(const google::protobuf::Message& m, const FieldPath& path);
// Sets a singular integer leaf. Fails when `value` does not fit the field.
Status SetPathInt(google::protobuf::Message* m, const FieldPath& path, int64_t value);
// True if the leaf is a singular integer field (counter-capable).
bool IsIntegerLeaf(const FieldPath& path);
// True if the leaf is a repeated scalar (string, bytes, integer, enum, bool)
// field (set-capable).
bool IsRepeatedScalarLeaf(const FieldPath& path);

// Field mask (sorted, deepest paths that differ) between two messages of the
// same type: nested messages present on both sides are compared field by
// field; a nested message present on one side only is one path; a
// string-keyed map gives one path per key whose entry differs.
std::vector<std::string> DiffPaths(const google::protobuf::Message& a,
                                   const google::protobuf::Message& b);

}  // namespace crmsync::sync

#endif  // CRMSYNC_SYNC_FIELD_PATH_H_
