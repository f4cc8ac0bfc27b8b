// Per-caller request rate limits: a token bucket per key (tenant + device,
// or tenant + user for device-less callers), refilled at `rate_per_s` up to
// `burst`. In memory; instances on one store share the budget by exchanging
// what they took (TakeUsage on one, Charge on the others; SyncdApp's
// rate-share loop), so a device whose calls a balancer spreads over several
// instances gets the rate once, not once per instance (give or take what it
// uses within one exchange interval). Thread-safe.
#ifndef CRMSYNC_SERVER_LOGIC_RATE_LIMITER_H_
#define CRMSYNC_SERVER_LOGIC_RATE_LIMITER_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

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

  // Counts what Take lets through for TakeUsage (off by default: a single
  // instance has no one to report to, and Take is on every call's path).
  // Call before serving.
  void EnableUsageReports() { report_usage_ = true; }
  // Tokens taken per key since the last call (what this instance reports
  // to the others).
  std::vector<std::pair<std::string, int64_t>> TakeUsage();
  // Takes `tokens` another instance used from `key`'s bucket; the bucket may
  // go down to -burst (a debt the refill pays back).
  void Charge(const std::string& key, int64_t tokens, int64_t now_ms);

 private:
  struct Bucket {
    double tokens;
    int64_t updated_ms;
  };
  const double rate_per_s_;
  const double burst_;
  absl::Mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, int64_t> used_ ABSL_GUARDED_BY(mu_);
  bool report_usage_ = false;
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
