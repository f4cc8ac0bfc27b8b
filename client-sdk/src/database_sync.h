// The sync engine's access to the Database: each method is one transaction
// that adopts what the server said and rebases pending local edits on it.
#ifndef CRMSYNC_CLIENT_SRC_DATABASE_SYNC_H_
#define CRMSYNC_CLIENT_SRC_DATABASE_SYNC_H_

#include <vector>

#include "crmsync/client/database.h"
#include "crmsync/client/events.h"

namespace crmsync::client {

class Database::SyncAccess {
 public:
  explicit SyncAccess(Database* db) : db_(db) {}

  const std::string& device_id() const { return db_->device_id_; }
  absl::StatusOr<std::string> Cursor() { return db_->Cursor(); }
  absl::StatusOr<bool> Offline() { return db_->Offline(); }
  absl::StatusOr<int64_t> PendingCount() { return db_->PendingCount(); }
  absl::StatusOr<std::vector<PendingMutation>> OutboxBatch(int limit);

  // Adopts the results of a pushed batch in one transaction: acknowledged
  // entries leave the outbox, the result's record becomes the replica
  // (when newer), the local view is rebased; conflicts, rejections and
  // merges become notices. Returns the events to report.
  absl::StatusOr<std::vector<PushEvent>> ApplyPushResults(const std::vector<v1::Mutation>& sent,
                                                          const v1::PushResponse& response,
                                                          std::vector<ChangeEvent>* changes);

  // Applies a pulled page and its next cursor in one transaction.
  absl::StatusOr<std::vector<ChangeEvent>> ApplyPullPage(const v1::PullResponse& page);

  // Starts a re-bootstrap: cursor cleared, every replica record marked
  // stale (kept visible until the bootstrap completes), the outbox kept.
  // With `recover` (the server's history changed), the replica is also
  // kept aside, unless a recovery is already pending.
  absl::Status BeginReset(bool recover = false);
  // After a pull caught up: if a re-bootstrap was running, drops the records
  // it did not see again and, after a history change, queues (as outbox
  // entries marked `recovered`) what the kept replica held that the server
  // lacks (see recovery.h). Returns the removals and recovered records.
  absl::StatusOr<std::vector<ChangeEvent>> FinishReset();
  // FinishReset's recovery step (lock and transaction held by the caller):
  // `stale` are the records the bootstrap did not return.
  absl::Status RecoverLocked(const std::vector<v1::RecordRef>& stale,
                             std::vector<ChangeEvent>* events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_->mu_);

  // The checksum of the replica (server states only), computed like the
  // server's GetChecksum.
  absl::StatusOr<v1::GetChecksumResponse> LocalChecksum();

  absl::Status ObserveServerHlc(const v1::HlcTimestamp& server);
  absl::Status SetLastSync(int64_t now_ms);
  // When the last checksum repair ran (0 = never).
  absl::StatusOr<int64_t> LastRepairMs();
  absl::Status SetLastRepairMs(int64_t now_ms);
  absl::Status Wipe() { return db_->Wipe(); }

 private:
  Database* db_;
};

}  // namespace crmsync::client

#endif  // CRMSYNC_CLIENT_SRC_DATABASE_SYNC_H_
