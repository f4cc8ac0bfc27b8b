#include "directive.h"

#include "absl/strings/cord.h"

namespace crmsync::server {

namespace {
constexpr char kPayloadUrl[] = "type.crmsync.dev/crmsync.directive";
}  // namespace

absl::Status WithDirective(absl::Status status, const std::string& directive) {
  status.SetPayload(kPayloadUrl, absl::Cord(directive));
  return status;
}

std::optional<std::string> DirectiveOf(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload) return std::nullopt;
  return std::string(*payload);
}

}  // namespace crmsync::server
