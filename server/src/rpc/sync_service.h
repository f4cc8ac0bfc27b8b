// crmsync.v1.SyncService over gRPC (callback API). Thin: authenticate, hand
// the call to a handler on the worker pool, convert the status once.
#ifndef CRMSYNC_SERVER_RPC_SYNC_SERVICE_H_
#define CRMSYNC_SERVER_RPC_SYNC_SERVICE_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "crmsync/v1/sync.grpc.pb.h"
#include "logic/authenticator.h"
#include "logic/feed_fanout.h"
#include "logic/notifier.h"
#include "logic/pull_handler.h"
#include "logic/push_handler.h"
#include "rpc/arena_allocator.h"
#include "worker_pool.h"

namespace crmsync::server {

class SubscribeReactor;

struct SyncServiceOptions {
  // A Subscribe stream with nothing to say for this long gets a Heartbeat.
  std::chrono::milliseconds heartbeat_interval{15000};
  // Called (on the heartbeat thread, without locks) at a tick after at
  // least `release_after_churn` streams opened or closed since the last
  // call: gives memory freed by connections (TLS handshakes, closed
  // streams) back to the system (malloc_trim). Null: never.
  std::function<void()> release_memory;
  int release_after_churn = 256;
};

class SyncServiceImpl final : public v1::SyncService::CallbackService {
 public:
  // Every pointer must outlive the service.
  SyncServiceImpl(Authenticator* auth, PushHandler* push, PullHandler* pull,
                  ChangeNotifier* notifier, WorkerPool* pool, SyncServiceOptions options);
  ~SyncServiceImpl() override;

  grpc::ServerUnaryReactor* Push(grpc::CallbackServerContext* context,
                                 const v1::PushRequest* request,
                                 v1::PushResponse* response) override;
  grpc::ServerUnaryReactor* Pull(grpc::CallbackServerContext* context,
                                 const v1::PullRequest* request,
                                 v1::PullResponse* response) override;
  grpc::ServerWriteReactor<v1::SubscribeEvent>* Subscribe(
      grpc::CallbackServerContext* context, const v1::SubscribeRequest* request) override;
  grpc::ServerUnaryReactor* GetChecksum(grpc::CallbackServerContext* context,
                                        const v1::GetChecksumRequest* request,
                                        v1::GetChecksumResponse* response) override;
  grpc::ServerUnaryReactor* GetFieldHistory(grpc::CallbackServerContext* context,
                                            const v1::GetFieldHistoryRequest* request,
                                            v1::GetFieldHistoryResponse* response) override;
  grpc::ServerUnaryReactor* GetTimeline(grpc::CallbackServerContext* context,
                                        const v1::GetTimelineRequest* request,
                                        v1::GetTimelineResponse* response) override;

  // Ends every Subscribe stream (status OK) and refuses new ones; call
  // before shutting the gRPC server down.
  void EndStreams();

  // Open Subscribe streams.
  int64_t active_streams();

 private:
  friend class SubscribeReactor;
  void Register(SubscribeReactor* r);
  void Unregister(SubscribeReactor* r);
  void HeartbeatLoop();

  // Push and Pull requests live on one arena per call, and so does a Pull's
  // reply (Push moves results built on the heap into its reply).
  ArenaMessageAllocator<v1::PushRequest, v1::PushResponse, /*kResponseOnArena=*/false>
      push_allocator_;
  ArenaMessageAllocator<v1::PullRequest, v1::PullResponse> pull_allocator_;
  Authenticator* auth_;
  PushHandler* push_;
  PullHandler* pull_;
  ChangeNotifier* notifier_;
  WorkerPool* pool_;
  SyncServiceOptions options_;
  // Judges commits for every Subscribe stream (one feed read per tenant).
  std::unique_ptr<FeedFanout> fanout_;

  bool NoStreams() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(streams_mu_) { return streams_.empty(); }

  absl::Mutex streams_mu_;
  std::set<SubscribeReactor*> streams_ ABSL_GUARDED_BY(streams_mu_);
  bool ending_ ABSL_GUARDED_BY(streams_mu_) = false;
  // Streams opened or closed since memory was last released.
  int64_t churn_since_release_ ABSL_GUARDED_BY(streams_mu_) = 0;
  std::thread heartbeat_thread_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_RPC_SYNC_SERVICE_H_
