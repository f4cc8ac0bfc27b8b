#include "auth/demo_credentials.h"

#include <spdlog/spdlog.h>

#include "auth/password.h"
#include "demo_tenant.h"
#include "logic/hashing.h"

namespace crmsync::server::auth {

absl::Status EnsureDemoCredentials(Store* store, Clock* clock, SecureRandom* random,
                                   const PasswordParams& password, const std::string& slug) {
  auto tenant = store->directory().GetTenantBySlug(slug);
  if (!tenant.ok()) return tenant.status();
  if (!*tenant) return absl::OkStatus();
  const std::string& tenant_id = (*tenant)->id;
  auto users = store->directory().ListUsers(tenant_id);
  if (!users.ok()) return users.status();
  int set = 0;
  std::string till_user;
  for (UserRow& row : *users) {
    if (row.user.role() == v1::ROLE_STORE_TERMINAL && till_user.empty()) till_user = row.user.id();
    if (!row.password_hash.empty()) continue;
    auto hash = HashPassword(row.user.username() + "-demo-password", password, random);
    if (!hash.ok()) return hash.status();
    row.password_hash = *hash;
    if (auto s = store->directory().PutUser(row); !s.ok()) return s;
    ++set;
  }
  if (!till_user.empty()) {
    auto key = store->credentials().GetApiKey(tenant_id, "demo-till");
    if (!key.ok()) return key.status();
    if (!*key) {
      const std::string text = kDemoTillApiKey;
      const std::string secret = text.substr(text.rfind('.') + 1);
      ApiKeyRow row{tenant_id,         "demo-till",    till_user, "demo till (published key)",
                    Sha256Hex(secret), clock->NowMs(), false};
      if (auto s = store->credentials().PutApiKey(row); !s.ok()) return s;
    }
  }
  if (set > 0) {
    spdlog::warn(
        "demo tenant: {} users got the published demo passwords (<username>-demo-password)"
        " - never use the demo tenant with real data",
        set);
  }
  return absl::OkStatus();
}

}  // namespace crmsync::server::auth
