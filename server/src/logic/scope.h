// Who may read and write which record: the server-side scope rules
// (docs/protocol.md, "Scopes"). Pure functions; thread-safe.
#ifndef CRMSYNC_SERVER_LOGIC_SCOPE_H_
#define CRMSYNC_SERVER_LOGIC_SCOPE_H_

#include "crmsync/v1/sync.pb.h"
#include "principal.h"

namespace crmsync::server {

// Whether `who` receives a record of `type` whose scope keys are `scope`:
//  admin           everything in the tenant;
//  sales manager   records of their team, and records they own;
//  sales rep       records they own, and team-visible records of their team;
//  store terminal  coupons and loyalty accounts of its store, redemptions it
//                  made;
//  everyone        stores (reference data).
// Conflicts follow their owner_user_id like any owned record.
bool CanRead(const Principal& who, ::crmsync::v1::EntityType type,
             const ::crmsync::v1::ScopeKeys& scope);

// Whether `who` may change a record of `type` with `scope` with `operation`.
// Terminals may only redeem coupons and add to loyalty points; coupons and
// stores are changed by admins only; otherwise writing needs read scope.
bool CanWrite(const Principal& who, ::crmsync::v1::EntityType type,
              const ::crmsync::v1::ScopeKeys& scope, ::crmsync::v1::Operation operation);

// Adds the scope keys the generic derivation (sync::ScopeKeysOf) cannot
// know: a loyalty account belongs to the terminals of its home store; an
// inactive (or exhausted) coupon belongs to no terminal.
void CompleteScopeKeys(const ::crmsync::v1::Record& data, ::crmsync::v1::ScopeKeys* scope);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_SCOPE_H_
