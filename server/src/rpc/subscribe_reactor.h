// One Subscribe stream. Lives from SyncServiceImpl::Subscribe until OnDone.
//
// Threads: gRPC callback threads (OnWriteDone, OnCancel, OnDone), worker
// pool tasks (start, scope checks), the notifier (commit announcements) and
// the service's heartbeat thread (Tick). All state is guarded by
// `shared_->mu`; tasks hold `shared_` and find the reactor gone (nullptr)
// once OnDone ran, so no task touches a deleted reactor.
#ifndef CRMSYNC_SERVER_RPC_SUBSCRIBE_REACTOR_H_
#define CRMSYNC_SERVER_RPC_SUBSCRIBE_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <deque>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "crmsync/v1/sync.pb.h"
#include "logic/principal.h"
#include "rpc/recursive_mutex.h"

namespace crmsync::server {

class SyncServiceImpl;

class SubscribeReactor final : public grpc::ServerWriteReactor<v1::SubscribeEvent> {
 public:
  SubscribeReactor(SyncServiceImpl* service, grpc::CallbackServerContext* context,
                   const v1::SubscribeRequest& request);

  // Authenticates and starts listening (on the worker pool).
  void Start();
  // Sends a heartbeat if the stream was quiet for `interval`; retries a
  // scope check that could not be queued. Called by the heartbeat thread.
  void Tick(std::chrono::steady_clock::time_point now, std::chrono::milliseconds interval);
  // Ends the stream with OK (server shutting down).
  void End();

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  struct Shared {
    // Recursive: gRPC may run a reaction inline inside StartWrite/Finish.
    RecursiveMutex mu;
    SubscribeReactor* reactor ABSL_GUARDED_BY(mu) = nullptr;  // null once OnDone ran
  };

  // All *Locked methods need shared_->mu held.
  void SendLocked(v1::SubscribeEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu);
  void StartNextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu);
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu);
  void ScheduleCheckLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu);
  static void RunCheck(const std::shared_ptr<Shared>& shared);
  static void RunStart(const std::shared_ptr<Shared>& shared);

  SyncServiceImpl* service_;
  grpc::CallbackServerContext* context_;
  v1::SubscribeRequest request_;
  std::shared_ptr<Shared> shared_;

  Principal who_ ABSL_GUARDED_BY(shared_->mu);
  bool started_ ABSL_GUARDED_BY(shared_->mu) = false;
  // The device's cursor: sent the feed up to cursor_, holding every record
  // of its scope as of base_ (logic/delivery.h).
  int64_t cursor_ ABSL_GUARDED_BY(shared_->mu) = 0;
  int64_t base_ ABSL_GUARDED_BY(shared_->mu) = 0;
  // Changes up to this sequence were examined for relevance.
  int64_t checked_through_ ABSL_GUARDED_BY(shared_->mu) = 0;
  uint64_t listen_handle_ ABSL_GUARDED_BY(shared_->mu) = 0;
  bool listening_ ABSL_GUARDED_BY(shared_->mu) = false;
  bool check_running_ ABSL_GUARDED_BY(shared_->mu) = false;
  bool check_again_ ABSL_GUARDED_BY(shared_->mu) = false;
  bool check_unqueued_ ABSL_GUARDED_BY(shared_->mu) = false;
  bool writing_ ABSL_GUARDED_BY(shared_->mu) = false;
  bool finish_after_writes_ ABSL_GUARDED_BY(shared_->mu) = false;
  bool finished_ ABSL_GUARDED_BY(shared_->mu) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(shared_->mu);
  v1::SubscribeEvent in_flight_ ABSL_GUARDED_BY(shared_->mu);
  std::deque<v1::SubscribeEvent> pending_ ABSL_GUARDED_BY(shared_->mu);
  std::chrono::steady_clock::time_point last_sent_ ABSL_GUARDED_BY(shared_->mu);
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_RPC_SUBSCRIBE_REACTOR_H_
