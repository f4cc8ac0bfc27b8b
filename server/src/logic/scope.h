// Who may read and write which record: the server-side scope rules
// (docs/protocol.md, "Scopes"), keyed by each entity type's access rule in
// the entity catalog (sync/entity_catalog.h, options.proto AccessRule).
// Pure functions; thread-safe.
#ifndef CRMSYNC_SERVER_LOGIC_SCOPE_H_
#define CRMSYNC_SERVER_LOGIC_SCOPE_H_

#include "crmsync/sync/entity_catalog.h"
#include "crmsync/v1/sync.pb.h"
#include "principal.h"

namespace crmsync::server {

// Whether `who` receives a record of the type `spec` whose scope keys are
// `scope`:
//  admin           everything in the tenant;
//  access CRM      sales managers: records of their team and records they
//                  own; sales reps: records they own and team-visible
//                  records of their team (conflicts follow their owner);
//  access STORE    store terminals of one of the record's stores;
//  access DEVICE   the store terminal the record names;
//  access REFERENCE every signed-in user;
//  integrations    every record of the entity types they were granted
//                  (all types when none were named), whatever its access.
bool CanRead(const Principal& who, const sync::EntitySpec& spec,
             const ::crmsync::v1::ScopeKeys& scope);
// The same for a type of the default catalog (false for unknown types,
// except for admins).
bool CanRead(const Principal& who, ::crmsync::v1::EntityType type,
             const ::crmsync::v1::ScopeKeys& scope);

// Whether `who` may change a record of the type `spec` with `scope` with
// `operation`: admins always; store terminals only the type's
// terminal_operations (on a record of their store, for access STORE); the
// sales force only records of access CRM within their read scope;
// integrations records of access CRM of their entity types, except
// conflicts and possible duplicates, and neither RESOLVE_CONFLICT nor
// MERGE.
bool CanWrite(const Principal& who, const sync::EntitySpec& spec,
              const ::crmsync::v1::ScopeKeys& scope, ::crmsync::v1::Operation operation);
bool CanWrite(const Principal& who, ::crmsync::v1::EntityType type,
              const ::crmsync::v1::ScopeKeys& scope, ::crmsync::v1::Operation operation);

// Whether an integration's grant covers `type` (every type when it names
// none).
bool IntegrationCovers(const Principal& who, ::crmsync::v1::EntityType type);

// Whether two scopes are the same.
bool SameScope(const ::crmsync::v1::ScopeKeys& a, const ::crmsync::v1::ScopeKeys& b);

// Adds the scope keys the generic derivation (sync::ScopeKeysOf) cannot
// know: a record with a HOME_STORE field belongs to the terminals of that
// store too; an inactive (or exhausted) coupon belongs to no terminal.
void CompleteScopeKeys(const ::crmsync::v1::Record& data, ::crmsync::v1::ScopeKeys* scope);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_SCOPE_H_
