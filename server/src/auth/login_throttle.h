// Failed-login throttling per key (tenant + username, or tenant + API key
// id): after `max_failures` failures within `window_ms`, attempts are
// refused until the oldest failure leaves the window. In-memory, per
// server instance. Thread-safe.
#ifndef CRMSYNC_SERVER_AUTH_LOGIN_THROTTLE_H_
#define CRMSYNC_SERVER_AUTH_LOGIN_THROTTLE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace crmsync::server::auth {

class LoginThrottle {
 public:
  LoginThrottle(int max_failures, int64_t window_ms)
      : max_failures_(max_failures), window_ms_(window_ms) {}

  // RESOURCE_EXHAUSTED (with the wait in the message) while `key` is
  // throttled at `now_ms`.
  absl::Status Check(const std::string& key, int64_t now_ms);
  void RecordFailure(const std::string& key, int64_t now_ms);
  // A successful login clears the key's failures.
  void RecordSuccess(const std::string& key);

 private:
  void Expire(std::deque<int64_t>* failures, int64_t now_ms) const;

  const int max_failures_;
  const int64_t window_ms_;
  absl::Mutex mu_;
  std::map<std::string, std::deque<int64_t>> failures_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crmsync::server::auth

#endif  // CRMSYNC_SERVER_AUTH_LOGIN_THROTTLE_H_
