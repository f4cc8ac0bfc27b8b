#include "fake_server.h"

#include "checksum.h"
#include "crmsync/sync/change.h"
#include "crmsync/sync/checksum.h"
#include "crmsync/sync/record_model.h"

namespace crmsync::client::testing {

int64_t FakeServer::ParseCursor(const std::string& cursor) {
  return cursor.empty() ? 0 : std::stoll(cursor.substr(1));
}

bool FakeServer::Fail(CallStatus* out) {
  if (revoked_) {
    *out = {absl::PermissionDeniedError("device revoked"), Directive::kWipe};
    return true;
  }
  if (fail_next_ > 0) {
    --fail_next_;
    ++failed_calls_;
    *out = {absl::UnavailableError("fake server unreachable"), Directive::kNone};
    return true;
  }
  return false;
}

CallStatus FakeServer::Push(const std::string& device, const v1::PushRequest& req,
                            v1::PushResponse* resp) {
  CallStatus out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (req.mutations_size() > 0) {
      pushes_seen_.emplace_back(req.results_acked_through(), req.mutations(0).client_seq());
    }
    if (Fail(&out)) return out;
    ++push_calls_;
    for (const v1::Mutation& m : req.mutations()) {
      auto key = std::make_pair(device, m.client_seq());
      if (auto it = applied_.find(key); it != applied_.end()) {
        *resp->add_results() = it->second;  // exactly once
        continue;
      }
      auto rkey = std::make_pair(static_cast<int>(m.record().entity_type()), m.record().id());
      auto it = records_.find(rkey);
      sync::MergeContext ctx;
      ctx.new_version = seq_ + 1;
      ctx.physical_ms = m.hlc().wall_time_ms();
      sync::MergeResult merged = sync::Merge(it == records_.end() ? nullptr : &it->second, m, ctx);
      v1::MutationResult result = sync::ToMutationResult(merged, m, false);
      if (merged.changed || merged.metadata_changed) {
        if (merged.changed) ++seq_;
        records_[rkey] = merged.new_state;
      }
      for (const v1::Conflict& c : merged.conflicts) {
        if (c.auto_resolved()) continue;
        v1::RecordState cs = sync::ConflictRecordState(c, ++seq_, m.hlc());
        records_[{static_cast<int>(v1::ENTITY_TYPE_CONFLICT), c.id()}] = cs;
      }
      applied_[key] = result;
      *resp->add_results() = result;
    }
  }
  Notify();
  return out;
}

CallStatus FakeServer::Pull(const v1::PullRequest& req, v1::PullResponse* resp) {
  std::function<void(int)> hook;
  int call = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hook = pull_hook_;
    call = ++pull_calls_;
  }
  if (hook) hook(call);
  std::lock_guard<std::mutex> lock(mu_);
  CallStatus out;
  if (Fail(&out)) return out;
  const int64_t since = ParseCursor(req.cursor());
  if (since < reset_below_ && !req.cursor().empty()) {
    return {absl::FailedPreconditionError("cursor behind retention"), Directive::kResetRequired};
  }
  std::map<int64_t, const v1::RecordState*> by_version;
  for (const auto& [k, state] : records_) {
    if (state.version() > since) by_version[state.version()] = &state;
  }
  const int page = req.page_size() > 0 ? std::min(req.page_size(), max_page_) : max_page_;
  int64_t last = since;
  for (const auto& [version, state] : by_version) {
    if (resp->changes_size() >= page) {
      resp->set_has_more(true);
      break;
    }
    *resp->add_changes() = sync::BuildChange(*state, since, false);
    last = version;
  }
  if (!resp->has_more()) last = std::max(last, seq_);
  resp->set_next_cursor("f" + std::to_string(last));
  return out;
}

CallStatus FakeServer::GetChecksum(const v1::GetChecksumRequest& req,
                                   v1::GetChecksumResponse* resp) {
  std::lock_guard<std::mutex> lock(mu_);
  CallStatus out;
  if (Fail(&out)) return out;
  sync::ReplicaChecksum sum(&internal::Sha256Hex);
  for (const auto& [k, state] : records_) sum.Add(state);
  *resp = sum.Finish();
  if (broken_checksum_) resp->set_digest("broken");
  resp->set_cursor("f" + std::to_string(seq_));
  return out;
}

int FakeServer::AddSubscriber(std::function<void()> notify) {
  std::lock_guard<std::mutex> lock(mu_);
  subscribers_[next_subscriber_] = std::move(notify);
  return next_subscriber_++;
}

void FakeServer::RemoveSubscriber(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  subscribers_.erase(id);
}

void FakeServer::Notify() {
  std::vector<std::function<void()>> subs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, f] : subscribers_) subs.push_back(f);
  }
  for (auto& f : subs) f();
}

void FakeServer::FailNextCalls(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_next_ = n;
}
void FakeServer::RequireResetBelow(int64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  reset_below_ = seq;
}
void FakeServer::Revoke() {
  std::lock_guard<std::mutex> lock(mu_);
  revoked_ = true;
}
void FakeServer::SetPullHook(std::function<void(int)> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  pull_hook_ = std::move(hook);
}
void FakeServer::BreakChecksum() {
  std::lock_guard<std::mutex> lock(mu_);
  broken_checksum_ = true;
}
void FakeServer::SetMaxPageSize(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  max_page_ = n;
}
int64_t FakeServer::Latest() {
  std::lock_guard<std::mutex> lock(mu_);
  return seq_;
}
std::optional<v1::RecordState> FakeServer::Get(const v1::RecordRef& ref) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find({static_cast<int>(ref.entity_type()), ref.id()});
  if (it == records_.end()) return std::nullopt;
  return it->second;
}
void FakeServer::Forget(const v1::RecordRef& ref) {
  std::lock_guard<std::mutex> lock(mu_);
  records_.erase({static_cast<int>(ref.entity_type()), ref.id()});
}

namespace {

class FakeSubscription : public Subscription {
 public:
  FakeSubscription(FakeServer* server, int id) : server_(server), id_(id) {}
  ~FakeSubscription() override { server_->RemoveSubscriber(id_); }

 private:
  FakeServer* server_;
  int id_;
};

class FakeTransport : public Transport {
 public:
  FakeTransport(FakeServer* server, std::string device)
      : server_(server), device_(std::move(device)) {}
  CallStatus Push(const v1::PushRequest& req, v1::PushResponse* resp) override {
    return server_->Push(device_, req, resp);
  }
  CallStatus Pull(const v1::PullRequest& req, v1::PullResponse* resp) override {
    return server_->Pull(req, resp);
  }
  CallStatus GetChecksum(const v1::GetChecksumRequest& req,
                         v1::GetChecksumResponse* resp) override {
    return server_->GetChecksum(req, resp);
  }
  std::unique_ptr<Subscription> Subscribe(const v1::SubscribeRequest&,
                                          std::function<void(const v1::SubscribeEvent&)> on_event,
                                          std::function<void(const CallStatus&)>) override {
    auto notify = [on_event] {
      v1::SubscribeEvent e;
      e.mutable_changes_available();
      on_event(e);
    };
    return std::make_unique<FakeSubscription>(server_, server_->AddSubscriber(notify));
  }

 private:
  FakeServer* server_;
  std::string device_;
};

}  // namespace

std::shared_ptr<Transport> MakeFakeTransport(FakeServer* server, std::string device) {
  return std::make_shared<FakeTransport>(server, std::move(device));
}

}  // namespace crmsync::client::testing
