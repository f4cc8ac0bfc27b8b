// The gRPC Transport and the credentials providers.
#include <grpcpp/grpcpp.h>

#include <thread>

#include "channel_credentials.h"
#include "crmsync/client/transport.h"
#include "crmsync/v1/sync.grpc.pb.h"

namespace crmsync::client {

const char* DirectiveName(Directive d) {
  switch (d) {
    case Directive::kNone: return "";
    case Directive::kResetRequired: return "reset-required";
    case Directive::kWipe: return "wipe";
    case Directive::kUpgradeRequired: return "upgrade-required";
    case Directive::kHistoryChanged: return "history-changed";
  }
  return "";
}

Directive ParseDirective(const std::string& value) {
  if (value == "reset-required") return Directive::kResetRequired;
  if (value == "wipe") return Directive::kWipe;
  if (value == "upgrade-required") return Directive::kUpgradeRequired;
  if (value == "history-changed") return Directive::kHistoryChanged;
  return Directive::kNone;
}

namespace {

class DevCredentials : public CredentialsProvider {
 public:
  DevCredentials(std::string tenant, std::string user, std::string device)
      : tenant_(std::move(tenant)), user_(std::move(user)), device_(std::move(device)) {}
  absl::Status Metadata(std::vector<std::pair<std::string, std::string>>* out) override {
    out->emplace_back("x-crmsync-dev-tenant", tenant_);
    out->emplace_back("x-crmsync-dev-user", user_);
    out->emplace_back("x-crmsync-dev-device", device_);
    return absl::OkStatus();
  }

 private:
  std::string tenant_, user_, device_;
};

class BearerCredentials : public CredentialsProvider {
 public:
  explicit BearerCredentials(std::string token) : token_(std::move(token)) {}
  absl::Status Metadata(std::vector<std::pair<std::string, std::string>>* out) override {
    out->emplace_back("authorization", "Bearer " + token_);
    return absl::OkStatus();
  }

 private:
  std::string token_;
};

CallStatus Convert(const grpc::Status& s, const grpc::ClientContext& ctx) {
  CallStatus out;
  if (!s.ok()) {
    out.status = absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }
  const auto& trailers = ctx.GetServerTrailingMetadata();
  auto it = trailers.find("crmsync-directive");
  if (it != trailers.end()) {
    out.directive = ParseDirective(std::string(it->second.data(), it->second.size()));
  }
  return out;
}

class GrpcSubscription : public Subscription {
 public:
  ~GrpcSubscription() override {
    context_.TryCancel();
    if (reader_thread_.joinable()) reader_thread_.join();
  }
  grpc::ClientContext context_;
  std::thread reader_thread_;
};

class GrpcTransport : public Transport {
 public:
  explicit GrpcTransport(GrpcTransportOptions options) : options_(std::move(options)) {
    std::shared_ptr<grpc::ChannelCredentials> creds = internal::MakeChannelCredentials(
        options_.ca_pem, options_.client_cert_pem, options_.client_key_pem);
    grpc::ChannelArguments args;
    if (options_.keepalive_time.count() > 0) {
      args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options_.keepalive_time.count()));
      args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                  static_cast<int>(options_.keepalive_timeout.count()));
      // Only while calls are open; and without a cap on pings while the
      // client sends no data (a Subscribe stream only receives).
      args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
      args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    }
    channel_ = grpc::CreateCustomChannel(options_.address, creds, args);
    stub_ = v1::SyncService::NewStub(channel_);
  }

  CallStatus Push(const v1::PushRequest& request, v1::PushResponse* response) override {
    grpc::ClientContext ctx;
    if (absl::Status s = Prepare(&ctx, options_.call_timeout); !s.ok()) return {s, {}};
    return Convert(stub_->Push(&ctx, request, response), ctx);
  }
  CallStatus Pull(const v1::PullRequest& request, v1::PullResponse* response) override {
    grpc::ClientContext ctx;
    if (absl::Status s = Prepare(&ctx, options_.call_timeout); !s.ok()) return {s, {}};
    return Convert(stub_->Pull(&ctx, request, response), ctx);
  }
  CallStatus GetChecksum(const v1::GetChecksumRequest& request,
                         v1::GetChecksumResponse* response) override {
    grpc::ClientContext ctx;
    if (absl::Status s = Prepare(&ctx, options_.call_timeout); !s.ok()) return {s, {}};
    return Convert(stub_->GetChecksum(&ctx, request, response), ctx);
  }

  CallStatus GetFieldHistory(const v1::GetFieldHistoryRequest& request,
                             v1::GetFieldHistoryResponse* response) override {
    grpc::ClientContext ctx;
    if (absl::Status s = Prepare(&ctx, options_.call_timeout); !s.ok()) return {s, {}};
    return Convert(stub_->GetFieldHistory(&ctx, request, response), ctx);
  }

  std::unique_ptr<Subscription> Subscribe(const v1::SubscribeRequest& request,
                                          std::function<void(const v1::SubscribeEvent&)> on_event,
                                          std::function<void(const CallStatus&)> on_done) override {
    auto sub = std::make_unique<GrpcSubscription>();
    if (absl::Status s = Prepare(&sub->context_, std::chrono::hours(24)); !s.ok()) {
      on_done({s, {}});
      return sub;
    }
    grpc::ClientContext* ctx = &sub->context_;
    sub->reader_thread_ = std::thread(
        [this, ctx, request, on_event = std::move(on_event), on_done = std::move(on_done)] {
          auto reader = stub_->Subscribe(ctx, request);
          v1::SubscribeEvent event;
          while (reader->Read(&event)) on_event(event);
          grpc::Status s = reader->Finish();
          if (s.error_code() != grpc::StatusCode::CANCELLED) on_done(Convert(s, *ctx));
        });
    return sub;
  }

 private:
  absl::Status Prepare(grpc::ClientContext* ctx, std::chrono::milliseconds timeout) {
    std::vector<std::pair<std::string, std::string>> metadata;
    if (options_.credentials) {
      if (absl::Status s = options_.credentials->Metadata(&metadata); !s.ok()) return s;
    }
    for (const auto& [k, v] : metadata) ctx->AddMetadata(k, v);
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
    return absl::OkStatus();
  }

  GrpcTransportOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SyncService::Stub> stub_;
};

}  // namespace

std::shared_ptr<CredentialsProvider> MakeDevCredentials(std::string tenant_slug,
                                                        std::string username,
                                                        std::string device_id) {
  return std::make_shared<DevCredentials>(std::move(tenant_slug), std::move(username),
                                          std::move(device_id));
}

std::shared_ptr<CredentialsProvider> MakeBearerCredentials(std::string access_token) {
  return std::make_shared<BearerCredentials>(std::move(access_token));
}

std::shared_ptr<Transport> MakeGrpcTransport(GrpcTransportOptions options) {
  return std::make_shared<GrpcTransport>(std::move(options));
}

}  // namespace crmsync::client
