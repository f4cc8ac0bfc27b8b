#include "client_session.h"

#include <thread>

#include "leads.h"

namespace crmsync::bench::e2e {
namespace {

constexpr auto kCallDeadline = std::chrono::seconds(120);
// Rate-limited calls: pause, then retry; give up after this many.
constexpr int kMaxThrottleRetries = 100;
constexpr auto kThrottlePause = std::chrono::milliseconds(50);

absl::Status FromGrpc(const grpc::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      what + ": " + s.error_message());
}

}  // namespace

std::shared_ptr<grpc::Channel> MakeChannel(const Endpoint& endpoint, bool own_connection) {
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!endpoint.ca_pem.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = endpoint.ca_pem;
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  if (own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(endpoint.address, creds, args);
}

absl::StatusOr<UserSession> UserSession::SignIn(std::shared_ptr<grpc::Channel> channel,
                                                const std::string& tenant,
                                                const std::string& username,
                                                const std::string& password) {
  UserSession session;
  session.channel_ = std::move(channel);
  session.stub_ = v1::AuthService::NewStub(session.channel_);
  v1::LoginRequest req;
  req.set_tenant(tenant);
  req.set_username(username);
  req.set_password(password);
  v1::LoginResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  if (auto s = FromGrpc(session.stub_->Login(&ctx, req, &resp), "Login " + username); !s.ok()) {
    return s;
  }
  session.token_ = resp.tokens().access_token();
  return session;
}

absl::StatusOr<std::string> UserSession::RegisterDevice(const std::string& device_id) const {
  v1::RegisterDeviceRequest req;
  req.set_device_id(device_id);
  req.set_platform("linux");
  req.set_model("crmsync-bench-e2e");
  req.set_sdk_version("crmsync-bench-e2e/1");
  for (int attempt = 0;; ++attempt) {
    v1::RegisterDeviceResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
    ctx.AddMetadata("authorization", "Bearer " + token_);
    grpc::Status s = stub_->RegisterDevice(&ctx, req, &resp);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && attempt < kMaxThrottleRetries) {
      std::this_thread::sleep_for(kThrottlePause);
      continue;
    }
    if (!s.ok()) return FromGrpc(s, "RegisterDevice " + device_id);
    return resp.tokens().access_token();
  }
}

DeviceClient::DeviceClient(std::shared_ptr<grpc::Channel> channel, std::string access_token)
    : channel_(std::move(channel)),
      stub_(v1::SyncService::NewStub(channel_)),
      token_(std::move(access_token)) {}

void DeviceClient::Prepare(grpc::ClientContext* context, std::chrono::seconds deadline) const {
  context->AddMetadata("authorization", "Bearer " + token_);
  context->set_deadline(std::chrono::system_clock::now() + deadline);
}

template <typename Call>
grpc::Status DeviceClient::WithRetry(Call call) {
  for (int attempt = 0;; ++attempt) {
    grpc::ClientContext ctx;
    Prepare(&ctx, kCallDeadline);
    grpc::Status s = call(&ctx);
    if (s.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED || attempt >= kMaxThrottleRetries) {
      return s;
    }
    ++throttled_;
    std::this_thread::sleep_for(kThrottlePause);
  }
}

grpc::Status DeviceClient::Push(const v1::PushRequest& request, v1::PushResponse* response) {
  return WithRetry([&](grpc::ClientContext* ctx) { return stub_->Push(ctx, request, response); });
}

grpc::Status DeviceClient::Pull(const v1::PullRequest& request, v1::PullResponse* response) {
  return WithRetry([&](grpc::ClientContext* ctx) { return stub_->Pull(ctx, request, response); });
}

grpc::Status DeviceClient::CatchUp(std::string* cursor, int page_size, int max_pages,
                                   int64_t* changes) {
  for (int page = 0; page < max_pages; ++page) {
    v1::PullRequest req;
    SetClientInfo(req.mutable_client());
    req.set_cursor(*cursor);
    req.set_page_size(page_size);
    v1::PullResponse resp;
    grpc::Status s = Pull(req, &resp);
    if (!s.ok()) return s;
    *changes += resp.changes_size();
    *cursor = resp.next_cursor();
    if (!resp.has_more()) return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                      "not caught up after " + std::to_string(max_pages) + " pages");
}

}  // namespace crmsync::bench::e2e
