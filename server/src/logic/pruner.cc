#include "pruner.h"

#include <algorithm>
#include <vector>

#include "loyalty.h"

namespace crmsync::server {
namespace {

// Devices whose results are dropped per write transaction (each holds the
// tenant's write lock, so pushes wait for it: keep it short).
constexpr size_t kDevicesPerTx = 64;

int64_t LastSeenMs(const v1::Device& d) {
  int64_t last_ms = d.last_contact_at().seconds() * 1000 + d.last_contact_at().nanos() / 1000000;
  if (d.has_registered_at()) last_ms = std::max(last_ms, d.registered_at().seconds() * 1000);
  return last_ms;
}

// Drops every exactly-once result of `device_ids`, a batch per transaction.
absl::Status ForgetDevices(ChangeLog* changes, const std::string& tenant_id,
                           const std::vector<std::string>& device_ids, PruneReport* report) {
  for (size_t begin = 0; begin < device_ids.size(); begin += kDevicesPerTx) {
    const size_t end = std::min(device_ids.size(), begin + kDevicesPerTx);
    int64_t forgotten = 0;
    int64_t removed = 0;
    absl::Status s = changes->Write(tenant_id, [&](WriteTx& tx) -> absl::Status {
      forgotten = removed = 0;
      for (size_t i = begin; i < end; ++i) {
        auto floor = tx.ForgetAppliedResults(device_ids[i]);
        if (!floor.ok()) return floor.status();
        if (floor->rows_removed > 0) ++forgotten;
        removed += floor->rows_removed;
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    report->devices_forgotten += forgotten;
    report->applied_removed += removed;
  }
  return absl::OkStatus();
}

}  // namespace

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
  std::vector<std::string> gone;
  for (const DeviceRow& row : *devices) {
    const v1::Device& d = row.device;
    if (d.status() != v1::DEVICE_STATUS_ACTIVE || now_ms - LastSeenMs(d) > retention_ms) {
      gone.push_back(d.id());
      continue;
    }
    ++report.devices_considered;
    horizon = std::min(horizon, d.cursor_seq());
  }
  report.horizon = std::max(horizon, *pruned);
  if (report.horizon > *pruned) {
    auto removed = changes->Prune(tenant_id, report.horizon);
    if (!removed.ok()) return removed.status();
    report.rows_removed = *removed;
  }
  if (auto s = ForgetDevices(changes, tenant_id, gone, &report); !s.ok()) return s;
  auto claims = PruneCouponClaims(changes, tenant_id, report.horizon, now_ms, retention_ms);
  if (!claims.ok()) return claims.status();
  report.claims_removed = *claims;
  auto values = changes->TrimFieldHistory(tenant_id);
  if (!values.ok()) return values.status();
  report.field_values_removed = *values;
  return report;
}

}  // namespace crmsync::server
