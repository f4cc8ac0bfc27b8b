// What the sync engine tells the app about (see SyncEngine callbacks).
#ifndef CRMSYNC_CLIENT_EVENTS_H_
#define CRMSYNC_CLIENT_EVENTS_H_

#include <cstdint>
#include <string>

#include "crmsync/v1/sync.pb.h"

namespace crmsync::client {

namespace v1 = ::crmsync::v1;

// The server's answer to one pushed local edit that the user should know
// about: CONFLICT (a manual conflict was opened; the Conflict records arrive
// with the next pull), REJECTED (nothing applied; the local record was
// restored to the server's state) or MERGED (some fields kept the server's
// value).
struct PushEvent {
  v1::Mutation mutation;
  v1::MutationResult result;
};

// A record of the local view changed because of sync (not a local write).
struct ChangeEvent {
  enum class Kind { kUpserted, kRemoved };
  Kind kind = Kind::kUpserted;
  v1::RecordRef ref;
};

}  // namespace crmsync::client

#endif  // CRMSYNC_CLIENT_EVENTS_H_
