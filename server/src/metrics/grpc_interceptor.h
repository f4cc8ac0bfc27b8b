// A gRPC server interceptor that counts every RPC and records its latency
// by method and status code in the metrics registry.
#ifndef CRMSYNC_SERVER_METRICS_GRPC_INTERCEPTOR_H_
#define CRMSYNC_SERVER_METRICS_GRPC_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include "registry.h"

namespace crmsync::server {

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `registry` must outlive the gRPC server.
  explicit MetricsInterceptorFactory(MetricsRegistry* registry) : registry_(registry) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  MetricsRegistry* registry_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_METRICS_GRPC_INTERCEPTOR_H_
