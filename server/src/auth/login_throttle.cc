#include "auth/login_throttle.h"

namespace crmsync::server::auth {

namespace {
// Bounds the memory an attacker can make the throttle use.
constexpr size_t kMaxKeys = 100'000;
}  // namespace

void LoginThrottle::Expire(std::deque<int64_t>* failures, int64_t now_ms) const {
  while (!failures->empty() && failures->front() + window_ms_ <= now_ms) failures->pop_front();
}

absl::Status LoginThrottle::Check(const std::string& key, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  auto it = failures_.find(key);
  if (it == failures_.end()) return absl::OkStatus();
  Expire(&it->second, now_ms);
  if (static_cast<int>(it->second.size()) < max_failures_) {
    if (it->second.empty()) failures_.erase(it);
    return absl::OkStatus();
  }
  const int64_t wait_ms = it->second.front() + window_ms_ - now_ms;
  return absl::ResourceExhaustedError("too many failed sign-in attempts; retry in " +
                                      std::to_string((wait_ms + 999) / 1000) + " s");
}

void LoginThrottle::RecordFailure(const std::string& key, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  if (failures_.size() >= kMaxKeys && failures_.count(key) == 0) {
    // Drop keys whose failures have all expired; if none, forget the
    // oldest-sorted key rather than grow without bound.
    for (auto it = failures_.begin(); it != failures_.end();) {
      Expire(&it->second, now_ms);
      it = it->second.empty() ? failures_.erase(it) : std::next(it);
    }
    if (failures_.size() >= kMaxKeys) failures_.erase(failures_.begin());
  }
  auto& list = failures_[key];
  Expire(&list, now_ms);
  list.push_back(now_ms);
  while (static_cast<int>(list.size()) > max_failures_) list.pop_front();
}

void LoginThrottle::RecordSuccess(const std::string& key) {
  absl::MutexLock lock(&mu_);
  failures_.erase(key);
}

}  // namespace crmsync::server::auth
