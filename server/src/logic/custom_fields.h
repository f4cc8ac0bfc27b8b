// Custom fields: the fields a tenant's admin adds to an entity type
// (v1::CustomField records, reference data synced to every device), and the
// checks of their values in the push path.
//
// A record holds its custom values in its entity's `custom` map; to the sync
// core each entry is one field ("custom.region"), merged, stamped and
// replicated like a built-in one. The server checks every written entry
// against its definition (kind, required, length, range, pattern, options),
// refuses entries without a definition or of a removed one, and merges each
// with the definition's policy. Definitions are read from the store's record
// index (one read per entity type and push batch), so a new field needs no
// restart, on every instance sharing the store.
#ifndef CRMSYNC_SERVER_LOGIC_CUSTOM_FIELDS_H_
#define CRMSYNC_SERVER_LOGIC_CUSTOM_FIELDS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crmsync/sync/policy_table.h"
#include "crmsync/v1/sync.pb.h"
#include "entity_hooks.h"
#include "store/change_log.h"

namespace crmsync::server {

// The name of the map field that holds an entity's custom values.
inline constexpr char kCustomMapField[] = "custom";

// Whether records of `type` can hold custom fields.
bool HasCustomFields(v1::EntityType type);

// The id of the definition of `name` on `type`: "lead.region".
std::string CustomFieldId(v1::EntityType type, const std::string& name);

// The definitions of one entity type, by name (removed ones included).
using CustomFieldSet = std::map<std::string, v1::CustomField>;

// The definitions of `type` as `tx` sees them.
absl::StatusOr<CustomFieldSet> LoadCustomFields(WriteTx& tx, v1::EntityType type);
// The same on committed data.
absl::StatusOr<CustomFieldSet> LoadCustomFields(ChangeLog& changes, const std::string& tenant_id,
                                                v1::EntityType type);

// Whether `m` writes custom values (a mask path "custom.<name>", or a create
// without a mask whose values hold some) or creates a record (required
// fields): whether CheckCustomValues needs the definitions.
bool NeedsCustomFields(const v1::Mutation& m, const v1::RecordState* current);

// INVALID_ARGUMENT naming the field when `m` (an upsert of a record of a type
// with custom fields, `current` its stored state or nullptr) writes a custom
// value that its definition refuses, writes one without a definition or of a
// removed one, clears a required one, or creates a record without a required
// one.
absl::Status CheckCustomValues(const CustomFieldSet& fields, const v1::Mutation& m,
                               const v1::RecordState* current);

// `base` with the policy of every custom field of `m`'s mask added.
sync::PolicyTable WithCustomPolicies(const sync::PolicyTable& base, const CustomFieldSet& fields,
                                     const v1::Mutation& m);

// INVALID_ARGUMENT naming the problem when `field` is not a valid definition,
// or cannot replace `previous` (nullptr for a new one): its id must be
// "<type>.<name>", the type one with custom fields, the name a valid field
// name; a known kind that never changes once defined; options only (and then
// at least one, unique) for ONE_OF and MULTI_SELECT; bounds only for the
// kinds they fit, in order; a pattern that RE2 compiles; a policy that fits
// one value (lww, server_wins, client_wins, provenance, manual).
absl::Status ValidateCustomField(const v1::CustomField& field, const v1::CustomField* previous);

// Hooks of ENTITY_TYPE_CUSTOM_FIELD: definitions are checked
// (ValidateCustomField) and indexed by entity type.
const EntityHooks& CustomFieldHooks();

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_CUSTOM_FIELDS_H_
