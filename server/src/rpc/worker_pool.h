// A fixed pool of worker threads with a bounded queue. RPC reactors hand
// store-bound work to it so gRPC's callback threads never block.
#ifndef CRMSYNC_SERVER_RPC_WORKER_POOL_H_
#define CRMSYNC_SERVER_RPC_WORKER_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

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

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t max_queued_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_RPC_WORKER_POOL_H_
