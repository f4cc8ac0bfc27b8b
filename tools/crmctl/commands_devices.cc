// crmctl status, devices, device show|revoke.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "commands.h"
#include "crmsync/v1/admin.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "table.h"

namespace crmsync::crmctl {

namespace v1 = ::crmsync::v1;

namespace {
int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

int64_t ParseDurationSeconds(const std::string& text) {
  if (text.size() < 2) return -1;
  char unit = text.back();
  int64_t n = 0;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9' || n > 1'000'000'000) return -1;
    n = n * 10 + (text[i] - '0');
  }
  switch (unit) {
    case 's': return n;
    case 'm': return n * 60;
    case 'h': return n * 3600;
    case 'd': return n * 86400;
    default: return -1;
  }
}

int CmdStatus(const Connection& c, const Output& out) {
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::GetServerStatusResponse resp;
  grpc::Status s = stub->GetServerStatus(&ctx, v1::GetServerStatusRequest(), &resp);
  if (!s.ok()) return ReportRpcError(s, "status");
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  std::printf(
      "server      crm-syncd %s\nstore       %s\nstarted     %s (up %llds)\n"
      "latest seq  %lld\nprotocol    %u..%u\nsubscribers %lld\n",
      resp.version().c_str(), resp.store_kind().c_str(), FormatTime(resp.started_at()).c_str(),
      static_cast<long long>(resp.uptime().seconds()), static_cast<long long>(resp.latest_seq()),
      resp.min_protocol_version(), resp.max_protocol_version(),
      static_cast<long long>(resp.active_subscribers()));
  return kExitOk;
}

int CmdHealth(const Connection& c, const Output& out) {
  auto stub = grpc::health::v1::Health::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp);
  if (!s.ok()) return ReportRpcError(s, "health");
  const bool serving = resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  const std::string name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status());
  if (out.json) {
    std::printf("{\"status\": \"%s\"}\n", name.c_str());
  } else {
    std::printf("%s\n", name.c_str());
  }
  return serving ? kExitOk : kExitFailed;
}

int CmdDevices(const Connection& c, const Output& out, const DeviceFilter& filter) {
  auto stub = v1::AdminService::NewStub(c.channel());
  v1::ListDevicesRequest req;
  req.set_user_id(filter.user_id);
  if (filter.stale_seconds > 0) req.mutable_stale_for()->set_seconds(filter.stale_seconds);
  if (filter.status == "active") req.set_status(v1::DEVICE_STATUS_ACTIVE);
  if (filter.status == "revoked") req.set_status(v1::DEVICE_STATUS_REVOKED);
  if (filter.status == "wiped") req.set_status(v1::DEVICE_STATUS_WIPED);
  req.set_page_size(filter.limit);
  v1::ListDevicesResponse all;
  for (int page = 0; page < 1000; ++page) {
    grpc::ClientContext ctx;
    c.Prepare(&ctx);
    v1::ListDevicesResponse resp;
    grpc::Status s = stub->ListDevices(&ctx, req, &resp);
    if (!s.ok()) return ReportRpcError(s, "devices");
    for (auto& d : *resp.mutable_devices()) *all.add_devices() = std::move(d);
    if (resp.next_page_token().empty() || all.devices_size() >= filter.limit) break;
    req.set_page_token(resp.next_page_token());
  }
  // Most behind first, whatever order the server used.
  std::stable_sort(
      all.mutable_devices()->begin(), all.mutable_devices()->end(),
      [](const v1::Device& a, const v1::Device& b) { return a.cursor_lag() > b.cursor_lag(); });
  if (out.json) {
    std::printf("%s\n", ToJson(all).c_str());
    return kExitOk;
  }
  Table t({"DEVICE", "USER", "STATUS", "LAST CONTACT", "LAST SYNC", "LAG", "CONFLICTS", "SDK",
           "PLATFORM"});
  const int64_t now = NowSeconds();
  for (const auto& d : all.devices()) {
    t.AddRow({d.id(), d.user_id(), ShortEnum(v1::DeviceStatus_Name(d.status()), "DEVICE_STATUS_"),
              FormatAge(d.last_contact_at(), now), FormatAge(d.last_sync_at(), now),
              std::to_string(d.cursor_lag()), std::to_string(d.pending_conflicts()),
              d.sdk_version().empty() ? "-" : d.sdk_version(),
              d.platform().empty() ? "-" : d.platform()});
  }
  std::printf("%s", t.Render().c_str());
  return kExitOk;
}

int CmdDeviceShow(const Connection& c, const Output& out, const std::string& device_id) {
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::GetDeviceRequest req;
  req.set_device_id(device_id);
  v1::GetDeviceResponse resp;
  grpc::Status s = stub->GetDevice(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "device show " + device_id);
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  const v1::Device& d = resp.device();
  const int64_t now = NowSeconds();
  std::printf(
      "device        %s\nuser          %s\nstatus        %s\nplatform      %s %s\n"
      "sdk           %s (protocol %u)\nregistered    %s\nlast contact  %s\n"
      "last sync     %s\ncursor        %lld (lag %lld changes)\nconflicts     %lld open\n"
      "last seq      %lld\n",
      d.id().c_str(), d.user_id().c_str(),
      ShortEnum(v1::DeviceStatus_Name(d.status()), "DEVICE_STATUS_").c_str(), d.platform().c_str(),
      d.os_version().c_str(), d.sdk_version().c_str(), d.protocol_version(),
      FormatTime(d.registered_at()).c_str(), FormatAge(d.last_contact_at(), now).c_str(),
      FormatAge(d.last_sync_at(), now).c_str(), static_cast<long long>(d.cursor_seq()),
      static_cast<long long>(d.cursor_lag()), static_cast<long long>(d.pending_conflicts()),
      static_cast<long long>(d.last_client_seq()));
  return kExitOk;
}

int CmdDeviceRevoke(const Connection& c, const Output& out, const std::string& device_id, bool wipe,
                    const std::string& reason) {
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::RevokeDeviceRequest req;
  req.set_device_id(device_id);
  req.set_wipe(wipe);
  req.set_reason(reason);
  v1::RevokeDeviceResponse resp;
  grpc::Status s = stub->RevokeDevice(&ctx, req, &resp);
  if (!s.ok())
    return ReportRpcError(s, std::string(wipe ? "device wipe " : "device revoke ") + device_id);
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
  } else {
    std::printf("device %s %s: its tokens stop working now%s\n", device_id.c_str(),
                wipe ? "revoked and marked for wipe" : "revoked",
                wipe ? "; it erases its local data at next contact" : "");
  }
  return kExitOk;
}

}  // namespace crmsync::crmctl
