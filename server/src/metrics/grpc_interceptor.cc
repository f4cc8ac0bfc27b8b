#include "grpc_interceptor.h"

#include <chrono>
#include <string>

namespace crmsync::server {
namespace {

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK: return "OK";
    case grpc::CANCELLED: return "CANCELLED";
    case grpc::UNKNOWN: return "UNKNOWN";
    case grpc::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND: return "NOT_FOUND";
    case grpc::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::ABORTED: return "ABORTED";
    case grpc::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::INTERNAL: return "INTERNAL";
    case grpc::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::DATA_LOSS: return "DATA_LOSS";
    case grpc::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "OTHER";
  }
}

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(MetricsRegistry* registry, std::string method)
      : registry_(registry), method_(std::move(method)), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::StatusCode status = methods->GetSendStatus().error_code();
      const char* code = CodeName(status);
      const bool stream = method_.find("/Subscribe") != std::string::npos;
      if (stream && (status == grpc::CANCELLED || status == grpc::UNAVAILABLE)) {
        // A stream ends when the device goes away (CANCELLED) or the server
        // drains (UNAVAILABLE): how streams end, not errors.
        registry_->Increment("crmsync_subscribe_disconnects_total", {{"code", code}});
      } else {
        // Streams live long: their duration says nothing about latency.
        if (!stream) {
          double seconds =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
          registry_->Observe("crmsync_rpc_duration_seconds", {{"method", method_}}, seconds);
        }
        registry_->Increment("crmsync_rpc_total", {{"method", method_}, {"code", code}});
      }
      if (const char* kind = AuthFailureKind(status)) {
        registry_->Increment("crmsync_auth_failures_total", {{"kind", kind}});
      }
    }
    methods->Proceed();
  }

 private:
  // What kind of credential a failed call presented: a password (Login), an
  // API key (ExchangeApiKey), or a token (any other call); "throttled" when
  // a sign-in was refused because of earlier failures. nullptr otherwise.
  const char* AuthFailureKind(grpc::StatusCode status) const {
    const bool login = method_.find("/Login") != std::string::npos;
    const bool api_key = method_.find("/ExchangeApiKey") != std::string::npos;
    if (status == grpc::RESOURCE_EXHAUSTED && (login || api_key)) return "throttled";
    if (status != grpc::UNAUTHENTICATED) return nullptr;
    return login ? "password" : api_key ? "api_key" : "token";
  }

  MetricsRegistry* registry_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

grpc::experimental::Interceptor* MetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new MetricsInterceptor(registry_, info->method());
}

}  // namespace crmsync::server
