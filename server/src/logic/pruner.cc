#include "pruner.h"

#include <algorithm>

namespace crmsync::server {

absl::StatusOr<PruneReport> PruneTenant(ChangeLog* changes, Directory* directory,
                                        const std::string& tenant_id, int64_t now_ms,
                                        int64_t retention_ms) {
  auto latest = changes->LatestSeq(tenant_id);
  if (!latest.ok()) return latest.status();
  auto devices = directory->ListDevices(tenant_id);
  if (!devices.ok()) return devices.status();
  auto pruned = changes->PrunedThrough(tenant_id);
  if (!pruned.ok()) return pruned.status();

  PruneReport report;
  int64_t horizon = *latest;
  for (const DeviceRow& row : *devices) {
    const v1::Device& d = row.device;
    if (d.status() != v1::DEVICE_STATUS_ACTIVE) continue;
    int64_t last_ms = d.last_contact_at().seconds() * 1000 + d.last_contact_at().nanos() / 1000000;
    if (d.has_registered_at()) {
      int64_t reg_ms = d.registered_at().seconds() * 1000;
      last_ms = std::max(last_ms, reg_ms);
    }
    if (now_ms - last_ms > retention_ms) continue;
    ++report.devices_considered;
    horizon = std::min(horizon, d.cursor_seq());
  }
  report.horizon = std::max(horizon, *pruned);
  if (report.horizon > *pruned) {
    auto removed = changes->Prune(tenant_id, report.horizon);
    if (!removed.ok()) return removed.status();
    report.rows_removed = *removed;
  }
  return report;
}

}  // namespace crmsync::server
