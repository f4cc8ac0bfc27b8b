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
    grpc::SslServerCredentialsOptions ssl;
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    if (auto s = ReadFileToString(config_.tls_key, &pair.private_key); !s.ok()) return s;
    if (auto s = ReadFileToString(config_.tls_cert, &pair.cert_chain); !s.ok()) return s;
    ssl.pem_key_cert_pairs.push_back(std::move(pair));
    if (!config_.tls_client_ca.empty()) {
      if (auto s = ReadFileToString(config_.tls_client_ca, &ssl.pem_root_certs); !s.ok()) return s;
      ssl.client_certificate_request =
          GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    creds = grpc::SslServerCredentials(ssl);
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.listen, creds, &bound_port_);
  builder.SetMaxReceiveMessageSize(config_.max_message_bytes);
  // Clients ping to notice connections that died silently (the SDK every
  // 30 s while a call is open): accept a ping every 10 s even when no data
  // flowed, instead of answering faster pings with GOAWAY too_many_pings.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  for (auto* s : services_) builder.RegisterService(s);
  if (!interceptors_.empty()) builder.experimental().SetInterceptorCreators(std::move(interceptors_));
  server_ = builder.BuildAndStart();
  if (!server_ || bound_port_ == 0) {
    server_.reset();
    return absl::UnavailableError("cannot listen on " + config_.listen +
                                  " (address in use or not available?)");
  }
  server_->GetHealthCheckService()->SetServingStatus(true);
  return absl::OkStatus();
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
