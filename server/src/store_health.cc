#include "store_health.h"

#include <spdlog/spdlog.h>

#include "absl/time/time.h"

#include "store/internal_detail.h"

namespace crmsync::server {

StoreHealth::StoreHealth(Store* store, std::chrono::milliseconds interval,
                         std::function<void(bool up)> on_change)
    : store_(store), interval_(interval), on_change_(std::move(on_change)) {}

StoreHealth::~StoreHealth() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void StoreHealth::Start() {
  thread_ = std::thread([this] { Run(); });
}

void StoreHealth::Run() {
  while (!WaitForStop()) CheckOnce();
}

bool StoreHealth::WaitForStop() {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(interval_));
}

void StoreHealth::CheckOnce() {
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
}

}  // namespace crmsync::server
