#include "store_health.h"

#include <spdlog/spdlog.h>

#include "store/internal_detail.h"

namespace crmsync::server {

StoreHealth::StoreHealth(Store* store, std::chrono::milliseconds interval,
                         std::function<void(bool up)> on_change)
    : store_(store), interval_(interval), on_change_(std::move(on_change)) {}

StoreHealth::~StoreHealth() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StoreHealth::Start() {
  thread_ = std::thread([this] { Run(); });
}

void StoreHealth::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    absl::Status status = store_->Ping();
    // A pooled connection that died with the database fails once; the
    // retry opens a fresh one.
    if (absl::IsUnavailable(status)) status = store_->Ping();
    const bool up = status.ok();
    if (up != up_.exchange(up)) {
      if (up) {
        spdlog::info("store reachable again: health SERVING");
      } else {
        spdlog::error("store unreachable: health NOT_SERVING until it answers ({})",
                      InternalDetail(status));
      }
      on_change_(up);
    }
    lock.lock();
  }
}

}  // namespace crmsync::server
