#include "subscribe_reactor.h"

#include "logic/cursor.h"
#include "logic/push_handler.h"
#include "status_convert.h"
#include "sync_service.h"

namespace crmsync::server {

SubscribeReactor::SubscribeReactor(SyncServiceImpl* service, grpc::CallbackServerContext* context,
                                   const v1::SubscribeRequest& request)
    : service_(service),
      context_(context),
      request_(request),
      shared_(std::make_shared<Shared>()),
      last_sent_(std::chrono::steady_clock::now()) {
  shared_->reactor = this;
}

void SubscribeReactor::Start() {
  service_->Register(this);
  auto shared = shared_;
  if (!service_->pool_->Submit([shared] { RunStart(shared); })) {
    RecursiveMutexLock lock(&shared_->mu);
    FinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              "server busy: retry Subscribe with backoff"));
  }
}

void SubscribeReactor::RunStart(const std::shared_ptr<Shared>& shared) {
  CallMetadata metadata;
  SyncServiceImpl* service;
  v1::SubscribeRequest request;
  {
    RecursiveMutexLock lock(&shared->mu);
    SubscribeReactor* r = shared->reactor;
    if (r == nullptr) return;
    r->shared_->mu.AssertHeld();  // the same mutex as shared->mu
    if (r->finished_) return;
    metadata = MetadataOf(*r->context_);
    service = r->service_;
    request = std::move(r->request_);  // read once
  }
  absl::StatusOr<Principal> who = service->auth_->Authenticate(metadata);
  absl::Status status = who.ok() ? CheckProtocolVersion(request.client()) : who.status();
  absl::StatusOr<CursorPosition> cursor = ParseCursor(request.cursor());
  if (status.ok() && !cursor.ok()) status = cursor.status();

  if (!status.ok()) {
    RecursiveMutexLock lock(&shared->mu);
    if (SubscribeReactor* r = shared->reactor; r != nullptr) {
      r->shared_->mu.AssertHeld();
      r->FinishLocked(ToGrpcStatus(status, r->context_));
    }
    return;
  }
  // Join outside shared->mu: the fan-out's announcements take shared->mu.
  std::weak_ptr<Shared> weak = shared;
  uint64_t handle =
      service->fanout_->Join(*who, cursor->seq, cursor->base, [weak](int64_t latest_seq) {
        if (auto s = weak.lock()) {
          RecursiveMutexLock l(&s->mu);
          if (SubscribeReactor* r = s->reactor; r != nullptr) {
            r->shared_->mu.AssertHeld();
            r->AnnounceLocked(latest_seq);
          }
        }
      });
  bool kept = false;
  {
    RecursiveMutexLock lock(&shared->mu);
    if (SubscribeReactor* r = shared->reactor; r != nullptr) {
      r->shared_->mu.AssertHeld();
      if (!r->finished_) {
        kept = true;
        r->started_ = true;
        r->fanout_handle_ = handle;
        r->joined_ = true;
      }
    }
  }
  if (!kept) service->fanout_->Leave(handle);
}

void SubscribeReactor::AnnounceLocked(int64_t latest_seq) {
  if (latest_seq <= announced_through_) return;
  announced_through_ = latest_seq;
  v1::SubscribeEvent event;
  event.mutable_changes_available()->set_latest_seq(latest_seq);
  SendLocked(std::move(event));
}

void SubscribeReactor::Tick(std::chrono::steady_clock::time_point now,
                            std::chrono::milliseconds interval) {
  RecursiveMutexLock lock(&shared_->mu);
  if (finished_) return;
  if (started_ && !writing_ && pending_.empty() && now - last_sent_ >= interval) {
    v1::SubscribeEvent event;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    event.mutable_heartbeat()->mutable_server_time()->set_seconds(ms / 1000);
    event.mutable_heartbeat()->mutable_server_time()->set_nanos((ms % 1000) * 1000000);
    SendLocked(std::move(event));
  }
}

void SubscribeReactor::End() {
  RecursiveMutexLock lock(&shared_->mu);
  FinishLocked(grpc::Status::OK);
}

void SubscribeReactor::SendLocked(v1::SubscribeEvent event) {
  if (finished_ || finish_after_writes_) return;
  // Coalesce: one pending "changes available" is enough.
  if (event.has_changes_available()) {
    for (auto& p : pending_) {
      if (p.has_changes_available()) {
        p = std::move(event);
        return;
      }
    }
  }
  pending_.push_back(std::move(event));
  if (!writing_) StartNextWriteLocked();
}

void SubscribeReactor::StartNextWriteLocked() {
  if (pending_.empty()) return;
  in_flight_ = std::move(pending_.front());
  pending_.pop_front();
  writing_ = true;
  last_sent_ = std::chrono::steady_clock::now();
  StartWrite(&in_flight_);
}

void SubscribeReactor::FinishLocked(const grpc::Status& status) {
  if (finished_) return;
  if (writing_) {
    // Finish once the write in flight completes.
    finish_after_writes_ = true;
    final_status_ = status;
    pending_.clear();
    return;
  }
  finished_ = true;
  Finish(status);
}

void SubscribeReactor::OnWriteDone(bool ok) {
  RecursiveMutexLock lock(&shared_->mu);
  writing_ = false;
  if (finish_after_writes_) {
    finished_ = true;
    Finish(final_status_);
    return;
  }
  if (!ok) {
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken"));
    return;
  }
  StartNextWriteLocked();
}

void SubscribeReactor::OnCancel() {
  RecursiveMutexLock lock(&shared_->mu);
  if (!writing_)
    FinishLocked(grpc::Status::CANCELLED);
  else
    finish_after_writes_ = true, final_status_ = grpc::Status::CANCELLED;
}

void SubscribeReactor::OnDone() {
  bool joined = false;
  uint64_t fanout_handle = 0;
  {
    RecursiveMutexLock lock(&shared_->mu);
    shared_->reactor = nullptr;
    joined = joined_;
    fanout_handle = fanout_handle_;
  }
  if (joined) service_->fanout_->Leave(fanout_handle);
  service_->Unregister(this);
  delete this;
}

}  // namespace crmsync::server
