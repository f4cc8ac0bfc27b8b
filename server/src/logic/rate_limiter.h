// Per-caller request rate limits: a token bucket per key (tenant + device,
// or tenant + user for device-less callers), refilled at `rate_per_s` up to
// `burst`. In-memory, per server instance. Thread-safe.
#ifndef CRMSYNC_SERVER_LOGIC_RATE_LIMITER_H_
#define CRMSYNC_SERVER_LOGIC_RATE_LIMITER_H_

#include <cstdint>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "authenticator.h"

namespace crmsync::server {

class RateLimiter {
 public:
  // `rate_per_s` > 0 tokens per second, at most `burst` (>= 1) saved up.
  RateLimiter(double rate_per_s, double burst) : rate_per_s_(rate_per_s), burst_(burst) {}

  // Takes one token for `key` at `now_ms`. RESOURCE_EXHAUSTED with a
  // "retry in N ms" hint when the bucket is empty.
  absl::Status Take(const std::string& key, int64_t now_ms);

 private:
  struct Bucket {
    double tokens;
    int64_t updated_ms;
  };
  const double rate_per_s_;
  const double burst_;
  absl::Mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

// Authenticates with `inner`, then charges the caller's bucket.
class RateLimitedAuthenticator final : public Authenticator {
 public:
  // Every pointer must outlive this object.
  RateLimitedAuthenticator(Authenticator* inner, RateLimiter* limiter, Clock* clock)
      : inner_(inner), limiter_(limiter), clock_(clock) {}
  absl::StatusOr<Principal> Authenticate(const CallMetadata& metadata) override;

 private:
  Authenticator* inner_;
  RateLimiter* limiter_;
  Clock* clock_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_RATE_LIMITER_H_
