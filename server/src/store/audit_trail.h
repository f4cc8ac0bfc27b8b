// The audit trail: the store role that keeps audit events per tenant
// (written through auth::AuditLog, read by AdminService.ListAuditEvents).
//
// One implementation for both databases (SqlAuditTrail); text fields follow
// store_codec::CheckText/CheckId. Thread-safety: any thread.
#ifndef CRMSYNC_SERVER_STORE_AUDIT_TRAIL_H_
#define CRMSYNC_SERVER_STORE_AUDIT_TRAIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace crmsync::server {

// One audit log entry (AdminService.ListAuditEvents).
struct AuditRow {
  // Assigned by AppendAudit; increases with insertion order.
  int64_t id = 0;
  std::string tenant_id;
  int64_t at_ms = 0;
  std::string action;
  std::string actor_user_id;
  std::string actor_device_id;
  std::string target;
  std::string detail;
  std::string peer;
};

class AuditTrail {
 public:
  virtual ~AuditTrail() = default;

  // Appends an audit entry (row.id is ignored) and returns its id.
  virtual absl::StatusOr<int64_t> AppendAudit(const AuditRow& row) = 0;
  // The tenant's audit entries with at_ms >= since_ms, only `action` if not
  // empty, at most `limit`: oldest first from id > after_id, or with
  // `newest_first` newest first from id < after_id (0: from the newest).
  virtual absl::StatusOr<std::vector<AuditRow>> ListAudit(const std::string& tenant_id,
                                                          const std::string& action,
                                                          int64_t since_ms, int64_t after_id,
                                                          int limit, bool newest_first) = 0;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_AUDIT_TRAIL_H_
