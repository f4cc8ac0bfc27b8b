#include "sync_service.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "absl/time/time.h"
#include "logic/cursor.h"
#include "logic/scope.h"
#include "status_convert.h"
#include "subscribe_reactor.h"
#include "unary_call.h"

namespace crmsync::server {

namespace {

// Runs `fn(principal, request, response)` through RunOnPool: every sync
// call is authenticated.
template <typename Req, typename Resp, typename Fn>
grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* context, Authenticator* auth,
                                   WorkerPool* pool, const Req* request, Resp* response, Fn fn) {
  return RunOnPool(context, auth, pool, [=](const Principal* who, const std::string&) {
    return fn(*who, *request, response);
  });
}

}  // namespace

SyncServiceImpl::SyncServiceImpl(Authenticator* auth, PushHandler* push, PullHandler* pull,
                                 ChangeNotifier* notifier, WorkerPool* pool,
                                 SyncServiceOptions options)
    : auth_(auth),
      push_(push),
      pull_(pull),
      notifier_(notifier),
      pool_(pool),
      options_(std::move(options)),
      fanout_(std::make_unique<FeedFanout>(
          pull->changes(), notifier,
          [pool](std::function<void()> task) { return pool->Submit(std::move(task)); })),
      heartbeat_thread_([this] { HeartbeatLoop(); }) {
  SetMessageAllocatorFor_Push(&push_allocator_);
  SetMessageAllocatorFor_Pull(&pull_allocator_);
}

SyncServiceImpl::~SyncServiceImpl() {
  EndStreams();
  {
    absl::MutexLock lock(&streams_mu_);
    // Streams unregister in OnDone, after the gRPC server let them finish.
    streams_mu_.AwaitWithTimeout(absl::Condition(this, &SyncServiceImpl::NoStreams),
                                 absl::Seconds(5));
  }
  heartbeat_thread_.join();
}

grpc::ServerUnaryReactor* SyncServiceImpl::Push(grpc::CallbackServerContext* context,
                                                const v1::PushRequest* request,
                                                v1::PushResponse* response) {
  return RunUnary(context, auth_, pool_, request, response,
                  [this](const Principal& who, const v1::PushRequest& req, v1::PushResponse* resp) {
                    return push_->Push(who, req, resp);
                  });
}

grpc::ServerUnaryReactor* SyncServiceImpl::Pull(grpc::CallbackServerContext* context,
                                                const v1::PullRequest* request,
                                                v1::PullResponse* response) {
  return RunUnary(context, auth_, pool_, request, response,
                  [this](const Principal& who, const v1::PullRequest& req, v1::PullResponse* resp) {
                    return pull_->Pull(who, req, resp);
                  });
}

grpc::ServerUnaryReactor* SyncServiceImpl::GetChecksum(grpc::CallbackServerContext* context,
                                                       const v1::GetChecksumRequest* request,
                                                       v1::GetChecksumResponse* response) {
  return RunUnary(
      context, auth_, pool_, request, response,
      [this](const Principal& who, const v1::GetChecksumRequest& req,
             v1::GetChecksumResponse* resp) { return pull_->GetChecksum(who, req, resp); });
}

grpc::ServerUnaryReactor* SyncServiceImpl::GetFieldHistory(
    grpc::CallbackServerContext* context, const v1::GetFieldHistoryRequest* request,
    v1::GetFieldHistoryResponse* response) {
  return RunUnary(
      context, auth_, pool_, request, response,
      [this](const Principal& who, const v1::GetFieldHistoryRequest& req,
             v1::GetFieldHistoryResponse* resp) { return pull_->GetFieldHistory(who, req, resp); });
}

grpc::ServerUnaryReactor* SyncServiceImpl::GetTimeline(grpc::CallbackServerContext* context,
                                                       const v1::GetTimelineRequest* request,
                                                       v1::GetTimelineResponse* response) {
  return RunUnary(
      context, auth_, pool_, request, response,
      [this](const Principal& who, const v1::GetTimelineRequest& req,
             v1::GetTimelineResponse* resp) { return pull_->GetTimeline(who, req, resp); });
}

grpc::ServerWriteReactor<v1::SubscribeEvent>* SyncServiceImpl::Subscribe(
    grpc::CallbackServerContext* context, const v1::SubscribeRequest* request) {
  auto* reactor = new SubscribeReactor(this, context, *request);
  reactor->Start();
  return reactor;
}

void SyncServiceImpl::Register(SubscribeReactor* r) {
  absl::MutexLock lock(&streams_mu_);
  streams_.insert(r);
  ++churn_since_release_;
  if (ending_) r->End();
}

void SyncServiceImpl::Unregister(SubscribeReactor* r) {
  absl::MutexLock lock(&streams_mu_);
  streams_.erase(r);
  ++churn_since_release_;
}

int64_t SyncServiceImpl::active_streams() {
  absl::MutexLock lock(&streams_mu_);
  return static_cast<int64_t>(streams_.size());
}

void SyncServiceImpl::EndStreams() {
  absl::MutexLock lock(&streams_mu_);
  ending_ = true;
  for (SubscribeReactor* r : streams_) r->End();
}

void SyncServiceImpl::HeartbeatLoop() {
  const auto tick = std::min<std::chrono::milliseconds>(options_.heartbeat_interval / 4,
                                                        std::chrono::milliseconds(1000));
  while (true) {
    bool release = false;
    {
      absl::MutexLock lock(&streams_mu_);
      if (streams_mu_.AwaitWithTimeout(absl::Condition(&ending_), absl::FromChrono(tick))) return;
      auto now = std::chrono::steady_clock::now();
      fanout_->Retry();  // work the pool refused or the store failed
      for (SubscribeReactor* r : streams_) r->Tick(now, options_.heartbeat_interval);
      if (churn_since_release_ >= options_.release_after_churn) {
        release = options_.release_memory != nullptr;
        churn_since_release_ = 0;
      }
    }
    if (release) options_.release_memory();
  }
}

}  // namespace crmsync::server
