// SyncEngine: runs the workers of a cycle, and the background loop
// (subscription, backoff with jitter, wake-ups on local writes).
#include "crmsync/client/sync_engine.h"

#include <algorithm>

#include "database_sync.h"
#include "sync_tuning.h"
#include "workers.h"

namespace crmsync::client {

const char* SyncStateName(SyncProgress::State state) {
  switch (state) {
    case SyncProgress::State::kIdle: return "idle";
    case SyncProgress::State::kSyncing: return "syncing";
    case SyncProgress::State::kBackoff: return "backoff";
    case SyncProgress::State::kOffline: return "offline";
    case SyncProgress::State::kFailed: return "failed";
    case SyncProgress::State::kWiped: return "wiped";
  }
  return "unknown";
}

namespace {

// Worth retrying later without user action.
bool IsTransient(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown: return true;
    default: return false;
  }
}

}  // namespace

class SyncEngine::Impl {
 public:
  Impl(Database* db, std::shared_ptr<Transport> transport, SyncOptions options)
      : db_(db), access_(db), transport_(std::move(transport)), options_(std::move(options)) {
    if (options_.clock == nullptr) options_.clock = SystemClock();
    if (options_.random == nullptr) {
      owned_random_ = NewSystemRandom();
      options_.random = owned_random_.get();
    }
    client_.set_protocol_version(tuning::kProtocolVersion);
    client_.set_sdk_version(options_.sdk_version);
    client_.set_platform(options_.platform);
    client_.set_app_version(options_.app_version);
    db_->SetWriteListener([this] { RequestSync(); });
    if (auto last = db_->LastSyncMs(); last.ok()) {
      absl::MutexLock lock(&mu_);
      progress_.last_success_ms = *last;
    }
    UpdatePending();
  }

  ~Impl() {
    Stop();
    db_->SetWriteListener(nullptr);
  }

  absl::Status SyncOnce() {
    absl::MutexLock cycle_lock(&cycle_mu_);
    cancelled_ = false;
    if (wiped_) return absl::FailedPreconditionError("the local store was wiped");
    auto offline = access_.Offline();
    if (!offline.ok()) return offline.status();
    if (*offline) {
      SetState(SyncProgress::State::kOffline, "offline: sync is switched off");
      return absl::FailedPreconditionError("offline: sync is switched off (go online first)");
    }
    {
      absl::MutexLock lock(&mu_);
      progress_.pushed = progress_.pulled = 0;
    }
    SetState(SyncProgress::State::kSyncing, "");
    Log(LogLevel::kDebug, "sync: cycle started");
    internal::CycleContext ctx;
    ctx.db = &access_;
    ctx.transport = transport_.get();
    ctx.options = &options_;
    ctx.cancelled = &cancelled_;
    ctx.client = client_;
    ctx.on_count = [this](int64_t pushed, int64_t pulled) {
      {
        absl::MutexLock lock(&mu_);
        progress_.pushed = pushed;
        progress_.pulled = pulled;
      }
      UpdatePending();
    };
    CallStatus result = RunCycle(&ctx);
    {
      absl::MutexLock lock(&mu_);
      progress_.resets += ctx.resets;
      if (result.ok()) progress_.checksum_mismatch = ctx.checksum_mismatch;
    }
    if (result.directive == Directive::kWipe) {
      absl::Status wiped = access_.Wipe();
      wiped_ = true;
      SetState(SyncProgress::State::kWiped, "the server revoked this device; local store erased");
      Log(LogLevel::kError, "sync: the server revoked this device; the local store was erased");
      if (options_.on_wiped) options_.on_wiped();
      return absl::FailedPreconditionError(
          std::string("wiped: the server revoked this device and the local store was erased") +
          (wiped.ok() ? "" : " (" + std::string(wiped.message()) + ")"));
    }
    if (result.directive == Directive::kUpgradeRequired) {
      result.status = absl::FailedPreconditionError("upgrade required: " +
                                                    std::string(result.status.message()));
    }
    UpdatePending();
    if (ctx.resets > 0) {
      Log(LogLevel::kWarning, "sync: the replica was rebuilt from the server (" +
                                  std::to_string(ctx.resets) +
                                  " re-bootstrap(s)); unsent edits kept");
    }
    if (result.ok()) {
      const int64_t now_ms = options_.clock->NowMs();
      (void)access_.SetLastSync(now_ms);
      int64_t pushed = 0, pulled = 0;
      {
        absl::MutexLock lock(&mu_);
        ++progress_.cycles;
        progress_.last_success_ms = now_ms;
        pushed = progress_.pushed;
        pulled = progress_.pulled;
      }
      Log(LogLevel::kDebug, "sync: cycle done, pushed " + std::to_string(pushed) + ", pulled " +
                                std::to_string(pulled));
    } else {
      Log(LogLevel::kWarning, "sync: cycle failed: " + result.status.ToString());
    }
    SetState(result.ok() ? SyncProgress::State::kIdle : SyncProgress::State::kFailed,
             result.ok() ? "" : std::string(result.status.ToString()));
    return result.status;
  }

  void Start() {
    absl::MutexLock lock(&lifecycle_mu_);
    if (thread_.joinable()) return;
    {
      absl::MutexLock wake_lock(&wake_mu_);
      stop_ = false;
      wake_ = true;
    }
    thread_ = std::thread([this] { Loop(); });
  }

  void Stop() {
    // Held while joining: a concurrent Start waits for the old loop to end.
    // The loop never takes lifecycle_mu_.
    absl::MutexLock lock(&lifecycle_mu_);
    if (!thread_.joinable()) return;
    {
      absl::MutexLock wake_lock(&wake_mu_);
      stop_ = true;
      cancelled_ = true;
    }
    thread_.join();
    thread_ = std::thread();
  }

  void RequestSync() {
    {
      absl::MutexLock lock(&wake_mu_);
      wake_ = true;
    }
  }

  void Cancel() { cancelled_ = true; }

  SyncProgress Progress() const {
    absl::MutexLock lock(&mu_);
    return progress_;
  }

  absl::StatusOr<v1::GetFieldHistoryResponse> FieldHistory(const v1::RecordRef& record,
                                                           const std::string& field, int limit) {
    v1::GetFieldHistoryRequest request;
    *request.mutable_client() = client_;  // set once in the constructor
    *request.mutable_record() = record;
    request.set_field(field);
    request.set_limit(limit);
    v1::GetFieldHistoryResponse response;
    CallStatus call = transport_->GetFieldHistory(request, &response);
    if (!call.ok()) return call.status;
    return response;
  }

 private:
  CallStatus RunCycle(internal::CycleContext* ctx) {
    CallStatus s = internal::PushOutbox(ctx);
    if (!s.ok()) return s;
    s = internal::PullUntilCaughtUp(ctx);
    if (!s.ok()) return s;
    if (ctx->resets > 0) {
      // A re-bootstrap happened: replay what is still pending on the fresh
      // replica.
      s = internal::PushOutbox(ctx);
      if (!s.ok()) return s;
    }
    if (options_.verify_checksum) {
      bool repaired = false;
      s = internal::VerifyReplica(ctx, &repaired);
      if (!s.ok()) return s;
      if (repaired) s = internal::PushOutbox(ctx);
    }
    return s;
  }

  void Loop() {
    int failures = 0;
    std::unique_ptr<Subscription> subscription;
    for (;;) {
      {
        absl::MutexLock lock(&wake_mu_);
        wake_ = false;
      }
      if (StopRequested()) break;
      absl::Status s = SyncOnce();
      int64_t wait_ms = tuning::kPeriodicSyncMs;
      if (s.ok()) {
        failures = 0;
        if (!subscription || subscription_ended_) {
          subscription.reset();
          subscription = OpenSubscription();
        }
      } else {
        subscription.reset();
        SetSubscribed(false);
        if (wiped_ || StopRequested()) break;
        if (IsTransient(s)) {
          wait_ms = BackoffMs(failures++);
          SetState(SyncProgress::State::kBackoff, std::string(s.ToString()));
          Log(LogLevel::kInfo,
              "sync: server unreachable, retrying in " + std::to_string(wait_ms) + " ms");
        }
      }
      absl::MutexLock lock(&wake_mu_);
      wake_mu_.AwaitWithTimeout(absl::Condition(this, &Impl::WakeRequested),
                                absl::Milliseconds(wait_ms));
      if (stop_) break;
      if (wake_ && s.ok()) {
        // Let a burst of local writes land in one batch.
        wake_mu_.AwaitWithTimeout(absl::Condition(this, &Impl::Stopping),
                                  absl::Milliseconds(tuning::kWriteCoalesceMs));
      }
    }
    subscription.reset();
    SetSubscribed(false);
  }

  std::unique_ptr<Subscription> OpenSubscription() {
    auto cursor = access_.Cursor();
    if (!cursor.ok()) return nullptr;
    subscription_ended_ = false;
    SetSubscribed(true);
    v1::SubscribeRequest request;
    *request.mutable_client() = client_;
    request.set_cursor(*cursor);
    return transport_->Subscribe(
        request,
        [this](const v1::SubscribeEvent& event) {
          if (event.has_changes_available()) RequestSync();
        },
        [this](const CallStatus& done) {
          SetSubscribed(false);
          Log(LogLevel::kDebug, "sync: subscription ended: " + done.status.ToString());
          {
            absl::MutexLock lock(&wake_mu_);
            subscription_ended_ = true;
          }
        });
  }

  int64_t BackoffMs(int failures) {
    const int shift = std::min(failures, 20);
    const int64_t delay = std::min(tuning::kBackoffMaxMs, tuning::kBackoffBaseMs << shift);
    const int64_t half = delay / 2;
    return half + static_cast<int64_t>(options_.random->Next() % static_cast<uint64_t>(half + 1));
  }

  bool StopRequested() { return stop_.load(); }
  // Conditions of the loop's waits. stop_ and subscription_ended_ are set
  // true under wake_mu_, so a waiter sees them when the setter unlocks.
  bool WakeRequested() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) {
    return wake_ || stop_.load() || subscription_ended_.load();
  }
  bool Stopping() const { return stop_.load(); }

  void SetState(SyncProgress::State state, const std::string& error) {
    SyncProgress copy;
    {
      absl::MutexLock lock(&mu_);
      progress_.state = state;
      progress_.last_error = error;
      copy = progress_;
    }
    if (options_.on_progress) options_.on_progress(copy);
  }

  void SetSubscribed(bool subscribed) {
    SyncProgress copy;
    {
      absl::MutexLock lock(&mu_);
      if (progress_.subscribed == subscribed) return;
      progress_.subscribed = subscribed;
      copy = progress_;
    }
    if (options_.on_progress) options_.on_progress(copy);
  }

  void Log(LogLevel level, const std::string& message) {
    if (options_.on_log && level >= options_.log_level) options_.on_log(level, message);
  }

  void UpdatePending() {
    if (wiped_) return;
    auto pending = access_.PendingCount();
    SyncProgress copy;
    {
      absl::MutexLock lock(&mu_);
      if (pending.ok()) progress_.pending = *pending;
      copy = progress_;
    }
    if (options_.on_progress) options_.on_progress(copy);
  }

  Database* db_;
  Database::SyncAccess access_;
  std::shared_ptr<Transport> transport_;
  SyncOptions options_;
  std::unique_ptr<Random> owned_random_;
  v1::ClientInfo client_;

  absl::Mutex cycle_mu_;      // one cycle at a time
  absl::Mutex lifecycle_mu_;  // Start and Stop, one at a time
  std::thread thread_ ABSL_GUARDED_BY(lifecycle_mu_);
  mutable absl::Mutex mu_;
  SyncProgress progress_ ABSL_GUARDED_BY(mu_);
  absl::Mutex wake_mu_;
  bool wake_ ABSL_GUARDED_BY(wake_mu_) = false;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> wiped_{false};
  std::atomic<bool> subscription_ended_{false};
};

SyncEngine::SyncEngine(Database* db, std::shared_ptr<Transport> transport, SyncOptions options)
    : impl_(std::make_unique<Impl>(db, std::move(transport), std::move(options))) {}
SyncEngine::~SyncEngine() = default;
absl::Status SyncEngine::SyncOnce() { return impl_->SyncOnce(); }
void SyncEngine::Start() { impl_->Start(); }
void SyncEngine::Stop() { impl_->Stop(); }
void SyncEngine::RequestSync() { impl_->RequestSync(); }
void SyncEngine::Cancel() { impl_->Cancel(); }
SyncProgress SyncEngine::Progress() const { return impl_->Progress(); }
absl::StatusOr<v1::GetFieldHistoryResponse> SyncEngine::FieldHistory(const v1::RecordRef& record,
                                                                     const std::string& field,
                                                                     int limit) {
  return impl_->FieldHistory(record, field, limit);
}

}  // namespace crmsync::client
