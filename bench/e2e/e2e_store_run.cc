#include "e2e_store_run.h"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>

#include "child_process.h"
#include "line_protocol.h"
#include "server_process.h"

namespace crmsync::bench::e2e {
namespace {

using SteadyClock = std::chrono::steady_clock;
using ::crmsync::testing::ServerProcess;

constexpr int kPushDevices = 4;
// Idle-stream devices per user when --stream-users is not given. The
// per-user rate limit lets one user register about this many devices at
// once; a password hash per user keeps user creation from dominating.
constexpr int kDevicesPerStreamUser = 100;

class StoreBench {
 public:
  StoreBench(const RunContext& ctx, std::string name, std::string spec, bool two_instances)
      : ctx_(ctx),
        opt_(ctx.options),
        name_(std::move(name)),
        spec_(std::move(spec)),
        two_instances_(two_instances),
        owner_(MakeBenchUser("bench-a")),
        latency_user_(MakeBenchUser("bench-l")) {
    for (int i = 1; i <= kPushDevices; ++i) {
      pushers_.push_back(MakeBenchUser("bench-p" + std::to_string(i)));
    }
    if (opt_.phases.count("streams")) {
      const int n =
          opt_.stream_users > 0
              ? opt_.stream_users
              : std::max(1, (opt_.streams + kDevicesPerStreamUser - 1) / kDevicesPerStreamUser);
      for (int i = 1; i <= n; ++i) {
        stream_users_.push_back(MakeBenchUser("bench-s" + std::to_string(i), "team-stream"));
      }
    }
  }

  nlohmann::json Run() {
    nlohmann::json out = {{"store", name_}};
    std::string error;
    if (!primary_.Start(SyncdArgs(ctx_.material, spec_, /*demo_tenant=*/true, opt_.server_args),
                        &error, std::chrono::seconds(120))) {
      out["error"] = "crm-syncd did not start: " + error;
      return out;
    }
    endpoint_ = EndpointOf(ctx_.material, primary_.port());
    std::vector<BenchUser> users = pushers_;
    users.insert(users.end(), {owner_, latency_user_});
    users.insert(users.end(), stream_users_.begin(), stream_users_.end());
    if (auto s = CreateUsers(endpoint_, users); !s.ok()) {
      out["error"] = "creating the benchmark users: " + std::string(s.message());
      return out;
    }
    const std::vector<std::pair<std::string, std::function<absl::StatusOr<nlohmann::json>()>>>
        phases = {
            {"push1", [this] { return Push1(); }},     {"push4", [this] { return Push4(); }},
            {"pull", [this] { return Pull(); }},       {"sdk", [this] { return Sdk(); }},
            {"latency", [this] { return Latency(); }}, {"streams", [this] { return Streams(); }}};
    for (const auto& [phase, run] : phases) {
      if (!opt_.phases.count(phase)) continue;
      std::fprintf(stderr, "[%s] %s ...\n", name_.c_str(), phase.c_str());
      const double cpu0 = CpuSeconds(primary_.pid());
      const auto t0 = SteadyClock::now();
      absl::StatusOr<nlohmann::json> figures = run();
      nlohmann::json f =
          figures.ok() ? *figures : nlohmann::json{{"error", figures.status().message()}};
      f["phase_seconds"] = Seconds(t0, SteadyClock::now());
      f["server_cpu_seconds"] = CpuSeconds(primary_.pid()) - cpu0;
      std::fprintf(stderr, "[%s] %s: %s\n", name_.c_str(), phase.c_str(),
                   figures.ok() ? "done" : std::string(figures.status().message()).c_str());
      out[phase] = f;
    }
    out["server_rss_kib_at_end"] = RssKiB(primary_.pid());
    primary_.Stop(SIGTERM, std::chrono::seconds(30));
    std::ofstream(Log("syncd")) << primary_.Output();
    return out;
  }

 private:
  Deadline PhaseDeadline() const {
    return SteadyClock::now() + std::chrono::seconds(opt_.phase_timeout_s);
  }
  std::string Log(const std::string& what) const {
    return ctx_.work_dir + "/" + name_ + "-" + what + ".log";
  }

  // bench_e2e_client's command line: global flags, then the mode and its
  // own flags.
  std::vector<std::string> ClientArgv(const std::string& mode, const BenchUser& user,
                                      const std::string& device, const std::string& series,
                                      const std::vector<std::string>& mode_args) const {
    std::vector<std::string> argv = {ctx_.client_bin,
                                     "--address",
                                     endpoint_.address,
                                     "--user",
                                     user.username,
                                     "--password",
                                     user.password,
                                     "--device",
                                     device,
                                     "--owner-id",
                                     user.id,
                                     "--team",
                                     user.team,
                                     "--series",
                                     series,
                                     "--metrics-port",
                                     std::to_string(primary_.metrics_port()),
                                     "--timeout",
                                     std::to_string(opt_.phase_timeout_s)};
    if (!ctx_.material.plaintext) argv.insert(argv.end(), {"--ca", ctx_.material.ca});
    argv.push_back(mode);
    argv.insert(argv.end(), mode_args.begin(), mode_args.end());
    return argv;
  }

  absl::StatusOr<nlohmann::json> Push1() {
    const Deadline deadline = PhaseDeadline();
    ChildProcess c;
    auto argv = ClientArgv("push", owner_, "a-phone", "a",
                           {"--records", std::to_string(opt_.records), "--batch",
                            std::to_string(opt_.batch), "--wait-go"});
    if (auto s = c.Start("push", argv, Log("push1")); !s.ok()) return s;
    if (auto r = c.Expect("ready", deadline); !r.ok()) return r.status();
    if (auto s = c.Send("go"); !s.ok()) return s;
    auto result = c.Expect("result", deadline);
    if (!result.ok()) return result.status();
    if (auto s = c.Finish(deadline); !s.ok()) return s;
    return *result;
  }

  absl::StatusOr<nlohmann::json> Push4() {
    const Deadline deadline = PhaseDeadline();
    std::vector<std::unique_ptr<ChildProcess>> clients;
    const int64_t share = opt_.records / kPushDevices;
    for (int i = 0; i < kPushDevices; ++i) {
      const int64_t n = i + 1 < kPushDevices ? share : opt_.records - share * (kPushDevices - 1);
      const std::string tag = "p" + std::to_string(i + 1);
      auto c = std::make_unique<ChildProcess>();
      auto argv = ClientArgv(
          "push", pushers_[i], tag + "-phone", tag,
          {"--records", std::to_string(n), "--batch", std::to_string(opt_.batch), "--wait-go"});
      if (auto s = c->Start("push " + tag, argv, Log("push4-" + tag)); !s.ok()) return s;
      clients.push_back(std::move(c));
    }
    for (auto& c : clients) {
      if (auto r = c->Expect("ready", deadline); !r.ok()) return r.status();
    }
    for (auto& c : clients) {
      if (auto s = c->Send("go"); !s.ok()) return s;
    }
    nlohmann::json devices = nlohmann::json::array();
    int64_t total = 0, first_ns = INT64_MAX, last_ns = 0, not_applied = 0, throttled = 0;
    for (auto& c : clients) {
      auto r = c->Expect("result", deadline);
      if (!r.ok()) return r.status();
      total += (*r)["mutations"].get<int64_t>();
      first_ns = std::min(first_ns, (*r)["start_ns"].get<int64_t>());
      last_ns = std::max(last_ns, (*r)["end_ns"].get<int64_t>());
      not_applied += (*r)["not_applied"].get<int64_t>();
      throttled += (*r)["throttled_calls"].get<int64_t>();
      devices.push_back(*r);
      if (auto s = c->Finish(deadline); !s.ok()) return s;
    }
    const double seconds = static_cast<double>(last_ns - first_ns) / 1e9;
    return nlohmann::json{{"mutations", total},
                          {"seconds", seconds},
                          {"per_second", static_cast<double>(total) / seconds},
                          {"not_applied", not_applied},
                          {"throttled_calls", throttled},
                          {"devices", devices}};
  }

  absl::StatusOr<nlohmann::json> Pull() {
    const Deadline deadline = PhaseDeadline();
    const int delta = static_cast<int>(std::max<int64_t>(1, opt_.records / 100));
    ChildProcess c;
    auto argv = ClientArgv(
        "pull", owner_, "a-laptop", "a",
        {"--expect", std::to_string(opt_.records), "--page-size", std::to_string(opt_.page_size),
         "--delta-count", std::to_string(delta), "--delta-rounds",
         std::to_string(opt_.delta_rounds), "--batch", std::to_string(opt_.batch)});
    if (auto s = c.Start("pull", argv, Log("pull")); !s.ok()) return s;
    auto result = c.Expect("result", deadline);
    if (!result.ok()) return result.status();
    if (auto s = c.Finish(deadline); !s.ok()) return s;
    return *result;
  }

  absl::StatusOr<nlohmann::json> SdkBootstrap(const std::string& label, const std::string& key) {
    const Deadline deadline = PhaseDeadline();
    const std::string db = ctx_.work_dir + "/" + name_ + "-device-" + label + ".db";
    std::vector<std::string> argv = {ctx_.device_bin,
                                     "--address",
                                     endpoint_.address,
                                     "--user",
                                     owner_.username,
                                     "--password",
                                     owner_.password,
                                     "--device",
                                     "a-sdk-" + label,
                                     "--db",
                                     db,
                                     "--expect",
                                     std::to_string(opt_.records)};
    if (!ctx_.material.plaintext) argv.insert(argv.end(), {"--ca", ctx_.material.ca});
    if (!key.empty()) argv.insert(argv.end(), {"--key", key});
    ChildProcess c;
    if (auto s = c.Start("sdk " + label, argv, Log("sdk-" + label)); !s.ok()) return s;
    auto result = c.Expect("result", deadline);
    auto finished = c.Finish(deadline);
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::error_code ec;
      std::filesystem::remove(db + suffix, ec);
    }
    if (!result.ok()) return result.status();
    if (!finished.ok()) return finished;
    return *result;
  }

  absl::StatusOr<nlohmann::json> Sdk() {
    auto plain = SdkBootstrap("plain", "");
    if (!plain.ok()) return plain.status();
    auto encrypted = SdkBootstrap("sqlcipher", "bench-device-key");
    if (!encrypted.ok()) return encrypted.status();
    return nlohmann::json{{"plain", *plain}, {"sqlcipher", *encrypted}};
  }

  absl::StatusOr<nlohmann::json> Latency() {
    const Deadline deadline = PhaseDeadline();
    ServerProcess second;
    std::string subscribe_address = endpoint_.address;
    if (two_instances_) {
      std::string error;
      if (!second.Start(SyncdArgs(ctx_.material, spec_, /*demo_tenant=*/false, opt_.server_args),
                        &error, std::chrono::seconds(120))) {
        return absl::UnavailableError("second crm-syncd did not start: " + error);
      }
      subscribe_address = "127.0.0.1:" + std::to_string(second.port());
    }
    ChildProcess c;
    auto argv = ClientArgv(
        "latency", latency_user_, "l", "l",
        {"--count", std::to_string(opt_.latency_pushes), "--interval-ms",
         std::to_string(opt_.latency_interval_ms), "--subscribe-address", subscribe_address});
    if (auto s = c.Start("latency", argv, Log("latency")); !s.ok()) return s;
    auto result = c.Expect("result", deadline);
    if (!result.ok()) return result.status();
    if (auto s = c.Finish(deadline); !s.ok()) return s;
    (*result)["instances"] = two_instances_ ? 2 : 1;
    if (two_instances_) {
      second.Stop(SIGTERM, std::chrono::seconds(30));
      std::ofstream(Log("syncd-second")) << second.Output();
    }
    return *result;
  }

  absl::StatusOr<nlohmann::json> Streams() {
    const Deadline deadline = PhaseDeadline();
    const std::string users_file = ctx_.work_dir + "/" + name_ + "-stream-users.json";
    nlohmann::json users = nlohmann::json::array();
    for (const BenchUser& u : stream_users_) {
      users.push_back({{"username", u.username}, {"password", u.password}, {"id", u.id}});
    }
    std::ofstream(users_file) << users.dump();
    ChildProcess c;
    auto argv = ClientArgv("streams", stream_users_.front(), "s", "s",
                           {"--count", std::to_string(opt_.streams), "--connections",
                            std::to_string(opt_.stream_connections), "--users-file", users_file});
    if (auto s = c.Start("streams", argv, Log("streams")); !s.ok()) return s;
    auto ready = c.Expect("ready", deadline);
    if (!ready.ok()) return ready.status();
    const pid_t pid = primary_.pid();
    const int64_t rss_before = RssKiB(pid);
    if (auto s = c.Send("go"); !s.ok()) return s;
    auto open = c.Expect("open", deadline);
    if (!open.ok()) return open.status();
    std::this_thread::sleep_for(std::chrono::seconds(opt_.idle_seconds));
    const int64_t rss_open = RssKiB(pid);
    if (auto s = c.Send("fanout"); !s.ok()) return s;
    auto fanout = c.Expect("fanout", deadline);
    if (!fanout.ok()) return fanout.status();
    if (auto s = c.Send("close"); !s.ok()) return s;
    auto result = c.Expect("result", deadline);
    if (!result.ok()) return result.status();
    if (auto s = c.Finish(deadline); !s.ok()) return s;
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const int64_t rss_closed = RssKiB(pid);
    const int live = (*open)["live"].get<int>();
    return nlohmann::json{
        {"streams", opt_.streams},
        {"users", stream_users_.size()},
        {"live", live},
        {"registration", *ready},
        {"open", *open},
        {"fanout", *fanout},
        {"close", *result},
        {"rss_kib_before", rss_before},
        {"rss_kib_open", rss_open},
        {"rss_kib_after_close", rss_closed},
        {"rss_mib_after_close", static_cast<double>(rss_closed) / 1024},
        {"rss_kib_per_stream", live > 0 ? static_cast<double>(rss_open - rss_before) / live : 0.0}};
  }

  const RunContext& ctx_;
  const RunOptions& opt_;
  const std::string name_, spec_;
  const bool two_instances_;
  const BenchUser owner_, latency_user_;
  std::vector<BenchUser> pushers_, stream_users_;
  ServerProcess primary_;
  Endpoint endpoint_;
};

}  // namespace

nlohmann::json RunStore(const RunContext& ctx, const std::string& store_name,
                        const std::string& store_spec, bool two_instances) {
  StoreBench bench(ctx, store_name, store_spec, two_instances);
  return bench.Run();
}

}  // namespace crmsync::bench::e2e
