// Input checks of the authentication, audit and erasure rows, shared by
// both stores so they accept the same inputs. Pure; thread-safe.
#ifndef CRMSYNC_SERVER_STORE_AUTH_CHECKS_H_
#define CRMSYNC_SERVER_STORE_AUTH_CHECKS_H_

#include "store/store.h"
#include "store/store_codec.h"

namespace crmsync::server::store_codec {

inline absl::Status CheckRefresh(const RefreshTokenRow& t) {
  if (auto s = CheckId(t.tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = CheckId(t.token_hash, "token hash"); !s.ok()) return s;
  if (auto s = CheckId(t.family_id, "token family"); !s.ok()) return s;
  if (auto s = CheckId(t.user_id, "user id"); !s.ok()) return s;
  return CheckText(t.device_id, "device id");
}

inline absl::Status CheckApiKey(const ApiKeyRow& key) {
  if (auto s = CheckId(key.tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = CheckId(key.key_id, "key id"); !s.ok()) return s;
  if (auto s = CheckId(key.user_id, "user id"); !s.ok()) return s;
  if (auto s = CheckId(key.secret_hash, "key hash"); !s.ok()) return s;
  return CheckText(key.label, "key label");
}

inline absl::Status CheckAudit(const AuditRow& a) {
  if (auto s = CheckId(a.tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = CheckId(a.action, "audit action"); !s.ok()) return s;
  for (const std::string* text :
       {&a.actor_user_id, &a.actor_device_id, &a.target, &a.detail, &a.peer}) {
    if (auto s = CheckText(*text, "audit text"); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace crmsync::server::store_codec

#endif  // CRMSYNC_SERVER_STORE_AUTH_CHECKS_H_
