// What a device re-sends after the server's change history changed (it was
// restored from a backup): the values its replica held that the restored
// server no longer has. Pure; used by Database::SyncAccess::FinishReset.
#ifndef CRMSYNC_CLIENT_SRC_RECOVERY_H_
#define CRMSYNC_CLIENT_SRC_RECOVERY_H_

#include <optional>
#include <vector>

#include "crmsync/client/database.h"

namespace crmsync::client::internal {

// One local write to queue: `create` for a record the server lacks. `hlc`
// is the clock reading of the write it re-sends (unset: a new reading), so
// the server orders re-sends of several devices by when each value was
// first written, not by which device recovered last.
struct RecoveryEdit {
  LocalEdit edit;
  bool create = false;
  v1::HlcTimestamp hlc;
};

// Compares `held` (the replica's copy before the re-bootstrap, from the old
// history) with `server` (the record as the restored server has it now;
// nullopt when the bootstrap did not return it):
// - a CRM record (account, contact, lead, opportunity, activity, calendar
//   event) the server lacks is re-created with every field the device held;
// - for a record both hold, each field whose last write the device knew of
//   is later (by hybrid logical clock) than the server's, and whose value
//   differs, is re-sent: as an increment of the difference for a counter
//   field (loyalty points), as an update for any other field.
// - a CRM record the device holds deleted and the server holds live is
//   deleted again when the device's delete is later (by hybrid logical
//   clock) than the server's last change of it; one the server lacks
//   altogether is deleted again too (with the scope the device held), so
//   the server keeps a tombstone that outranks an older copy another
//   device re-creates.
// Updates are grouped by the clock reading of the held fields: one edit per
// reading, each carrying it.
// Conflicts, coupons, redemptions and stores are not re-sent (their writes
// are the server's or the admin's). Versions are not
// compared: they count changes of another history.
std::vector<RecoveryEdit> RecoveryEdits(const v1::RecordState& held,
                                        const std::optional<v1::RecordState>& server);

}  // namespace crmsync::client::internal

#endif  // CRMSYNC_CLIENT_SRC_RECOVERY_H_
