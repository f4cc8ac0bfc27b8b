// The store's script: injected write failures, and pulls served while a
// push's write transaction is open.
#include <cstring>

#include "sim_world.h"

namespace crmsync::sim {

std::optional<absl::Status> SimWorld::WriteFault(const char* what) {
  if (faults_off_) return std::nullopt;
  bool fail;
  if (std::strcmp(what, "commit") == 0) {
    fail = Chance(options_.commit_fault_pct);
  } else if (std::strcmp(what, "commit_lost") == 0) {
    fail = Chance(options_.commit_lost_pct);
  } else if (std::strcmp(what, "TouchDevice") == 0) {
    fail = Chance(options_.touch_fault_pct);
  } else {
    fail = Pick(10000) < options_.store_op_fault_per_10k;
  }
  if (!fail) return std::nullopt;
  ++stats_["store_write_failures"];
  ++stats_[std::string("store_fault_") + what];
  std::string message = std::string("simulated store failure in ") + what;
  // Both codes a store returns for trouble that is not the caller's fault.
  return Chance(50) ? absl::UnavailableError(message) : absl::InternalError(message);
}

void SimWorld::WriteAttempt() {
  merging_.clear();
  redirected_.clear();
  pending_edits_.clear();
  open_results_.clear();
}

void SimWorld::BeforeCommit() {
  if (faults_off_ || serving_inside_write_ || !Chance(options_.pull_during_write_pct)) return;
  // Another device syncs while this transaction holds the write lock. Only
  // a device with nothing to push: its push would wait for the lock.
  std::vector<Device*> candidates;
  for (auto& d : devices_) {
    if (d.get() == pushing_ || d->offline) continue;
    auto pending = d->db->PendingCount();
    if (pending.ok() && *pending == 0) candidates.push_back(d.get());
  }
  if (candidates.empty()) return;
  Device* d = candidates[Pick(static_cast<int>(candidates.size()))];
  serving_inside_write_ = true;
  ++stats_["pulls_during_open_write"];
  (void)d->engine->SyncOnce();
  serving_inside_write_ = false;
}

void SimWorld::WriteEnded(bool committed) {
  write_fate_ = committed ? WriteFate::kCommitted : WriteFate::kRolledBack;
  if (committed) {
    for (auto& a : open_results_) {
      committed_results_[{a.device_id, a.client_seq}] = std::move(a.result);
    }
    for (auto& e : pending_edits_) {
      ++stats_[e.conflict_id.empty() ? "same_field_merged_by_policy"
                                     : "same_field_conflicts_expected"];
      same_field_edits_.push_back(std::move(e));
    }
  }
  pending_edits_.clear();
  merging_.clear();
  redirected_.clear();
  open_results_.clear();
}

}  // namespace crmsync::sim
