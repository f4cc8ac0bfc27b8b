#include "status_convert.h"

#include "logic/directive.h"

namespace crmsync::server {

grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context) {
  if (status.ok()) return grpc::Status::OK;
  if (auto directive = DirectiveOf(status); directive && context) {
    context->AddTrailingMetadata(kDirectiveKey, *directive);
  }
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

CallMetadata MetadataOf(const grpc::ServerContextBase& context) {
  CallMetadata out;
  for (const auto& [key, value] : context.client_metadata()) {
    out.emplace(std::string(key.data(), key.size()), std::string(value.data(), value.size()));
  }
  return out;
}

}  // namespace crmsync::server
