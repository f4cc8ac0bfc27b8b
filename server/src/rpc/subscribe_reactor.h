// One Subscribe stream. Lives from SyncServiceImpl::Subscribe until OnDone.
// Which commits concern the stream is judged by the service's FeedFanout
// (logic/feed_fanout.h), shared by every stream of a tenant; the reactor
// only writes the events.
//
// Threads: gRPC callback threads (OnWriteDone, OnCancel, OnDone), worker
// pool tasks (start, fan-out announcements) and the service's heartbeat
// thread (Tick). All state is guarded by `shared_->mu`; tasks hold `shared_`
// (the fan-out a weak reference) and find the reactor gone (nullptr) once
// OnDone ran, so no task touches a deleted reactor.
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
  // Sends a heartbeat if the stream was quiet for `interval`. Called by the
  // heartbeat thread.
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
  // Announces that changes up to `latest_seq` concern the device (once per
  // sequence: the fan-out may report one twice or out of order).
  void AnnounceLocked(int64_t latest_seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu);
  static void RunStart(const std::shared_ptr<Shared>& shared);

  SyncServiceImpl* service_;
  grpc::CallbackServerContext* context_;
  v1::SubscribeRequest request_;
  std::shared_ptr<Shared> shared_;

  bool started_ ABSL_GUARDED_BY(shared_->mu) = false;
  // The stream's subscription to the fan-out (FeedFanout::Join).
  uint64_t fanout_handle_ ABSL_GUARDED_BY(shared_->mu) = 0;
  bool joined_ ABSL_GUARDED_BY(shared_->mu) = false;
  // The highest sequence announced so far.
  int64_t announced_through_ ABSL_GUARDED_BY(shared_->mu) = 0;
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
