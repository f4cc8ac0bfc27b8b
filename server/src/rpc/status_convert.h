// The one place where handler statuses become gRPC statuses.
#ifndef CRMSYNC_SERVER_RPC_STATUS_CONVERT_H_
#define CRMSYNC_SERVER_RPC_STATUS_CONVERT_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "logic/authenticator.h"

namespace crmsync::server {

// Converts `status`; a directive payload becomes the trailing metadata
// "crmsync-directive" on `context`.
grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context);

// The call's client metadata, keys lower-case.
CallMetadata MetadataOf(const grpc::ServerContextBase& context);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_RPC_STATUS_CONVERT_H_
