// The record model: v1::Record's entity oneof handled by reflection, so no
// code here is specific to one entity type.
//
// All functions are pure and thread-compatible.
#ifndef CRMSYNC_SYNC_RECORD_MODEL_H_
#define CRMSYNC_SYNC_RECORD_MODEL_H_

#include <string>
#include <string_view>
#include <vector>

#include "crmsync/sync/field_path.h"
#include "crmsync/sync/status.h"
#include "crmsync/v1/entities.pb.h"
#include "crmsync/v1/sync.pb.h"
#include "google/protobuf/field_mask.pb.h"

namespace crmsync::sync {

namespace v1 = ::crmsync::v1;

// Descriptor of the entity message for `type` (e.g. v1::Lead for
// ENTITY_TYPE_LEAD), or nullptr for UNSPECIFIED / unknown values.
const google::protobuf::Descriptor* EntityDescriptor(v1::EntityType type);

// The entity type held by `record` (UNSPECIFIED when the oneof is empty).
v1::EntityType EntityTypeOf(const v1::Record& record);

// The entity held by `record`, or nullptr when the oneof is empty.
const google::protobuf::Message* EntityOf(const v1::Record& record);

// The entity of `type` in `record`, switching the oneof to `type` (and
// creating an empty entity) if it holds something else. Never null for a
// valid `type`; the message is owned by `record`.
google::protobuf::Message* MutableEntity(v1::Record* record, v1::EntityType type);

// The entity of `type` in `record` or the type's default instance when the
// record holds nothing (or another type). Nullptr only for invalid types.
const google::protobuf::Message* EntityOrDefault(const v1::Record& record, v1::EntityType type);

// Lower-case name used in configuration ("lead", "calendar_event") and
// its inverse (UNSPECIFIED when unknown).
std::string EntityTypeName(v1::EntityType type);
v1::EntityType EntityTypeFromName(std::string_view name);

// Applies the masked fields of `partial` to `target` (both of entity type
// `type`; `target` is switched to `type` if needed). Fails on a bad path;
// `target` is untouched then.
Status ApplyFieldMask(const v1::Record& partial, const google::protobuf::FieldMask& mask,
                      v1::EntityType type, v1::Record* target);

// The paths whose values differ between two versions of an entity (see
// DiffPaths). Records of different types differ everywhere: returns every
// non-default path of `after`.
google::protobuf::FieldMask ComputeFieldMask(const v1::Record& before, const v1::Record& after);

// A Record holding only the value at `path` of `source` (type `type`).
v1::Record ExtractPath(const v1::Record& source, v1::EntityType type, const FieldPath& path);

// Scope keys read from the entity's fields that have a scope role in the
// entity catalog (entity_catalog.h, ScopeKeysOfEntity).
v1::ScopeKeys ScopeKeysOf(const v1::Record& record);

// Whether the field path (or the top-level field it is under) is one that
// decides who receives records of `type`: a field with a scope role in the
// entity catalog.
bool IsScopeField(v1::EntityType type, const std::string& path);

// Clears every singular message field (recursively) that is set but holds
// only default values. The record model treats such a field like an unset
// one (PathIsDefault), so stored and replicated data are kept in this form:
// otherwise a present-but-empty message, which field-level deltas never
// carry, would make a server record and its replica differ in bytes.
void StripEmptyMessages(google::protobuf::Message* message);

// Checks a Mutation's shape (not its merge against stored data): record ref
// present with a non-empty id; a known operation; `values` (and
// `base_values`, when set) hold the entity type named by the ref; every mask
// path exists on that entity, appears once and does not overlap another;
// `id` is masked only on a create (base_version 0) and then equals the ref's
// id; operation-specific rules (INCREMENT only on integer fields, SET_ADD and
// SET_REMOVE only on repeated scalar fields, DELETE without mask, REDEEM only
// on redemptions, RESOLVE_CONFLICT with a conflict id and at most one path).
// Returns kInvalidArgument with a message naming the problem.
Status ValidateMutation(const v1::Mutation& m);

// The device that made a mutation: provenance.device_id, else hlc.node_id.
const std::string& MutationDeviceId(const v1::Mutation& m);

}  // namespace crmsync::sync

#endif  // CRMSYNC_SYNC_RECORD_MODEL_H_
