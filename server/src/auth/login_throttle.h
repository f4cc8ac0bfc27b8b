// Failed-login throttling per key (tenant + username, or tenant + API key
// id): after `max_failures` failures within `window_ms`, attempts are
// refused until the oldest failure leaves the window.
//
// With a Credentials store the failures are kept there (by a SHA-256 of the
// key, so the table holds no usernames), so every instance on the store
// counts the same failures: an attacker spreading attempts over the
// instances behind a balancer gets no more tries than against one, and a
// restart forgets nothing. Without one, in memory, per instance (tests).
// Thread-safe.
#ifndef CRMSYNC_SERVER_AUTH_LOGIN_THROTTLE_H_
#define CRMSYNC_SERVER_AUTH_LOGIN_THROTTLE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "store/credentials.h"

namespace crmsync::server::auth {

class LoginThrottle {
 public:
  // `shared` (may be null: in memory) must outlive the throttle.
  LoginThrottle(int max_failures, int64_t window_ms, Credentials* shared = nullptr)
      : max_failures_(max_failures), window_ms_(window_ms), shared_(shared) {}

  // RESOURCE_EXHAUSTED (with the wait in the message) while `key` is
  // throttled at `now_ms`; the store's error if it cannot be read.
  absl::Status Check(const std::string& key, int64_t now_ms);
  // Store errors are logged: the sign-in has failed anyway.
  void RecordFailure(const std::string& key, int64_t now_ms);
  // A successful login clears the key's failures.
  void RecordSuccess(const std::string& key);

 private:
  void Expire(std::deque<int64_t>* failures, int64_t now_ms) const;
  absl::Status Refusal(int64_t oldest_ms, int64_t now_ms) const;

  const int max_failures_;
  const int64_t window_ms_;
  Credentials* const shared_;
  absl::Mutex mu_;
  std::map<std::string, std::deque<int64_t>> failures_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crmsync::server::auth

#endif  // CRMSYNC_SERVER_AUTH_LOGIN_THROTTLE_H_
