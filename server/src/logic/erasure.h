// The erased tombstone (docs/protocol.md, "Erasure"): how Push, Pull and
// AdminService recognise a record erased on a person's request.
#ifndef CRMSYNC_SERVER_LOGIC_ERASURE_H_
#define CRMSYNC_SERVER_LOGIC_ERASURE_H_

#include "crmsync/v1/sync.pb.h"

namespace crmsync::server {

// Field-state key that marks an erased tombstone; Pull turns such a
// tombstone into CHANGE_KIND_ERASED and Push refuses every write to it.
inline constexpr char kErasedMarker[] = "_erased";

// Whether `state` is the tombstone left by an erasure.
inline bool IsErased(const v1::RecordState& state) {
  return state.deleted() && state.fields().count(kErasedMarker) > 0;
}

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_ERASURE_H_
