#include "subscribe_reactor.h"

#include "logic/cursor.h"
#include "logic/delivery.h"
#include "logic/push_handler.h"
#include "status_convert.h"
#include "sync_service.h"

namespace crmsync::server {

namespace {
constexpr int kCheckBatch = 1000;
}  // namespace

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
    request = r->request_;
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
  // Listen outside shared->mu: the notifier calls listeners under its own
  // lock, and listeners take shared->mu.
  std::weak_ptr<Shared> weak = shared;
  uint64_t handle = service->notifier_->Listen(who->tenant_id, [weak](const std::string&, int64_t) {
    if (auto s = weak.lock()) {
      RecursiveMutexLock l(&s->mu);
      if (SubscribeReactor* r = s->reactor; r != nullptr) {
        r->shared_->mu.AssertHeld();
        r->ScheduleCheckLocked();
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
        r->who_ = *who;
        r->cursor_ = cursor->seq;
        r->base_ = cursor->base;
        r->checked_through_ = cursor->seq;
        r->started_ = true;
        r->listen_handle_ = handle;
        r->listening_ = true;
        r->ScheduleCheckLocked();  // changes may already exist after the cursor
      }
    }
  }
  if (!kept) service->notifier_->Unlisten(handle);
}

void SubscribeReactor::ScheduleCheckLocked() {
  if (finished_ || !started_) return;
  if (check_running_) {
    check_again_ = true;
    return;
  }
  auto shared = shared_;
  if (service_->pool_->Submit([shared] { RunCheck(shared); })) {
    check_running_ = true;
    check_unqueued_ = false;
  } else {
    check_unqueued_ = true;  // Tick retries
  }
}

void SubscribeReactor::RunCheck(const std::shared_ptr<Shared>& shared) {
  Principal who;
  int64_t from = 0, cursor = 0, base = 0;
  SyncServiceImpl* service;
  {
    RecursiveMutexLock lock(&shared->mu);
    SubscribeReactor* r = shared->reactor;
    if (r == nullptr) return;
    r->shared_->mu.AssertHeld();
    who = r->who_;
    from = r->checked_through_;
    cursor = r->cursor_;
    base = r->base_;
    service = r->service_;
  }
  bool relevant = false;
  bool more = false;
  int64_t through = from;
  auto rows = service->pull_->changes()->ReadSince(who.tenant_id, from, kCheckBatch);
  if (rows.ok()) {
    for (const RecordRow& row : *rows) {
      through = row.state.version();
      // Pull's own rule: the stream announces exactly what a pull from
      // the device's cursor would send. Should the rule need history that
      // is gone, the device is told to pull (and learns it must reset).
      if (relevant) continue;
      auto delivery = DeliveryFor(*service->pull_->changes(), who, row, base, cursor);
      relevant = !delivery.ok() || delivery->kind != Delivery::Kind::kNothing;
    }
    more = static_cast<int>(rows->size()) == kCheckBatch;
  }

  RecursiveMutexLock lock(&shared->mu);
  SubscribeReactor* r = shared->reactor;
  if (r == nullptr) return;
  r->shared_->mu.AssertHeld();
  r->check_running_ = false;
  if (!rows.ok()) {
    r->check_unqueued_ = true;  // store trouble: Tick retries later
    return;
  }
  r->checked_through_ = through;
  if (relevant) {
    v1::SubscribeEvent event;
    event.mutable_changes_available()->set_latest_seq(through);
    r->SendLocked(std::move(event));
  }
  if (more || r->check_again_) {
    r->check_again_ = false;
    r->ScheduleCheckLocked();
  }
}

void SubscribeReactor::Tick(std::chrono::steady_clock::time_point now,
                            std::chrono::milliseconds interval) {
  RecursiveMutexLock lock(&shared_->mu);
  if (finished_) return;
  if (check_unqueued_) ScheduleCheckLocked();
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
  bool listening = false;
  uint64_t listen_handle = 0;
  {
    RecursiveMutexLock lock(&shared_->mu);
    shared_->reactor = nullptr;
    listening = listening_;
    listen_handle = listen_handle_;
  }
  if (listening) service_->notifier_->Unlisten(listen_handle);
  service_->Unregister(this);
  delete this;
}

}  // namespace crmsync::server
