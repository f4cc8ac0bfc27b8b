#include "grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>

#include <fstream>
#include <sstream>

namespace crmsync::server {

absl::Status ReadFileToString(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read file '" + path + "'");
  std::ostringstream buf;
  buf << in.rdbuf();
  *out = buf.str();
  return absl::OkStatus();
}

GrpcServer::GrpcServer(const ServerConfig& config) : config_(config) {}

GrpcServer::~GrpcServer() {
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
}

void GrpcServer::AddService(grpc::Service* service) { services_.push_back(service); }

void GrpcServer::AddInterceptor(
    std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> f) {
  interceptors_.push_back(std::move(f));
}

absl::Status GrpcServer::Start() {
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (config_.dev_insecure) {
    creds = grpc::InsecureServerCredentials();
  } else {
    auto tls = TlsFiles::Create({config_.tls_cert, config_.tls_key, config_.tls_client_ca});
    if (!tls.ok()) return tls.status();
    tls_ = std::move(*tls);
    creds = tls_->Credentials();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.listen, creds, &bound_port_);
  // gRPC sets SO_REUSEPORT by default, which lets a second server bind the
  // same address and take a share of the connections: refuse instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(config_.max_message_bytes);
  // Clients ping to notice connections that died silently (the SDK every
  // 30 s while a call is open): accept a ping every 10 s even when no data
  // flowed, instead of answering faster pings with GOAWAY too_many_pings.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  // The server pings quiet connections itself, so a device that vanished
  // (phone off, NAT forgot the connection) does not hold a Subscribe stream
  // and its memory forever: no answer within the timeout closes the
  // connection and cancels its calls.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, config_.keepalive_seconds * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             config_.keepalive_timeout_seconds * 1000);
  // Keep pinging a connection whose streams are quiet (no heartbeat due):
  // by default gRPC stops after two pings without data.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder.AddChannelArgument(GRPC_ARG_TCP_READ_CHUNK_SIZE, config_.tcp_read_chunk_bytes);
  for (const std::string& arg : config_.grpc_channel_args) {
    // Validated by the config: name=integer.
    auto eq = arg.find('=');
    builder.AddChannelArgument(arg.substr(0, eq), std::stoi(arg.substr(eq + 1)));
  }
  for (auto* s : services_) builder.RegisterService(s);
  if (!interceptors_.empty())
    builder.experimental().SetInterceptorCreators(std::move(interceptors_));
  server_ = builder.BuildAndStart();
  if (!server_ || bound_port_ == 0) {
    server_.reset();
    return absl::UnavailableError("cannot listen on " + config_.listen +
                                  ": the address is in use (another crm-syncd?) or not "
                                  "available on this machine");
  }
  server_->GetHealthCheckService()->SetServingStatus(true);
  return absl::OkStatus();
}

absl::Status GrpcServer::ReloadTls(const TlsPaths& paths) {
  if (!tls_) return absl::FailedPreconditionError("the server runs without TLS (--dev-insecure)");
  return tls_->Reload(paths);
}

void GrpcServer::SetServing(bool serving) {
  if (server_) server_->GetHealthCheckService()->SetServingStatus(serving);
}

void GrpcServer::Shutdown(std::chrono::system_clock::time_point deadline) {
  if (!server_) return;
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(deadline);
}

void GrpcServer::Wait() {
  if (server_) server_->Wait();
}

}  // namespace crmsync::server
