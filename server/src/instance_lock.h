// One crm-syncd per embedded SQLite store: an exclusive advisory lock on the
// store file, held for the life of the process.
#ifndef CRMSYNC_SERVER_INSTANCE_LOCK_H_
#define CRMSYNC_SERVER_INSTANCE_LOCK_H_

#include <string>

#include "absl/status/status.h"

namespace crmsync::server {

// flock(LOCK_EX) on the SQLite file. SQLite's own locks are POSIX record
// locks, which flock does not touch; but closing any descriptor of the file
// drops a process's POSIX locks, so the descriptor stays open until the
// lock is destroyed, which must happen after the store is closed.
class InstanceLock {
 public:
  InstanceLock() = default;
  ~InstanceLock();
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

  // Locks `path` (which exists: the store created it). FailedPrecondition
  // naming the file when another process holds it.
  absl::Status Acquire(const std::string& path);

 private:
  int fd_ = -1;
};

// Warns (log) when a store file is readable by group or others.
void WarnIfStoreFileIsShared(const std::string& path);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_INSTANCE_LOCK_H_
