// The entity catalog: what crmsync knows about each entity type, read once
// from the custom options of the proto (crmsync/v1/options.proto) on the
// messages of the Record oneof and on their fields. Server and SDK take every
// type-specific rule from here: scope keys and scope fields, who may read and
// write (AccessRule), personal data for erasure, recovery after a restore,
// value kinds and ranges for validation, default conflict policies.
//
// Adding an entity type is a proto change only (proto/README.md has the
// recipe): a oneof member of Record with its EntityRules, FieldRules on the
// fields that need them, and the EntityType value of the same number. Build
// refuses a catalog whose options are missing or inconsistent, and
// EntityCatalogTest builds one for every Record.
//
// Pure: reads descriptors only. Thread-safe once built (Default() is built
// on first use).
#ifndef CRMSYNC_SYNC_ENTITY_CATALOG_H_
#define CRMSYNC_SYNC_ENTITY_CATALOG_H_

#include <string>
#include <string_view>
#include <vector>

#include "crmsync/sync/status.h"
#include "crmsync/v1/entities.pb.h"
#include "crmsync/v1/options.pb.h"
#include "crmsync/v1/sync.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace crmsync::sync {

namespace v1 = ::crmsync::v1;

// One top-level field of an entity that decides who receives its record.
struct ScopeField {
  const google::protobuf::FieldDescriptor* field = nullptr;
  v1::ScopeRole role = v1::SCOPE_ROLE_UNSPECIFIED;
};

// One entity type: a member of the Record oneof.
struct EntitySpec {
  // The oneof field number, equal to the v1::EntityType value.
  int number = 0;
  // The oneof field name, used in configuration: "lead", "calendar_event".
  std::string name;
  const google::protobuf::Descriptor* descriptor = nullptr;
  v1::EntityRules rules;
  // rules.terminal_operations, parsed.
  std::vector<v1::Operation> terminal_operations;
  // rules.default_policy, parsed (UNSPECIFIED when not set).
  v1::ConflictPolicy default_policy = v1::CONFLICT_POLICY_UNSPECIFIED;
  // Fields with a scope role, in field-number order.
  std::vector<ScopeField> scope_fields;

  v1::EntityType type() const { return static_cast<v1::EntityType>(number); }
  v1::AccessRule access() const { return rules.access(); }
  // The first field with `role`, or nullptr.
  const google::protobuf::FieldDescriptor* FieldWithRole(v1::ScopeRole role) const;
  // Whether `path` (or the top-level field it is under) is a scope field.
  bool IsScopeField(std::string_view path) const;
  // Whether a store terminal may apply `operation` to records of this type.
  bool TerminalMay(v1::Operation operation) const;
};

class EntityCatalog {
 public:
  // The catalog of v1::Record. Built on first use; a proto whose options
  // are inconsistent throws std::logic_error there (EntityCatalogTest
  // catches it first).
  static const EntityCatalog& Default();

  // Reads the `entity` oneof of `record` (a message shaped like v1::Record,
  // e.g. a test's own). Refuses: a member that is not a message, lacks
  // EntityRules or an access rule, names an unknown terminal operation or
  // policy, or gives a scope role to a field of the wrong type.
  static Result<EntityCatalog> Build(const google::protobuf::Descriptor* record);

  // nullptr for UNSPECIFIED and unknown types.
  const EntitySpec* Find(v1::EntityType type) const;
  const EntitySpec* FindByName(std::string_view name) const;
  const std::vector<EntitySpec>& entities() const { return entities_; }

 private:
  std::vector<EntitySpec> entities_;
};

// The FieldRules of `field` (an entity's or any nested message's); the
// default instance when it has none.
const v1::FieldRules& FieldRulesOf(const google::protobuf::FieldDescriptor* field);

// The scope keys of `entity` (a message of `spec`'s type): owner, team,
// visibility, territory, stores (sorted, unique) and device from the fields
// with those roles. HOME_STORE fields are not read here (the server adds the
// home store to a record's stores, see CompleteScopeKeys).
v1::ScopeKeys ScopeKeysOfEntity(const EntitySpec& spec, const google::protobuf::Message& entity);

// The inverse: writes `keys` into the fields of `entity` that have a scope
// role (owner, team, visibility, territory, stores, device), so that
// ScopeKeysOfEntity(spec, entity) gives `keys` back (a single-store field
// takes the first store). Used for a tombstone that must carry its scope.
void SetScopeKeysOfEntity(const EntitySpec& spec, const v1::ScopeKeys& keys,
                          google::protobuf::Message* entity);

// Parses an operation name ("redeem", "increment"); UNSPECIFIED when
// unknown. (Policy names: PolicyFromName in policy_table.h.)
v1::Operation OperationFromName(std::string_view name);

}  // namespace crmsync::sync

#endif  // CRMSYNC_SYNC_ENTITY_CATALOG_H_
