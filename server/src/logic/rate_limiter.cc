#include "rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace crmsync::server {

namespace {
// Buckets kept before idle (full) ones are dropped.
constexpr size_t kSweepAbove = 100'000;
}  // namespace

absl::Status RateLimiter::Take(const std::string& key, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  if (buckets_.size() > kSweepAbove) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      const double refilled =
          it->second.tokens + (now_ms - it->second.updated_ms) * rate_per_s_ / 1000.0;
      it = refilled >= burst_ ? buckets_.erase(it) : std::next(it);
    }
  }
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now_ms});
  Bucket& b = it->second;
  if (!fresh && now_ms > b.updated_ms) {
    b.tokens = std::min(burst_, b.tokens + (now_ms - b.updated_ms) * rate_per_s_ / 1000.0);
    b.updated_ms = now_ms;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    if (report_usage_ && (used_.size() < kSweepAbove || used_.count(key) > 0)) ++used_[key];
    return absl::OkStatus();
  }
  const int64_t wait_ms = std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil((1.0 - b.tokens) * 1000.0 / rate_per_s_)));
  return absl::ResourceExhaustedError("request rate limit exceeded for this device; retry in " +
                                      std::to_string(wait_ms) + " ms");
}

std::vector<std::pair<std::string, int64_t>> RateLimiter::TakeUsage() {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<std::string, int64_t>> out(used_.begin(), used_.end());
  used_.clear();
  return out;
}

void RateLimiter::Charge(const std::string& key, int64_t tokens, int64_t now_ms) {
  if (tokens <= 0) return;
  absl::MutexLock lock(&mu_);
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now_ms});
  Bucket& b = it->second;
  if (!fresh && now_ms > b.updated_ms) {
    b.tokens = std::min(burst_, b.tokens + (now_ms - b.updated_ms) * rate_per_s_ / 1000.0);
    b.updated_ms = now_ms;
  }
  b.tokens = std::max(-burst_, b.tokens - static_cast<double>(tokens));
}

absl::StatusOr<Principal> RateLimitedAuthenticator::Authenticate(const CallMetadata& metadata) {
  auto who = inner_->Authenticate(metadata);
  if (!who.ok()) return who;
  const std::string key =
      who->tenant_id + "\n" + (who->device_id.empty() ? "user:" + who->user_id : who->device_id);
  if (auto s = limiter_->Take(key, clock_->NowMs()); !s.ok()) return s;
  return who;
}

}  // namespace crmsync::server
