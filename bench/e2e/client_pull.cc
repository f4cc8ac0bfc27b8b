// pull mode: a new device's first pull (bootstrap), then deltas: another
// device of the same user edits 1 % of the records and this device pulls
// them, timed end to end and by the server's own RPC histogram.
#include <chrono>
#include <vector>

#include "client_modes.h"
#include "leads.h"
#include "line_protocol.h"
#include "metrics_scrape.h"
#include "sync_client.h"

namespace crmsync::bench::e2e {
namespace {

using SteadyClock = std::chrono::steady_clock;

v1::RecordState StateOf(const v1::Change& c) {
  v1::RecordState s;
  *s.mutable_ref() = c.record();
  *s.mutable_data() = c.values();
  s.set_version(c.version());
  return s;
}

// Pushes a notes edit of each of `bases` from `editor`, in batches.
absl::Status PushEdits(DeviceClient* editor, const std::vector<const v1::RecordState*>& bases,
                       const std::string& device, int batch, int round, int64_t* seq) {
  for (size_t i = 0; i < bases.size(); i += batch) {
    v1::PushRequest req;
    SetClientInfo(req.mutable_client());
    for (size_t j = i; j < std::min(bases.size(), i + batch); ++j) {
      v1::Lead values;
      values.set_notes("Called back, round " + std::to_string(round));
      *req.add_mutations() =
          ::crmsync::testing::LeadUpdate(++*seq, *bases[j], values, {"notes"}, device);
    }
    v1::PushResponse resp;
    grpc::Status s = editor->Push(req, &resp);
    if (!s.ok()) return absl::InternalError("Push of edits: " + s.error_message());
    for (const auto& r : resp.results()) {
      if (r.outcome() != v1::MUTATION_OUTCOME_APPLIED) {
        return absl::InternalError("edit not applied: " + r.ShortDebugString().substr(0, 300));
      }
    }
  }
  return absl::OkStatus();
}

// Pulls from `*cursor` until caught up, timing each call end to end and,
// from scrapes of the metrics endpoint around it, on the server (this is
// the only client of the server meanwhile). Sums over the calls, and the
// first call alone.
absl::StatusOr<nlohmann::json> TimedCatchUp(DeviceClient* puller, std::string* cursor,
                                            int page_size, int metrics_port) {
  constexpr int kMaxCalls = 100;
  int64_t changes = 0;
  double e2e_ms = 0, server_ms = 0, server_calls = 0;
  nlohmann::json first;
  for (int call = 0; call < kMaxCalls; ++call) {
    auto before = MetricsSnapshot::Scrape(metrics_port);
    if (!before.ok()) return before.status();
    v1::PullRequest req;
    SetClientInfo(req.mutable_client());
    req.set_cursor(*cursor);
    req.set_page_size(page_size);
    v1::PullResponse resp;
    const auto t0 = SteadyClock::now();
    grpc::Status s = puller->Pull(req, &resp);
    const double ms = 1000 * Seconds(t0, SteadyClock::now());
    if (!s.ok()) return absl::InternalError("delta Pull: " + s.error_message());
    auto after = MetricsSnapshot::Scrape(metrics_port);
    if (!after.ok()) return after.status();
    const double server = 1000 * (after->RpcSeconds(kPullMethod) - before->RpcSeconds(kPullMethod));
    if (call == 0) {
      first = {{"changes", resp.changes_size()}, {"e2e_ms", ms}, {"server_ms", server}};
    }
    changes += resp.changes_size();
    e2e_ms += ms;
    server_ms += server;
    server_calls += after->RpcCount(kPullMethod) - before->RpcCount(kPullMethod);
    *cursor = resp.next_cursor();
    if (!resp.has_more()) {
      return nlohmann::json{{"changes", changes},           {"e2e_ms", e2e_ms},
                            {"server_ms", server_ms},       {"calls", call + 1},
                            {"server_calls", server_calls}, {"page_size", page_size},
                            {"first_call", first}};
    }
  }
  return absl::DeadlineExceededError("delta pull not caught up after 100 calls");
}

}  // namespace

int RunPull(const ClientArgs& args) {
  auto channel = MakeChannel(args.endpoint);
  auto user = UserSession::SignIn(channel, args.tenant, args.user, args.password);
  if (!user.ok()) return Fail(std::string(user.status().message()));
  const std::string editor_id = args.device + "-editor";
  auto puller_token = user->RegisterDevice(args.device);
  auto editor_token = user->RegisterDevice(editor_id);
  if (!puller_token.ok()) return Fail(std::string(puller_token.status().message()));
  if (!editor_token.ok()) return Fail(std::string(editor_token.status().message()));
  DeviceClient puller(channel, *puller_token);
  DeviceClient editor(channel, *editor_token);
  Emit({{"event", "ready"}});
  const auto deadline = SteadyClock::now() + std::chrono::seconds(args.timeout_s);

  // Bootstrap: pages until caught up.
  std::vector<v1::RecordState> held;
  held.reserve(static_cast<size_t>(args.expect));
  std::vector<double> page_ms;
  std::string cursor;
  int64_t changes = 0;
  const int max_pages = static_cast<int>(args.expect / std::max(1, args.page_size)) * 4 + 1000;
  const auto start = SteadyClock::now();
  bool caught_up = false;
  for (int page = 0; page < max_pages && !caught_up; ++page) {
    if (SteadyClock::now() > deadline) return Fail("bootstrap: time limit reached");
    v1::PullRequest req;
    SetClientInfo(req.mutable_client());
    req.set_cursor(cursor);
    req.set_page_size(args.page_size);
    v1::PullResponse resp;
    const auto t0 = SteadyClock::now();
    grpc::Status s = puller.Pull(req, &resp);
    if (!s.ok()) return Fail("bootstrap Pull: " + s.error_message());
    page_ms.push_back(1000 * Seconds(t0, SteadyClock::now()));
    changes += resp.changes_size();
    for (const v1::Change& c : resp.changes()) {
      if (c.kind() == v1::CHANGE_KIND_UPSERT && c.values().has_lead()) held.push_back(StateOf(c));
    }
    cursor = resp.next_cursor();
    caught_up = !resp.has_more();
  }
  const double boot_s = Seconds(start, SteadyClock::now());
  if (!caught_up) return Fail("bootstrap did not catch up");
  if (changes < args.expect) {
    return Fail("bootstrap returned " + std::to_string(changes) + " changes, expected " +
                std::to_string(args.expect));
  }
  nlohmann::json result = {{"event", "result"},
                           {"bootstrap",
                            {{"records", changes},
                             {"pages", page_ms.size()},
                             {"page_size", args.page_size},
                             {"seconds", boot_s},
                             {"per_second", static_cast<double>(changes) / boot_s},
                             {"page_ms", Percentiles(page_ms)},
                             {"throttled_calls", puller.throttled()}}}};

  // Deltas: each round edits records no earlier round touched, spread over
  // the whole set.
  const size_t needed = static_cast<size_t>(args.delta_count) * args.delta_rounds;
  if (needed > held.size()) return Fail("fewer records held than the delta rounds edit");
  const size_t step = needed == 0 ? 1 : held.size() / needed;
  const int delta_page = std::max(args.page_size, args.delta_count);
  nlohmann::json rounds = nlohmann::json::array();
  std::vector<double> e2e_ms, server_ms, first_server_ms;
  int64_t seq = 0;
  for (int r = 0; r < args.delta_rounds; ++r) {
    std::vector<const v1::RecordState*> bases;
    for (int k = 0; k < args.delta_count; ++k) {
      bases.push_back(&held[(static_cast<size_t>(k) * args.delta_rounds + r) * step]);
    }
    if (auto s = PushEdits(&editor, bases, editor_id, args.batch, r, &seq); !s.ok()) {
      return Fail(std::string(s.message()));
    }
    auto pulled = TimedCatchUp(&puller, &cursor, delta_page, args.metrics_port);
    if (!pulled.ok()) return Fail(std::string(pulled.status().message()));
    const int64_t got = (*pulled)["changes"].get<int64_t>();
    const double ms = (*pulled)["e2e_ms"].get<double>();
    const double server = (*pulled)["server_ms"].get<double>();
    first_server_ms.push_back((*pulled)["first_call"]["server_ms"].get<double>());
    rounds.push_back(*pulled);
    e2e_ms.push_back(ms);
    server_ms.push_back(server);
    if (got != args.delta_count) {
      return Fail("delta pull returned " + std::to_string(got) + " changes, expected " +
                  std::to_string(args.delta_count));
    }
  }
  result["delta"] = {{"count", args.delta_count},
                     {"rounds", rounds},
                     {"e2e_ms", Percentiles(e2e_ms)},
                     {"server_ms", Percentiles(server_ms)},
                     {"first_call_server_ms", Percentiles(first_server_ms)}};
  Emit(result);
  return 0;
}

}  // namespace crmsync::bench::e2e
