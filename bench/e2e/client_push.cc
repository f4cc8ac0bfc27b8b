// push mode: one device creating leads in batches, as fast as the server
// answers.
#include <chrono>
#include <vector>

#include "client_modes.h"
#include "leads.h"
#include "line_protocol.h"

namespace crmsync::bench::e2e {

int RunPush(const ClientArgs& args) {
  auto channel = MakeChannel(args.endpoint);
  auto user = UserSession::SignIn(channel, args.tenant, args.user, args.password);
  if (!user.ok()) return Fail(std::string(user.status().message()));
  auto token = user->RegisterDevice(args.device);
  if (!token.ok()) return Fail(std::string(token.status().message()));
  DeviceClient device(channel, *token);

  // Requests are built before the clock starts: the figure is the server's
  // and the wire's, not this process's protobuf building.
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  std::vector<v1::PushRequest> batches;
  int64_t seq = 0;
  for (int64_t i = 0; i < args.records; i += args.batch) {
    v1::PushRequest& req = batches.emplace_back();
    SetClientInfo(req.mutable_client());
    for (int64_t j = i; j < std::min(args.records, i + args.batch); ++j) {
      *req.add_mutations() =
          LeadCreate(args.series, j, args.owner_id, args.team, args.device, ++seq, now_ms);
    }
  }
  Emit({{"event", "ready"}});
  if (args.wait_go && ReadCommand() != "go") return Fail("expected 'go'");

  std::vector<double> batch_ms;
  int64_t not_applied = 0;
  std::string first_problem;
  const int64_t start_ns = MonotonicNs();
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(args.timeout_s);
  for (const v1::PushRequest& req : batches) {
    const auto t0 = std::chrono::steady_clock::now();
    if (t0 > deadline) return Fail("push: time limit reached");
    v1::PushResponse resp;
    grpc::Status s = device.Push(req, &resp);
    if (!s.ok()) return Fail("Push: " + s.error_message());
    batch_ms.push_back(1000 * Seconds(t0, std::chrono::steady_clock::now()));
    for (const v1::MutationResult& r : resp.results()) {
      if (r.outcome() != v1::MUTATION_OUTCOME_APPLIED) {
        if (first_problem.empty()) first_problem = r.ShortDebugString().substr(0, 300);
        ++not_applied;
      }
    }
  }
  const double seconds = Seconds(start, std::chrono::steady_clock::now());
  const int64_t end_ns = MonotonicNs();
  Emit({{"event", "result"},
        {"mutations", args.records},
        {"seconds", seconds},
        {"per_second", static_cast<double>(args.records) / seconds},
        {"start_ns", start_ns},
        {"end_ns", end_ns},
        {"batches", batches.size()},
        {"batch_ms", Percentiles(batch_ms)},
        {"throttled_calls", device.throttled()},
        {"not_applied", not_applied},
        {"first_not_applied", first_problem}});
  return 0;
}

}  // namespace crmsync::bench::e2e
