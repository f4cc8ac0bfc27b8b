#include "status_convert.h"

#include <spdlog/spdlog.h>

#include "logic/directive.h"
#include "store/internal_detail.h"

namespace crmsync::server {

grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context) {
  if (status.ok()) return grpc::Status::OK;
  if (auto directive = DirectiveOf(status); directive && context) {
    context->AddTrailingMetadata(kDirectiveKey, *directive);
  }
  // The store's internal detail (driver text naming hosts, paths, SQL) is
  // logged here and never sent.
  if (status.GetPayload(kInternalDetailPayload)) {
    spdlog::warn("{} answered {}", absl::StatusCodeToString(status.code()), InternalDetail(status));
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
