// Open conflicts per owner, for the admin views (Device.pending_conflicts,
// GetStats.open_conflicts), kept without walking the change feed per call.
//
// Per tenant it remembers the open conflicts it has seen and the feed
// position it has read through; each call reads only the conflicts changed
// since (ChangeLog::ReadTypeSince, an index range), so a call costs one
// feed-state read and, usually, an empty index range. The feed is
// gap-free (docs/storage.md), so reading on from the last position misses
// nothing committed by this or any other instance. What a position cannot
// cover makes it start over: a new change history (a restored store),
// a feed behind the position, or pruning past it (a tombstone that closed
// a conflict may be gone).
#ifndef CRMSYNC_SERVER_ADMIN_OPEN_CONFLICTS_H_
#define CRMSYNC_SERVER_ADMIN_OPEN_CONFLICTS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "store/change_log.h"

namespace crmsync::server {

class OpenConflicts {
 public:
  // Rows read per index range call.
  static constexpr int kReadBatch = 1000;

  explicit OpenConflicts(ChangeLog* changes) : changes_(changes) {}

  // Open conflicts of `tenant_id` by the user owning the conflicted record,
  // as of the committed feed now (owners with none are absent).
  absl::StatusOr<std::map<std::string, int64_t>> ByOwner(const std::string& tenant_id);
  // Every open conflict of `tenant_id`.
  absl::StatusOr<int64_t> Total(const std::string& tenant_id);

  // How many times a tenant's view was built from the start (tests and
  // metrics: after the first call this stays put unless history changed).
  int64_t rebuilds() const;

 private:
  struct TenantView {
    std::string history;
    int64_t through = 0;
    // Open conflict id -> owner of the conflicted record.
    absl::flat_hash_map<std::string, std::string> open;
    std::map<std::string, int64_t> by_owner;
  };

  // Brings the tenant's view up to the committed feed.
  absl::StatusOr<const TenantView*> Refresh(const std::string& tenant_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ChangeLog* const changes_;
  mutable absl::Mutex mu_;
  std::map<std::string, TenantView> tenants_ ABSL_GUARDED_BY(mu_);
  int64_t rebuilds_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_ADMIN_OPEN_CONFLICTS_H_
