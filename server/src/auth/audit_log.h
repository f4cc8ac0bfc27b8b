// The audit log: security- and operations-relevant events (logins, failed
// logins, admin actions, revocations, conflict resolutions, erasures),
// stored per tenant and read through AdminService.ListAuditEvents.
#ifndef CRMSYNC_SERVER_AUTH_AUDIT_LOG_H_
#define CRMSYNC_SERVER_AUTH_AUDIT_LOG_H_

#include <string>

#include "absl/status/status.h"
#include "logic/clock.h"
#include "store/store.h"

namespace crmsync::server::auth {

class AuditLog {
 public:
  // `trail` and `clock` must outlive the log. Thread-safe.
  AuditLog(AuditTrail* trail, Clock* clock) : audit_(trail), clock_(clock) {}

  // Appends `event` stamped with the current time. Details must never hold
  // secrets (passwords, tokens, keys).
  absl::Status Record(AuditRow event);
  // As Record, but a failure is only logged: for events that must not make
  // the call they describe fail (a failed login stays a failed login).
  void RecordBestEffort(AuditRow event);

 private:
  AuditTrail* audit_;
  Clock* clock_;
};

// Builds an AuditRow.
AuditRow AuditEvent(std::string tenant_id, std::string action, std::string actor_user_id,
                    std::string actor_device_id, std::string target, std::string detail,
                    std::string peer);

}  // namespace crmsync::server::auth

#endif  // CRMSYNC_SERVER_AUTH_AUDIT_LOG_H_
