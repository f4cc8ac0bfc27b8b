// Owns the gRPC server of crm-syncd: listener, credentials, the standard
// health and reflection services, and the crmsync services registered on it.
#ifndef CRMSYNC_SERVER_GRPC_SERVER_H_
#define CRMSYNC_SERVER_GRPC_SERVER_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "config.h"
#include "tls_files.h"

namespace crmsync::server {

class GrpcServer {
 public:
  explicit GrpcServer(const ServerConfig& config);
  ~GrpcServer();

  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Registers a service; must be called before Start(). The service must
  // outlive this object.
  void AddService(grpc::Service* service);
  // Adds a server interceptor factory (metrics, logging); before Start().
  void AddInterceptor(std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> f);

  // Binds the listener and starts serving. Fails if the address cannot be
  // bound or the TLS material cannot be read.
  absl::Status Start();

  // The port actually bound (useful with port 0). Valid after Start().
  int bound_port() const { return bound_port_; }

  // Marks the server NOT_SERVING, lets in-flight calls finish until
  // `deadline`, then cancels the rest. Idempotent; thread-safe.
  void Shutdown(std::chrono::system_clock::time_point deadline);
  // grpc.health.v1 status of the whole server. Thread-safe.
  void SetServing(bool serving);

  // Checks and switches to new TLS files (SIGHUP); on error the old ones
  // stay in use. FAILED_PRECONDITION for a plaintext server.
  absl::Status ReloadTls(const TlsPaths& paths);
  // The served certificate, for the log ("" for plaintext).
  std::string TlsDescription() const { return tls_ ? tls_->description() : ""; }
  // TLS staging directories of killed crm-syncd processes removed at start.
  int TlsStaleDirsRemoved() const { return tls_ ? tls_->stale_dirs_removed() : 0; }

  // Blocks until the server has shut down.
  void Wait();

 private:
  ServerConfig config_;
  std::vector<grpc::Service*> services_;
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors_;
  std::unique_ptr<TlsFiles> tls_;
  std::unique_ptr<grpc::Server> server_;
  int bound_port_ = 0;
};

// Reads a whole file into `out`; returns an error naming the file.
absl::Status ReadFileToString(const std::string& path, std::string* out);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_GRPC_SERVER_H_
