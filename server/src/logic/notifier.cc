#include "notifier.h"

namespace crmsync::server {

uint64_t InProcessNotifier::Listen(const std::string& tenant_id, Listener listener) {
  absl::MutexLock lock(&mu_);
  uint64_t handle = next_handle_++;
  listeners_[handle] = Entry{tenant_id, std::move(listener)};
  return handle;
}

void InProcessNotifier::Unlisten(uint64_t handle) {
  absl::MutexLock lock(&mu_);
  listeners_.erase(handle);
}

void InProcessNotifier::Publish(const std::string& tenant_id, int64_t latest_seq) {
  Deliver(tenant_id, latest_seq);
}

int64_t InProcessNotifier::ListenerCount() {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(listeners_.size());
}

std::set<std::string> InProcessNotifier::Tenants() {
  absl::MutexLock lock(&mu_);
  std::set<std::string> out;
  for (const auto& [handle, entry] : listeners_) out.insert(entry.tenant_id);
  return out;
}

void InProcessNotifier::Deliver(const std::string& tenant_id, int64_t latest_seq) {
  absl::MutexLock lock(&mu_);
  for (auto& [handle, entry] : listeners_) {
    if (entry.tenant_id == tenant_id) entry.listener(tenant_id, latest_seq);
  }
}

}  // namespace crmsync::server
