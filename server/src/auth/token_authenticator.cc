#include "auth/token_authenticator.h"

#include <cctype>

#include "auth/auth_handler.h"

namespace crmsync::server::auth {

absl::StatusOr<Principal> TokenAuthenticator::Authenticate(const CallMetadata& metadata) {
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    if (fallback_ != nullptr) return fallback_->Authenticate(metadata);
    return absl::UnauthenticatedError(
        "missing credentials: send metadata \"authorization: Bearer <access token>\" (get one "
        "from AuthService.Login)");
  }
  const std::string& value = it->second;
  constexpr char kBearer[] = "bearer ";
  constexpr size_t kBearerLen = sizeof(kBearer) - 1;
  bool bearer = value.size() > kBearerLen;
  for (size_t i = 0; bearer && i < kBearerLen; ++i) {
    bearer = std::tolower(static_cast<unsigned char>(value[i])) == kBearer[i];
  }
  if (!bearer)
    return absl::UnauthenticatedError("authorization metadata must be \"Bearer <token>\"");
  auto claims = keys_->Verify(value.substr(kBearerLen), clock_->NowMs());
  if (!claims.ok()) return claims.status();

  auto user = directory_->GetUser(claims->tenant_id, claims->user_id);
  if (!user.ok()) return user.status();
  if (!*user || (*user)->user.disabled()) {
    return absl::UnauthenticatedError("the account of this token is no longer valid");
  }
  Principal p;
  p.tenant_id = claims->tenant_id;
  p.user_id = claims->user_id;
  p.role = (*user)->user.role();
  p.team_id = (*user)->user.team_id();
  p.store_id = (*user)->user.store_id();
  if (p.role == v1::ROLE_INTEGRATION) p.integration = (*user)->user.integration();
  if (!claims->device_id.empty()) {
    auto device = directory_->GetDevice(p.tenant_id, claims->device_id);
    if (!device.ok()) return device.status();
    if (!*device || (*device)->device.user_id() != p.user_id) {
      return absl::UnauthenticatedError("the device of this token is not registered");
    }
    const v1::DeviceStatus status = (*device)->device.status();
    if (status == v1::DEVICE_STATUS_REVOKED || status == v1::DEVICE_STATUS_WIPED) {
      return RevokedDeviceStatus(claims->device_id);
    }
    p.device_id = claims->device_id;
  } else if (options_.require_device) {
    return absl::PermissionDeniedError(
        "this token is not bound to a device: call AuthService.RegisterDevice and use the "
        "tokens it returns");
  }
  return p;
}

}  // namespace crmsync::server::auth
