// Push: applies a device's batch of mutations exactly once, in one
// transaction, merging each with the sync core. No gRPC here.
#ifndef CRMSYNC_SERVER_LOGIC_PUSH_HANDLER_H_
#define CRMSYNC_SERVER_LOGIC_PUSH_HANDLER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "clock.h"
#include "crmsync/sync/policy_table.h"
#include "crmsync/v1/sync.pb.h"
#include "identity_keys.h"
#include "metrics/registry.h"
#include "metrics/tenant_traffic.h"
#include "principal.h"
#include "store/store.h"

namespace crmsync::server {

struct PushOptions {
  // Most mutations in one Push; more is RESOURCE_EXHAUSTED.
  int max_batch = 500;
  // How long after a record was reassigned an offline edit made by its
  // previous owner (based on a version from before the reassignment) is
  // still accepted. Default 14 days.
  int64_t reassignment_grace_ms = 14LL * 24 * 3600 * 1000;
  // Remote clocks further ahead than this are clamped in merges.
  int64_t max_clock_skew_ms = 60 * 1000;
  // The retention period (--retention-hours, default 30 days): a coupon
  // whose validity ended longer ago is refused as expired whatever the
  // till's clock said, because its counters may have been pruned
  // (loyalty.h, CouponCountersPrunable).
  int64_t retention_ms = 30LL * 24 * 3600 * 1000;
  // Duplicate detection of leads, contacts and accounts (duplicates.h).
  DuplicateOptions duplicates;
};

// Called after a push committed, with the tenant and its newest sequence.
using CommitListener = std::function<void(const std::string& tenant_id, int64_t latest_seq)>;

class PushHandler {
 public:
  // The store roles, `policies` and `clock` must outlive the handler.
  // Thread-safe. `audit` records mutations re-sent after a restore
  // (history_resent).
  PushHandler(ChangeLog* changes, Directory* directory, AuditTrail* audit,
              const sync::PolicyTable* policies, Clock* clock, PushOptions options,
              CommitListener on_commit = nullptr);

  // Applies `request` for `who` (who.device_id must be set). On OK,
  // `response` holds one result per mutation, in order. Errors:
  // INVALID_ARGUMENT for a malformed batch (nothing applied), RESOURCE_EXHAUSTED
  // for a batch over the limit, FAILED_PRECONDITION for an unsupported
  // protocol version, UNAVAILABLE/ABORTED from the store (retry the batch).
  absl::Status Push(const Principal& who, const v1::PushRequest& request,
                    v1::PushResponse* response);
  // The same; with `with_records` false the results carry no record (a
  // bulk import reports outcomes only, and copying each record costs).
  // `committed` (if set) is called once the batch's write transaction has
  // committed, before the device's last contact is recorded and the
  // answer built: what waits for the batch to be stored may go on then.
  absl::Status Push(const Principal& who, const v1::PushRequest& request,
                    v1::PushResponse* response, bool with_records,
                    const std::function<void()>& committed = nullptr);

  // Records pushes, outcomes, conflicts and store time in `metrics` (may be
  // null; must outlive the handler). Call before serving.
  void set_metrics(MetricsRegistry* metrics) { metrics_ = metrics; }
  // Counts committed pushes per tenant in `traffic` (may be null; must
  // outlive the handler). Call before serving.
  void set_traffic(TenantTraffic* traffic) { traffic_ = traffic; }

  // Replaces the conflict policies for the pushes that start from now on
  // (a reloaded --policy-file); pushes in flight keep the table they began
  // with. Thread-safe.
  void ReplacePolicies(std::shared_ptr<const sync::PolicyTable> policies);

  // Most mutations in one Push (PushOptions::max_batch).
  int max_batch() const { return options_.max_batch; }

 private:
  void RecordMetrics(const std::vector<v1::MutationResult>& results,
                     const std::vector<v1::ConflictPolicy>& conflict_policies);

  MetricsRegistry* metrics_ = nullptr;
  TenantTraffic* traffic_ = nullptr;
  ChangeLog* changes_;
  Directory* directory_;
  AuditTrail* audit_;
  // The table in use: the constructor's, or the latest ReplacePolicies.
  std::shared_ptr<const sync::PolicyTable> CurrentPolicies() const;

  const sync::PolicyTable* policies_;
  mutable absl::Mutex policies_mu_;
  std::shared_ptr<const sync::PolicyTable> replaced_policies_ ABSL_GUARDED_BY(policies_mu_);
  Clock* clock_;
  PushOptions options_;
  CommitListener on_commit_;
};

// Checks ClientInfo.protocol_version; FAILED_PRECONDITION with the
// "upgrade-required" directive when it is outside what this server serves.
absl::Status CheckProtocolVersion(const v1::ClientInfo& client);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_PUSH_HANDLER_H_
