#include "authenticator.h"

#include "directive.h"

namespace crmsync::server {

namespace v1 = ::crmsync::v1;

namespace {

std::string First(const CallMetadata& md, const std::string& key) {
  auto it = md.find(key);
  return it == md.end() ? std::string() : it->second;
}

// Ids and names arrive from the network: keep them short and printable.
bool PlausibleId(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (unsigned char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<Principal> DevHeaderAuthenticator::Authenticate(const CallMetadata& metadata) {
  const std::string tenant_slug = First(metadata, "x-crmsync-dev-tenant");
  const std::string username = First(metadata, "x-crmsync-dev-user");
  const std::string device_id = First(metadata, "x-crmsync-dev-device");
  if (!PlausibleId(tenant_slug) || !PlausibleId(username)) {
    return absl::UnauthenticatedError(
        "missing identity: send metadata x-crmsync-dev-tenant and x-crmsync-dev-user");
  }
  if (!device_id.empty() && !PlausibleId(device_id)) {
    return absl::UnauthenticatedError("x-crmsync-dev-device must be 1-128 printable characters");
  }
  auto tenant = directory_->GetTenantBySlug(tenant_slug);
  if (!tenant.ok()) return tenant.status();
  if (!*tenant) return absl::UnauthenticatedError("unknown tenant or user");
  auto user = directory_->GetUserByName((*tenant)->id, username);
  if (!user.ok()) return user.status();
  if (!*user || (*user)->user.disabled()) {
    return absl::UnauthenticatedError("unknown tenant or user");
  }

  Principal p;
  p.tenant_id = (*tenant)->id;
  p.user_id = (*user)->user.id();
  p.role = (*user)->user.role();
  p.team_id = (*user)->user.team_id();
  p.store_id = (*user)->user.store_id();
  if (p.role == v1::ROLE_INTEGRATION) p.integration = (*user)->user.integration();

  if (!device_id.empty()) {
    auto device = directory_->GetDevice(p.tenant_id, device_id);
    if (!device.ok()) return device.status();
    if (!*device) {
      DeviceRow row;
      row.tenant_id = p.tenant_id;
      row.device.set_id(device_id);
      row.device.set_user_id(p.user_id);
      row.device.set_status(v1::DEVICE_STATUS_ACTIVE);
      int64_t now = clock_->NowMs();
      row.device.mutable_registered_at()->set_seconds(now / 1000);
      if (auto s = directory_->PutDevice(row); !s.ok()) return s;
    } else {
      const v1::Device& d = (*device)->device;
      if (d.user_id() != p.user_id) {
        return absl::PermissionDeniedError("device " + device_id +
                                           " is registered to another user");
      }
      if (d.status() == v1::DEVICE_STATUS_REVOKED || d.status() == v1::DEVICE_STATUS_WIPED) {
        return WithDirective(absl::PermissionDeniedError("device " + device_id +
                                                         " was revoked; erase its local data"),
                             kDirectiveWipe);
      }
    }
    p.device_id = device_id;
  }
  return p;
}

}  // namespace crmsync::server
