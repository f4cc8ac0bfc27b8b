// Fixture for the thread_safety_check tests: compiled with clang's
// -Wthread-safety -Werror, it must compile as is and fail with
// -DCRMSYNC_TOUCH_UNLOCKED (state read without its lock), so the annotations
// the tree relies on (absl::Mutex and the server's RecursiveMutex) are known
// to be checked.
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "rpc/recursive_mutex.h"

namespace {

class Counter {
 public:
  void Add() {
    absl::MutexLock lock(&mu_);
    ++value_;
  }
  int Read() {
#ifdef CRMSYNC_TOUCH_UNLOCKED
    return value_;
#else
    absl::MutexLock lock(&mu_);
    return value_;
#endif
  }

 private:
  absl::Mutex mu_;
  int value_ ABSL_GUARDED_BY(mu_) = 0;
};

class Stream {
 public:
  void Send() {
    crmsync::server::RecursiveMutexLock lock(&mu_);
    SendLocked();
  }
  void Flush() {
#ifdef CRMSYNC_TOUCH_UNLOCKED
    SendLocked();
#else
    crmsync::server::RecursiveMutexLock lock(&mu_);
    SendLocked();
#endif
  }

 private:
  void SendLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { ++sent_; }
  crmsync::server::RecursiveMutex mu_;
  int sent_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

int main() {
  Counter c;
  c.Add();
  Stream s;
  s.Send();
  s.Flush();
  return c.Read() == 1 ? 0 : 1;
}
