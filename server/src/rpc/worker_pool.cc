#include "worker_pool.h"

namespace crmsync::server {

WorkerPool::WorkerPool(int threads, int max_queued) : max_queued_(max_queued) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (auto& t : threads_) t.join();
}

bool WorkerPool::Submit(std::function<void()> task) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || queue_.size() >= max_queued_) {
      if (!stopping_) rejected_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(std::move(task));
  }
  return true;
}

void WorkerPool::Run() {
  for (;;) {
    std::function<void()> task;  // destroyed after each run, with what it captured
    if (!Next(&task)) return;
    busy_.fetch_add(1, std::memory_order_relaxed);
    task();
    busy_.fetch_sub(1, std::memory_order_relaxed);
  }
}

int WorkerPool::queued() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

bool WorkerPool::Next(std::function<void()>* task) {
  absl::MutexLock lock(&mu_, absl::Condition(this, &WorkerPool::HasWorkOrStopping));
  if (queue_.empty()) return false;  // stopping and drained
  *task = std::move(queue_.front());
  queue_.pop_front();
  return true;
}

}  // namespace crmsync::server
