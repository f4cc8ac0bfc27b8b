// The change feed and the device-side replica: turning a stored record into
// a Change for a reader, applying Changes and pending local mutations to a
// replica, and a canonical encoding of a replica for checksums.
//
// All functions are pure and thread-compatible.
#ifndef CRMSYNC_SYNC_CHANGE_H_
#define CRMSYNC_SYNC_CHANGE_H_

#include <cstdint>
#include <string>

#include "crmsync/sync/status.h"
#include "crmsync/v1/sync.pb.h"

namespace crmsync::sync {

namespace v1 = ::crmsync::v1;

// The Change a reader at `since_version` needs to catch up with `state`:
//  - deleted state: a TOMBSTONE (ref, version, scope, hlc; no values);
//  - `full`, or the record is new to the reader (created_version >
//    since_version): UPSERT with every non-default top-level field and every
//    field state;
//  - otherwise UPSERT with the paths whose FieldState.version > since_version
//    (a path whose ancestor is also listed is left out) and their states.
// Change.seq is set to state.version (the caller may overwrite it).
v1::Change BuildChange(const v1::RecordState& state, int64_t since_version, bool full);
// The same, written into `*out` (cleared first), so a reply can build its
// changes in place (on its own arena, say) without a copy.
void BuildChangeInto(const v1::RecordState& state, int64_t since_version, bool full,
                     v1::Change* out);

// What ApplyChange did to the replica.
enum class ReplicaAction {
  // The replica was created or updated.
  kUpdated,
  // Nothing to do: the change is not newer than the replica.
  kUnchanged,
  // The change is a LEFT_SCOPE or ERASED notice: the caller drops the record
  // from its store (the replica is left as it was).
  kRemove,
};

// Applies a pulled Change to a device replica (device side). `replica` may
// be empty (a record new to the device). Idempotent: a change whose version
// is not above replica->version() is ignored (kUnchanged). Fails
// (kInvalidArgument) when the change names another record than a non-empty
// replica, has an unknown kind, or a bad path; the replica is untouched then.
Result<ReplicaAction> ApplyChange(v1::RecordState* replica, const v1::Change& change);

// The optimistic local view of a pending mutation (device side; used to show
// edits at once and to rebase pending edits on fresh server state). UPSERT,
// REDEEM and RESOLVE_CONFLICT write the masked values; INCREMENT adds;
// SET_ADD/SET_REMOVE add or remove elements (kept sorted as on the server);
// DELETE marks the replica deleted and keeps only the id. Versions and field
// states are not touched (the server assigns them). An empty `local` becomes
// the new record. Fails (kInvalidArgument) on an invalid mutation or one
// naming another record; `local` is untouched then.
Status ApplyMutationLocally(v1::RecordState* local, const v1::Mutation& m);

// A deterministic byte encoding of a replica's user-visible content: entity
// type, id, version, deleted flag and data (deterministic protobuf
// serialisation). Equal content gives equal bytes on every platform running
// the same schema. Field metadata, scope and clocks are not included. The
// server and SDK hash these bytes (sync/ does no hashing).
std::string CanonicalBytes(const v1::RecordState& state);

}  // namespace crmsync::sync

#endif  // CRMSYNC_SYNC_CHANGE_H_
