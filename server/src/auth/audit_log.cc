#include "auth/audit_log.h"

#include <spdlog/spdlog.h>

namespace crmsync::server::auth {

namespace {
// Audit text is free-form but bounded, so a caller cannot bloat the log.
std::string Clip(std::string s) {
  constexpr size_t kMax = 1024;
  if (s.size() > kMax) s.resize(kMax);
  // Keep it valid UTF-8 by cutting back to a character boundary.
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
  if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80)) s.pop_back();
  return s;
}
}  // namespace

AuditRow AuditEvent(std::string tenant_id, std::string action, std::string actor_user_id,
                    std::string actor_device_id, std::string target, std::string detail,
                    std::string peer) {
  AuditRow row;
  row.tenant_id = std::move(tenant_id);
  row.action = std::move(action);
  row.actor_user_id = Clip(std::move(actor_user_id));
  row.actor_device_id = Clip(std::move(actor_device_id));
  row.target = Clip(std::move(target));
  row.detail = Clip(std::move(detail));
  row.peer = Clip(std::move(peer));
  return row;
}

absl::Status AuditLog::Record(AuditRow event) {
  event.at_ms = clock_->NowMs();
  auto id = audit_->AppendAudit(event);
  if (!id.ok()) return id.status();
  spdlog::info("audit tenant={} action={} actor={} device={} target={} peer={}", event.tenant_id,
               event.action, event.actor_user_id, event.actor_device_id, event.target, event.peer);
  return absl::OkStatus();
}

void AuditLog::RecordBestEffort(AuditRow event) {
  const std::string action = event.action;
  if (auto s = Record(std::move(event)); !s.ok()) {
    spdlog::error("cannot write audit event {}: {}", action, std::string(s.message()));
  }
}

}  // namespace crmsync::server::auth
