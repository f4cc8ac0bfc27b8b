// The one way unary RPCs run: on the worker pool, authenticated, with one
// status conversion.
#ifndef CRMSYNC_SERVER_RPC_UNARY_CALL_H_
#define CRMSYNC_SERVER_RPC_UNARY_CALL_H_

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <string>

#include "logic/authenticator.h"
#include "status_convert.h"
#include "worker_pool.h"

namespace crmsync::server {

// Runs `fn(principal or nullptr, peer)` on `pool`, authenticating the call
// with `auth` first unless `auth` is null, and finishes the call with the
// returned status (INTERNAL errors logged). The one way every unary RPC of
// the Sync, Auth and Admin services runs; a full queue answers
// RESOURCE_EXHAUSTED at once.
template <typename Fn>
grpc::ServerUnaryReactor* RunOnPool(grpc::CallbackServerContext* context, Authenticator* auth,
                                    WorkerPool* pool, Fn fn) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  CallMetadata metadata = MetadataOf(*context);
  std::string peer = context->peer();
  bool queued = pool->Submit([=, metadata = std::move(metadata), peer = std::move(peer)] {
    if (context->IsCancelled()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "call cancelled"));
      return;
    }
    absl::Status status;
    if (auth != nullptr) {
      auto who = auth->Authenticate(metadata);
      status = who.ok() ? fn(&*who, peer) : who.status();
    } else {
      status = fn(nullptr, peer);
    }
    if (status.code() == absl::StatusCode::kInternal) {
      spdlog::error("internal error: {}", std::string(status.message()));
    }
    reactor->Finish(ToGrpcStatus(status, context));
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "server busy: too many requests queued; retry with backoff"));
  }
  return reactor;
}

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_RPC_UNARY_CALL_H_
