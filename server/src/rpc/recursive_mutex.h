// A reentrant mutex that clang's -Wthread-safety understands: members can be
// ABSL_GUARDED_BY it. absl::Mutex is not reentrant, and libstdc++'s
// std::recursive_mutex carries no capability annotations.
//
// Used where gRPC may run a reaction inline on the thread that holds the
// lock (StartWrite, Finish), see subscribe_reactor.h. Prefer absl::Mutex
// everywhere else.
#ifndef CRMSYNC_SERVER_RPC_RECURSIVE_MUTEX_H_
#define CRMSYNC_SERVER_RPC_RECURSIVE_MUTEX_H_

#include <mutex>

#include "absl/base/thread_annotations.h"

namespace crmsync::server {

class ABSL_LOCKABLE RecursiveMutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  // Tells the analysis that the caller holds this mutex when it reached it
  // through another path (a pointer the analysis cannot follow). Checks
  // nothing at run time.
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  std::recursive_mutex mu_;
};

// Holds a RecursiveMutex for its scope.
class ABSL_SCOPED_LOCKABLE RecursiveMutexLock {
 public:
  explicit RecursiveMutexLock(RecursiveMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~RecursiveMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }

  RecursiveMutexLock(const RecursiveMutexLock&) = delete;
  RecursiveMutexLock& operator=(const RecursiveMutexLock&) = delete;

 private:
  RecursiveMutex* const mu_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_RPC_RECURSIVE_MUTEX_H_
