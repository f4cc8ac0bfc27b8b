// A fixed pool of worker threads with a bounded queue. RPC reactors hand
// store-bound work to it so gRPC's callback threads never block.
#ifndef CRMSYNC_SERVER_RPC_WORKER_POOL_H_
#define CRMSYNC_SERVER_RPC_WORKER_POOL_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace crmsync::server {

class WorkerPool {
 public:
  // Starts `threads` workers; at most `max_queued` tasks wait at a time.
  WorkerPool(int threads, int max_queued);
  // Runs the queued tasks to completion, then joins the workers.
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`. Returns false (task not queued) if the queue is full or
  // the pool is stopping. Thread-safe.
  bool Submit(std::function<void()> task);

  // For metrics: tasks waiting, workers running a task, the worker count,
  // and tasks refused because the queue was full. Thread-safe.
  int queued();
  int busy() const { return busy_.load(std::memory_order_relaxed); }
  int threads() const { return static_cast<int>(threads_.size()); }
  int64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }

 private:
  void Run();
  // Waits for a task; false once stopping and drained.
  bool Next(std::function<void()>* task);
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  }

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  const size_t max_queued_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
  std::atomic<int> busy_{0};
  std::atomic<int64_t> rejected_{0};
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_RPC_WORKER_POOL_H_
