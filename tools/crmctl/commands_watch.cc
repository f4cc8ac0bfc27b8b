// crmctl watch: a live view of sync activity.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "crmsync/v1/admin.grpc.pb.h"
#include "table.h"

namespace crmsync::crmctl {

namespace v1 = ::crmsync::v1;

int CmdWatch(const Connection& c, const Output& out, int interval_ms, int iterations) {
  auto stub = v1::AdminService::NewStub(c.channel());
  v1::GetStatsResponse previous;
  auto previous_at = std::chrono::steady_clock::now();
  const bool tty = isatty(1) && !out.json;
  for (int i = 0; iterations == 0 || i < iterations; ++i) {
    v1::GetStatsResponse stats;
    {
      grpc::ClientContext ctx;
      c.Prepare(&ctx);
      grpc::Status s = stub->GetStats(&ctx, v1::GetStatsRequest(), &stats);
      if (!s.ok()) return ReportRpcError(s, "watch");
    }
    v1::ListDevicesResponse devices;
    {
      grpc::ClientContext ctx;
      c.Prepare(&ctx);
      v1::ListDevicesRequest req;
      req.set_page_size(10);
      grpc::Status s = stub->ListDevices(&ctx, req, &devices);
      if (!s.ok()) return ReportRpcError(s, "watch");
    }
    auto now = std::chrono::steady_clock::now();
    double dt = std::max(1e-3, std::chrono::duration<double>(now - previous_at).count());
    auto per_second = [&](int64_t cur, int64_t prev) {
      return i == 0 ? 0.0 : static_cast<double>(cur - prev) / dt;
    };
    auto rate = [&](int64_t cur, int64_t prev) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1f", per_second(cur, prev));
      return std::string(buf);
    };
    std::stable_sort(
        devices.mutable_devices()->begin(), devices.mutable_devices()->end(),
        [](const v1::Device& a, const v1::Device& b) { return a.cursor_lag() > b.cursor_lag(); });
    const int shown = std::min(5, devices.devices_size());
    if (out.json) {
      // One object per refresh (JSON lines), rates over the last interval.
      nlohmann::json line = {
          {"latest_seq", stats.latest_seq()},
          {"subscribers", stats.active_subscribers()},
          {"devices", stats.devices_total()},
          {"devices_stale_24h", stats.devices_stale_24h()},
          {"open_conflicts", stats.open_conflicts()},
          {"interval_seconds", i == 0 ? 0.0 : dt},
          {"pushes_per_second", per_second(stats.pushes_total(), previous.pushes_total())},
          {"pulls_per_second", per_second(stats.pulls_total(), previous.pulls_total())},
          {"applied_per_second",
           per_second(stats.mutations_applied(), previous.mutations_applied())},
          {"merged_per_second", per_second(stats.mutations_merged(), previous.mutations_merged())},
          {"conflicts_per_second",
           per_second(stats.mutations_conflict(), previous.mutations_conflict())},
          {"rejected_per_second",
           per_second(stats.mutations_rejected(), previous.mutations_rejected())},
          {"pushes_total", stats.pushes_total()},
          {"pulls_total", stats.pulls_total()},
          {"most_behind", nlohmann::json::array()}};
      for (int d = 0; d < shown; ++d) {
        const auto& dev = devices.devices(d);
        line["most_behind"].push_back({{"device", dev.id()},
                                       {"user", dev.user_id()},
                                       {"lag", dev.cursor_lag()},
                                       {"conflicts", dev.pending_conflicts()}});
      }
      std::printf("%s\n", line.dump().c_str());
    } else {
      if (tty) std::printf("\033[H\033[2J");
      std::printf(
          "crmsync  seq %lld  subscribers %lld  devices %lld (stale 24h: %lld)  open "
          "conflicts %lld\n\n",
          static_cast<long long>(stats.latest_seq()),
          static_cast<long long>(stats.active_subscribers()),
          static_cast<long long>(stats.devices_total()),
          static_cast<long long>(stats.devices_stale_24h()),
          static_cast<long long>(stats.open_conflicts()));
      Table rates({"PUSHES/S", "PULLS/S", "APPLIED/S", "MERGED/S", "CONFLICTS/S", "REJECTED/S"});
      rates.AddRow({rate(stats.pushes_total(), previous.pushes_total()),
                    rate(stats.pulls_total(), previous.pulls_total()),
                    rate(stats.mutations_applied(), previous.mutations_applied()),
                    rate(stats.mutations_merged(), previous.mutations_merged()),
                    rate(stats.mutations_conflict(), previous.mutations_conflict()),
                    rate(stats.mutations_rejected(), previous.mutations_rejected())});
      std::printf("%s\nmost behind\n", rates.Render().c_str());
      Table behind({"DEVICE", "USER", "LAG", "CONFLICTS", "LAST SYNC"});
      int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
      for (int d = 0; d < shown; ++d) {
        const auto& dev = devices.devices(d);
        behind.AddRow({dev.id(), dev.user_id(), std::to_string(dev.cursor_lag()),
                       std::to_string(dev.pending_conflicts()),
                       FormatAge(dev.last_sync_at(), now_s)});
      }
      std::printf("%s", behind.Render().c_str());
    }
    std::fflush(stdout);
    previous = stats;
    previous_at = now;
    if (iterations == 0 || i + 1 < iterations) {
      std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));  // refresh period
    }
  }
  return kExitOk;
}

}  // namespace crmsync::crmctl
