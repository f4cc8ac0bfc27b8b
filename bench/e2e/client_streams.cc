// streams mode: a crowd of idle devices, each with its own Subscribe
// stream (and, by default, its own TCP connection), as a server sees the
// field force's phones between syncs. Driven by the orchestrator:
//   -> {"event": "ready"}   devices registered; send "go"
//   -> {"event": "open"}    every stream live; RSS is read now; send "fanout"
//   -> {"event": "fanout"}  one change reached the streams; send "close"
//   -> {"event": "result"}  streams closed
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "client_modes.h"
#include "leads.h"
#include "line_protocol.h"
#include "metrics_scrape.h"

namespace crmsync::bench::e2e {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Streams being opened at once: devices come online over time, not in one
// instant (and the server's work queue is bounded).
constexpr int kOpeningWindow = 256;
// Attempts per stream when the server answers "busy" or is unreachable.
constexpr int kMaxAttempts = 5;
constexpr int kRegisterThreads = 8;

// What every stream has seen, shared with the reactors' callbacks.
class StreamHub {
 public:
  enum class State { kNotStarted, kOpening, kLive, kFailed, kRetry };

  StreamHub(int n, int64_t open_seq) : open_seq_(open_seq), state_(n), reached_(n) {}

  void Seen(int i, int64_t seq) {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_[i] == State::kOpening && seq >= open_seq_) {
      state_[i] = State::kLive;
      ++live_;
    }
    if (fanout_from_ > 0 && seq >= fanout_from_ && reached_[i] == 0) {
      reached_[i] = 1;
      arrivals_ms_.push_back(1000 * Seconds(fanout_start_, SteadyClock::now()));
    }
    cv_.notify_all();
  }

  void Done(int i, const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    ++done_;
    if (closing_) {
      cv_.notify_all();
      return;
    }
    if (state_[i] == State::kLive) {
      --live_;
      ++dropped_;  // an idle stream the server ended
    }
    const bool retry = status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                       status.error_code() == grpc::StatusCode::UNAVAILABLE;
    state_[i] = retry ? State::kRetry : State::kFailed;
    ++codes_[std::to_string(static_cast<int>(status.error_code()))];
    if (first_error_.empty()) first_error_ = status.error_message();
    cv_.notify_all();
  }

  void Reopening(int i) {
    std::lock_guard<std::mutex> lock(mu_);
    state_[i] = State::kOpening;
  }

  // The fan-out counts events announcing `seq` or later.
  void StartFanout(int64_t seq) {
    std::lock_guard<std::mutex> lock(mu_);
    fanout_start_ = SteadyClock::now();
    fanout_from_ = seq;
  }
  void SetClosing() {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }

  // Waits up to `limit` for `done(...)` under the lock.
  template <typename Pred>
  bool WaitUntil(Pred done, std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return done(); });
  }

  // Read under the lock via WaitUntil, or after the streams settled.
  int live() const { return live_; }
  int done() const { return done_; }
  int dropped() const { return dropped_; }
  size_t reached() const { return arrivals_ms_.size(); }
  State state(int i) const { return state_[i]; }
  int opening() const {
    int n = 0;
    for (State s : state_) n += s == State::kOpening ? 1 : 0;
    return n;
  }
  std::vector<double> arrivals_ms() const { return arrivals_ms_; }
  nlohmann::json errors() const { return {{"codes", codes_}, {"first", first_error_}}; }
  std::mutex& mu() { return mu_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  const int64_t open_seq_;
  std::vector<State> state_;
  std::vector<char> reached_;
  std::vector<double> arrivals_ms_;
  SteadyClock::time_point fanout_start_;
  int64_t fanout_from_ = 0;
  int live_ = 0, done_ = 0, dropped_ = 0;
  bool closing_ = false;
  std::map<std::string, int> codes_;
  std::string first_error_;
};

class IdleStream final : public grpc::ClientReadReactor<v1::SubscribeEvent> {
 public:
  IdleStream(StreamHub* hub, int index) : hub_(hub), index_(index) {}

  void Open(v1::SyncService::Stub* stub, const std::string& token,
            const v1::SubscribeRequest& request) {
    request_ = request;
    context_.AddMetadata("authorization", "Bearer " + token);
    stub->async()->Subscribe(&context_, &request_, this);
    StartRead(&event_);
    StartCall();
  }
  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    if (event_.has_changes_available()) {
      hub_->Seen(index_, event_.changes_available().latest_seq());
    }
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& status) override { hub_->Done(index_, status); }

 private:
  StreamHub* hub_;
  int index_;
  grpc::ClientContext context_;
  v1::SubscribeRequest request_;
  v1::SubscribeEvent event_;
};

struct StreamUser {
  std::string username, password, id;
};

absl::StatusOr<std::vector<StreamUser>> ReadUsers(const std::string& path) {
  auto users = nlohmann::json::parse(ReadFileOrEmpty(path), nullptr, /*allow_exceptions=*/false);
  if (!users.is_array() || users.empty()) {
    return absl::InvalidArgumentError("no users in " + path);
  }
  std::vector<StreamUser> out;
  for (const auto& u : users) {
    out.push_back({u.value("username", ""), u.value("password", ""), u.value("id", "")});
  }
  return out;
}

// Signs in every user and registers device i to user i % users.size(),
// from a few threads (one user at a time each); the devices' tokens.
absl::StatusOr<std::vector<std::string>> RegisterDevices(std::shared_ptr<grpc::Channel> channel,
                                                         const std::string& tenant,
                                                         const std::vector<StreamUser>& users,
                                                         const std::string& prefix, int n) {
  std::vector<std::string> tokens(n);
  std::mutex mu;
  absl::Status error;
  std::vector<std::thread> threads;
  const int u_count = static_cast<int>(users.size());
  for (int t = 0; t < kRegisterThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int u = t; u < u_count; u += kRegisterThreads) {
        auto session = UserSession::SignIn(channel, tenant, users[u].username, users[u].password);
        if (!session.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (error.ok()) error = session.status();
          return;
        }
        for (int i = u; i < n; i += u_count) {
          auto token = session->RegisterDevice(prefix + std::to_string(i));
          std::lock_guard<std::mutex> lock(mu);
          if (!token.ok()) {
            if (error.ok()) error = token.status();
            return;
          }
          tokens[i] = *std::move(token);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (!error.ok()) return error;
  return tokens;
}

absl::StatusOr<int64_t> PushOneLead(DeviceClient* device, const ClientArgs& args,
                                    const std::string& device_id, int64_t index) {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  v1::PushRequest req;
  SetClientInfo(req.mutable_client());
  v1::Mutation* m = req.add_mutations();
  *m = LeadCreate(args.series, index, args.owner_id, args.team, device_id, index + 1, now_ms);
  // Seen by every device of the team, i.e. every stream.
  m->mutable_values()->mutable_lead()->set_visibility(v1::VISIBILITY_TEAM);
  v1::PushResponse resp;
  grpc::Status s = device->Push(req, &resp);
  if (!s.ok()) return absl::InternalError("Push: " + s.error_message());
  if (resp.results_size() != 1 || resp.results(0).change_seq() == 0) {
    return absl::InternalError("Push not applied: " + resp.ShortDebugString().substr(0, 300));
  }
  return resp.results(0).change_seq();
}

}  // namespace

int RunStreams(const ClientArgs& args) {
  const int n = args.count;
  auto auth_channel = MakeChannel(args.endpoint);
  auto user = UserSession::SignIn(auth_channel, args.tenant, args.user, args.password);
  if (!user.ok()) return Fail(std::string(user.status().message()));
  const std::string pusher_id = args.device + "-pusher";
  auto pusher_token = user->RegisterDevice(pusher_id);
  if (!pusher_token.ok()) return Fail(std::string(pusher_token.status().message()));
  DeviceClient pusher(auth_channel, *pusher_token);

  auto users = ReadUsers(args.users_file);
  if (!users.ok()) return Fail(std::string(users.status().message()));
  const auto register_start = SteadyClock::now();
  auto tokens = RegisterDevices(auth_channel, args.tenant, *users, args.device + "-", n);
  if (!tokens.ok()) return Fail(std::string(tokens.status().message()));
  const double register_s = Seconds(register_start, SteadyClock::now());

  // A cursor at the end of the feed, then one change in the devices' scope:
  // a stream opened from that cursor announces it at once, which proves
  // the stream is live; after that it is idle.
  std::string cursor;
  int64_t ignored = 0;
  grpc::Status caught = pusher.CatchUp(&cursor, 500, 100000, &ignored);
  if (!caught.ok()) return Fail("catch-up: " + caught.error_message());
  auto open_seq = PushOneLead(&pusher, args, pusher_id, 0);
  if (!open_seq.ok()) return Fail(std::string(open_seq.status().message()));
  Emit({{"event", "ready"},
        {"devices", n},
        {"users", users->size()},
        {"register_seconds", register_s}});
  if (ReadCommand() != "go") return Fail("expected 'go'");

  const int connections = args.connections > 0 ? std::min(args.connections, n) : n;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::SyncService::Stub>> stubs;
  for (int c = 0; c < connections; ++c) {
    channels.push_back(MakeChannel(args.endpoint, /*own_connection=*/true));
    stubs.push_back(v1::SyncService::NewStub(channels.back()));
  }
  v1::SubscribeRequest request;
  SetClientInfo(request.mutable_client());
  request.set_cursor(cursor);

  StreamHub hub(n, *open_seq);
  std::vector<std::unique_ptr<IdleStream>> streams(n);
  std::vector<std::unique_ptr<IdleStream>> finished;  // ended reactors stay allocated
  std::vector<int> attempts(n, 0);
  const auto open_start = SteadyClock::now();
  const auto open_deadline = open_start + std::chrono::seconds(args.timeout_s);
  int next = 0;
  int given_up = 0;
  for (;;) {
    std::vector<int> to_open;
    {
      std::lock_guard<std::mutex> lock(hub.mu());
      for (int i = 0; i < next; ++i) {
        if (hub.state(i) != StreamHub::State::kRetry) continue;
        if (attempts[i] >= kMaxAttempts) continue;
        to_open.push_back(i);
      }
      int in_flight = hub.opening();
      while (next < n && in_flight + static_cast<int>(to_open.size()) < kOpeningWindow) {
        to_open.push_back(next++);
      }
      given_up = 0;
      for (int i = 0; i < next; ++i) {
        auto st = hub.state(i);
        if (st == StreamHub::State::kFailed ||
            (st == StreamHub::State::kRetry && attempts[i] >= kMaxAttempts)) {
          ++given_up;
        }
      }
      if (next == n && hub.live() + given_up >= n) break;
    }
    if (SteadyClock::now() > open_deadline) break;
    for (int i : to_open) {
      if (streams[i]) finished.push_back(std::move(streams[i]));
      if (attempts[i] > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ++attempts[i];
      hub.Reopening(i);
      streams[i] = std::make_unique<IdleStream>(&hub, i);
      streams[i]->Open(stubs[i % connections].get(), (*tokens)[i], request);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // pacing, not a race fix
  }
  const double open_s = Seconds(open_start, SteadyClock::now());
  int live = 0;
  {
    std::lock_guard<std::mutex> lock(hub.mu());
    live = hub.live();
  }
  double gauge = -1;
  if (auto m = MetricsSnapshot::Scrape(args.metrics_port); m.ok()) {
    gauge = m->Get("crmsync_subscribers");
  }
  Emit({{"event", "open"},
        {"streams", n},
        {"live", live},
        {"given_up", given_up},
        {"connections", connections},
        {"open_seconds", open_s},
        {"server_subscribers_gauge", gauge},
        {"errors", hub.errors()}});

  nlohmann::json fanout = {{"event", "fanout"}};
  if (ReadCommand() != "fanout") return Fail("expected 'fanout'");
  hub.StartFanout(*open_seq + 1);
  const auto push_start = SteadyClock::now();
  auto fanout_seq = PushOneLead(&pusher, args, pusher_id, 1);
  if (!fanout_seq.ok()) return Fail(std::string(fanout_seq.status().message()));
  const double push_ms = 1000 * Seconds(push_start, SteadyClock::now());
  const int expected = live;
  const bool all = hub.WaitUntil([&] { return static_cast<int>(hub.reached()) >= expected; },
                                 std::chrono::seconds(std::min(60, args.timeout_s)));
  {
    std::lock_guard<std::mutex> lock(hub.mu());
    std::vector<double> arrivals = hub.arrivals_ms();
    fanout["expected"] = expected;
    fanout["reached"] = arrivals.size();
    fanout["all_reached"] = all;
    fanout["arrival_ms"] = Percentiles(arrivals);
    fanout["push_ms"] = push_ms;
  }
  Emit(fanout);

  if (ReadCommand() != "close") return Fail("expected 'close'");
  int dropped = 0;
  {
    std::lock_guard<std::mutex> lock(hub.mu());
    dropped = hub.dropped();
  }
  hub.SetClosing();
  int started = 0;
  for (auto& s : streams) {
    if (s) {
      ++started;
      s->Cancel();
    }
  }
  const int total_started = started + static_cast<int>(finished.size());
  const bool closed =
      hub.WaitUntil([&] { return hub.done() >= total_started; }, std::chrono::seconds(60));
  Emit({{"event", "result"}, {"closed_cleanly", closed}, {"dropped_while_idle", dropped}});
  if (!closed) {
    // Reactors still running must not be destroyed under their feet.
    std::_Exit(0);
  }
  return 0;
}

}  // namespace crmsync::bench::e2e
