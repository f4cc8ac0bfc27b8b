// How AdminService changes synced records: as ordinary mutations pushed
// through PushHandler from a server-side device of the tenant, so they merge,
// conflict and sync like any device's edit. No gRPC here.
//
// The device ("server-admin-console", platform "server") is registered on
// first use. Its client_seq values come from the tenant's claim counter
// "admin-console-seq" (WriteTx::AddToClaim, in a transaction of its own
// before each push): the counter lives in the store, so the sequence keeps
// increasing across restarts and is unique across server instances sharing
// the store. A claimed value whose push then fails is simply never used.
#ifndef CRMSYNC_SERVER_ADMIN_WRITER_H_
#define CRMSYNC_SERVER_ADMIN_WRITER_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "crmsync/v1/sync.pb.h"
#include "logic/clock.h"
#include "logic/principal.h"
#include "logic/push_handler.h"
#include "store/store.h"

namespace crmsync::server {

// Id of the server-side device AdminService writes from (one per tenant).
inline constexpr char kAdminDeviceId[] = "server-admin-console";
// Claim counter that hands out that device's client_seq values.
inline constexpr char kAdminSeqClaim[] = "admin-console-seq";
// Platform of the devices the server itself writes from (the admin console,
// bulk imports, the demo seed).
inline constexpr char kServerDevicePlatform[] = "server";

// Whether `d` is a device the server itself writes from (demo seed, admin
// console) rather than a user's device.
bool IsServerDevice(const v1::Device& d);

// The row of a server-side device `id` of `who`'s tenant, registered now.
DeviceRow ServerDeviceRow(const Principal& who, const std::string& id, int64_t now_ms);

class AdminWriter {
 public:
  // Pointers must outlive the writer. Thread-safe.
  AdminWriter(ChangeLog* changes, Directory* directory, Clock* clock, PushHandler* push)
      : changes_(changes), directory_(directory), clock_(clock), push_(push) {}

  // Pushes `m` (record, operation, mask, values, base_version and
  // conflict_id set by the caller) for admin `who`; fills client_seq, hlc
  // and provenance. Returns the mutation's result (which may be REJECTED);
  // a non-OK status is a store or push failure.
  absl::StatusOr<v1::MutationResult> Apply(const Principal& who, v1::Mutation m);

 private:
  absl::Status EnsureDevice(const Principal& who);
  absl::StatusOr<int64_t> NextClientSeq(const std::string& tenant_id);

  ChangeLog* changes_;
  Directory* directory_;
  Clock* clock_;
  PushHandler* push_;
};

// Calls `fn` with every live (not deleted) record of `type` in feed order,
// starting after feed position `after`, until it returns false. Returns the
// feed position of the last record passed to `fn` (or where the scan ended).
absl::StatusOr<int64_t> ScanRecords(ChangeLog* changes, const std::string& tenant_id,
                                    v1::EntityType type, int64_t after,
                                    const std::function<bool(const v1::RecordState&)>& fn);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_ADMIN_WRITER_H_
