// Token credentials: AuthService sign-in, device registration and refresh.
#include <grpcpp/grpcpp.h>

#include "channel_credentials.h"
#include "crmsync/client/transport.h"
#include "crmsync/v1/auth.grpc.pb.h"

namespace crmsync::client {
namespace {

// Refresh this long before the access token expires.
constexpr int64_t kRefreshMarginMs = 30'000;

absl::Status FromGrpc(const grpc::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      what + ": " + s.error_message());
}

class TokenCredentialsImpl : public TokenCredentials {
 public:
  explicit TokenCredentialsImpl(TokenCredentialsOptions options) : options_(std::move(options)) {
    if (options_.clock == nullptr) options_.clock = SystemClock();
    std::shared_ptr<grpc::ChannelCredentials> creds = internal::MakeChannelCredentials(
        options_.ca_pem, options_.client_cert_pem, options_.client_key_pem);
    stub_ = v1::AuthService::NewStub(grpc::CreateChannel(options_.address, creds));
    refresh_token_ = options_.refresh_token;
  }

  absl::Status Metadata(std::vector<std::pair<std::string, std::string>>* out) override {
    absl::Status failed;
    {
      absl::MutexLock lock(&mu_);
      if (!access_token_.empty() &&
          options_.clock->NowMs() + kRefreshMarginMs < access_expires_ms_) {
        out->emplace_back("authorization", "Bearer " + access_token_);
        return absl::OkStatus();
      }
      absl::Status s = absl::UnauthenticatedError("not signed in (no refresh token)");
      if (!refresh_token_.empty()) s = Refresh();
      if (!s.ok() && s.code() != absl::StatusCode::kUnavailable &&
          s.code() != absl::StatusCode::kDeadlineExceeded) {
        if (CanSignIn()) {
          s = SignInLocked();
        } else {
          access_token_.clear();
          if (!refresh_token_.empty()) {
            refresh_token_.clear();
            if (options_.on_refresh_token) options_.on_refresh_token("");
          }
          s = absl::UnauthenticatedError("sign-in required: " + std::string(s.message()));
          failed = s;
        }
      }
      if (s.ok()) {
        out->emplace_back("authorization", "Bearer " + access_token_);
        return s;
      }
      if (failed.ok()) return s;
    }
    if (options_.on_auth_required) options_.on_auth_required(failed);
    return failed;
  }

  absl::Status SignIn(const std::string& username, const std::string& password) override {
    absl::MutexLock lock(&mu_);
    options_.username = username;
    options_.password = password;
    options_.api_key.clear();
    absl::Status s = SignInLocked();
    if (!options_.keep_password) options_.password.clear();
    return s;
  }

  void SignOut() override {
    absl::MutexLock lock(&mu_);
    access_token_.clear();
    access_expires_ms_ = 0;
    refresh_token_.clear();
    options_.password.clear();
    options_.api_key.clear();
    if (options_.on_refresh_token) options_.on_refresh_token("");
  }

 private:
  void Prepare(grpc::ClientContext* ctx, const std::string& bearer = "") {
    ctx->set_deadline(std::chrono::system_clock::now() + options_.call_timeout);
    if (!bearer.empty()) ctx->AddMetadata("authorization", "Bearer " + bearer);
  }

  void Adopt(const v1::TokenPair& tokens) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    access_token_ = tokens.access_token();
    access_expires_ms_ = tokens.access_expires_at().seconds() * 1000;
    refresh_token_ = tokens.refresh_token();
    if (options_.on_refresh_token) options_.on_refresh_token(refresh_token_);
  }

  absl::Status Refresh() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::RefreshRequest req;
    req.set_refresh_token(refresh_token_);
    v1::RefreshResponse resp;
    absl::Status s = FromGrpc(stub_->Refresh(&ctx, req, &resp), "refresh");
    if (s.ok()) Adopt(resp.tokens());
    return s;
  }

  bool CanSignIn() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !options_.api_key.empty() || !options_.password.empty();
  }

  absl::Status SignInLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::Status s = SignInWithSecret();
    if (s.ok() && !options_.keep_password) options_.password.clear();
    return s;
  }

  absl::Status SignInWithSecret() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!options_.api_key.empty()) {
      grpc::ClientContext ctx;
      Prepare(&ctx);
      v1::ExchangeApiKeyRequest req;
      req.set_tenant(options_.tenant);
      req.set_api_key(options_.api_key);
      req.set_device_id(options_.device_id);
      v1::ExchangeApiKeyResponse resp;
      absl::Status s = FromGrpc(stub_->ExchangeApiKey(&ctx, req, &resp), "api key sign-in");
      if (s.ok()) Adopt(resp.tokens());
      return s;
    }
    v1::LoginResponse login;
    {
      grpc::ClientContext ctx;
      Prepare(&ctx);
      v1::LoginRequest req;
      req.set_tenant(options_.tenant);
      req.set_username(options_.username);
      req.set_password(options_.password);
      absl::Status s = FromGrpc(stub_->Login(&ctx, req, &login), "sign-in");
      if (!s.ok()) return s;
    }
    // Device-less tokens may only register the device; the device-bound
    // pair it returns is what sync uses.
    grpc::ClientContext ctx;
    Prepare(&ctx, login.tokens().access_token());
    v1::RegisterDeviceRequest req;
    req.set_device_id(options_.device_id);
    req.set_platform(options_.platform);
    v1::RegisterDeviceResponse resp;
    absl::Status s = FromGrpc(stub_->RegisterDevice(&ctx, req, &resp), "device registration");
    if (s.ok()) Adopt(resp.tokens());
    return s;
  }

  TokenCredentialsOptions options_;
  std::unique_ptr<v1::AuthService::Stub> stub_;
  absl::Mutex mu_;
  std::string access_token_ ABSL_GUARDED_BY(mu_);
  int64_t access_expires_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::string refresh_token_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::shared_ptr<TokenCredentials> MakeTokenCredentials(TokenCredentialsOptions options) {
  return std::make_shared<TokenCredentialsImpl>(std::move(options));
}

}  // namespace crmsync::client
