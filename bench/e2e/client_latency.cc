// latency mode: how long a change takes from a device's Push to the
// Subscribe event another device of the same user gets (possibly from
// another crm-syncd instance sharing the database).
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "client_modes.h"
#include "leads.h"
#include "line_protocol.h"

namespace crmsync::bench::e2e {
namespace {

using SteadyClock = std::chrono::steady_clock;

// The events a Subscribe stream delivered, with their arrival times.
class EventLog {
 public:
  void Add(int64_t latest_seq) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back({SteadyClock::now(), latest_seq});
    cv_.notify_all();
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  // Arrival time of the first event announcing `seq` or later; false after
  // `limit` or when the stream ended.
  bool WaitFor(int64_t seq, std::chrono::milliseconds limit, SteadyClock::time_point* at) {
    std::unique_lock<std::mutex> lock(mu_);
    const auto deadline = SteadyClock::now() + limit;
    for (;;) {
      for (; next_ < events_.size(); ++next_) {
        if (events_[next_].seq >= seq) {
          *at = events_[next_++].at;
          return true;
        }
      }
      if (closed_) return false;
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return false;
    }
  }

 private:
  struct Event {
    SteadyClock::time_point at;
    int64_t seq;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  size_t next_ = 0;
  bool closed_ = false;
};

}  // namespace

int RunLatency(const ClientArgs& args) {
  auto push_channel = MakeChannel(args.endpoint);
  // The listener is another device: a connection of its own even when both
  // talk to the same instance.
  auto listen_channel = MakeChannel(args.subscribe_endpoint, /*own_connection=*/true);
  auto user = UserSession::SignIn(push_channel, args.tenant, args.user, args.password);
  if (!user.ok()) return Fail(std::string(user.status().message()));
  const std::string pusher_id = args.device + "-phone";
  auto pusher_token = user->RegisterDevice(pusher_id);
  auto listener_token = user->RegisterDevice(args.device + "-tablet");
  if (!pusher_token.ok()) return Fail(std::string(pusher_token.status().message()));
  if (!listener_token.ok()) return Fail(std::string(listener_token.status().message()));
  DeviceClient pusher(push_channel, *pusher_token);
  DeviceClient listener(listen_channel, *listener_token);

  std::string cursor;
  int64_t held = 0;
  grpc::Status s = listener.CatchUp(&cursor, 500, 100000, &held);
  if (!s.ok()) return Fail("listener catch-up: " + s.error_message());

  EventLog log;
  grpc::ClientContext stream_ctx;
  listener.Prepare(&stream_ctx, std::chrono::seconds(args.timeout_s));
  v1::SubscribeRequest sub;
  SetClientInfo(sub.mutable_client());
  sub.set_cursor(cursor);
  auto reader = listener.stub()->Subscribe(&stream_ctx, sub);
  std::thread reading([&] {
    v1::SubscribeEvent event;
    while (reader->Read(&event)) {
      if (event.has_changes_available()) log.Add(event.changes_available().latest_seq());
    }
    log.Close();
  });

  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  int64_t seq = 0;
  constexpr int kWarmUp = 5;
  std::vector<double> latency_ms, push_ms;
  int lost = 0;
  std::string failure;
  const auto deadline = SteadyClock::now() + std::chrono::seconds(args.timeout_s);
  for (int i = 0; i < kWarmUp + args.count && failure.empty(); ++i) {
    if (SteadyClock::now() > deadline) {
      failure = "time limit reached";
      break;
    }
    v1::PushRequest req;
    SetClientInfo(req.mutable_client());
    *req.add_mutations() =
        LeadCreate(args.series, i, args.owner_id, args.team, pusher_id, ++seq, now_ms + i);
    v1::PushResponse resp;
    const auto t0 = SteadyClock::now();
    grpc::Status pushed = pusher.Push(req, &resp);
    const auto t1 = SteadyClock::now();
    if (!pushed.ok() || resp.results_size() != 1 || resp.results(0).change_seq() == 0) {
      failure = "Push: " + pushed.error_message();
      break;
    }
    SteadyClock::time_point seen;
    // The first pushes also prove that the stream is live.
    const auto wait = std::chrono::milliseconds(i < kWarmUp ? 10'000 : 5'000);
    if (!log.WaitFor(resp.results(0).change_seq(), wait, &seen)) {
      if (i < kWarmUp) failure = "the Subscribe stream announced no change";
      ++lost;
      continue;
    }
    if (i >= kWarmUp) {
      latency_ms.push_back(1000 * Seconds(t0, seen));
      push_ms.push_back(1000 * Seconds(t0, t1));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(args.interval_ms));
  }
  stream_ctx.TryCancel();
  reading.join();
  reader->Finish();
  if (!failure.empty()) return Fail("latency: " + failure);
  Emit({{"event", "result"},
        {"pushes", args.count},
        {"lost", lost},
        {"latency_ms", Percentiles(latency_ms)},
        {"push_ms", Percentiles(push_ms)},
        {"throttled_calls", pusher.throttled()},
        {"same_instance", args.endpoint.address == args.subscribe_endpoint.address}});
  return 0;
}

}  // namespace crmsync::bench::e2e
