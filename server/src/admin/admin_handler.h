// crmsync.v1.AdminService logic: devices (list, lag, revoke), conflicts
// (list, show, resolve), stores and coupons, users, API keys, the audit log,
// erasure and server status. Every call needs ROLE_ADMIN and acts only
// inside the caller's tenant. Changes to synced records (conflict
// resolutions, stores, coupons) are ordinary mutations pushed from the
// tenant's server-side admin device (admin_writer.h). No gRPC here.
//
// Implementation split by aspect: admin_handler.cc (devices, users,
// audit, erasure, status), admin_conflicts.cc, admin_catalog.cc.
#ifndef CRMSYNC_SERVER_ADMIN_HANDLER_H_
#define CRMSYNC_SERVER_ADMIN_HANDLER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "admin_writer.h"
#include "auth/audit_log.h"
#include "auth/auth_handler.h"
#include "crmsync/v1/admin.pb.h"
#include "logic/clock.h"
#include "logic/erasure.h"
#include "logic/principal.h"
#include "logic/pull_handler.h"
#include "logic/push_handler.h"
#include "metrics/tenant_traffic.h"
#include "open_conflicts.h"
#include "store/store.h"

namespace crmsync::server {

struct AdminContext {
  // The caller's address, for the audit log.
  std::string peer;
};

class AdminHandler {
 public:
  struct Info {
    int64_t started_at_ms = 0;
    // Open Subscribe streams of this instance (may be empty).
    std::function<int64_t()> active_subscribers;
    // Pushes, pulls and outcomes of this instance per tenant (may be null).
    const TenantTraffic* traffic = nullptr;
    // Token key ids: the signing key and every key accepted (signing first).
    std::string signing_key_id;
    std::vector<std::string> verify_key_ids;
    // "host:pid" of this process.
    std::string instance;
  };

  // Every pointer must outlive the handler. `push` applies admin writes
  // (conflict resolutions, stores, coupons). `on_commit` announces erasures
  // to subscribers. Thread-safe.
  AdminHandler(Store* store, Clock* clock, auth::AuthHandler* auth, auth::AuditLog* audit,
               PushHandler* push, Info info, CommitListener on_commit);

  absl::Status GetServerStatus(const Principal& who, const v1::GetServerStatusRequest& req,
                               v1::GetServerStatusResponse* resp);
  absl::Status ListDevices(const Principal& who, const v1::ListDevicesRequest& req,
                           v1::ListDevicesResponse* resp);
  absl::Status GetDevice(const Principal& who, const v1::GetDeviceRequest& req,
                         v1::GetDeviceResponse* resp);
  // Audited. The device's tokens stop working at its next call, which is
  // answered PERMISSION_DENIED with the "wipe" directive.
  absl::Status RevokeDevice(const Principal& who, const AdminContext& ctx,
                            const v1::RevokeDeviceRequest& req, v1::RevokeDeviceResponse* resp);
  // Conflicts in feed order (oldest change first); status UNSPECIFIED
  // means open. page_token is a feed position.
  absl::Status ListConflicts(const Principal& who, const v1::ListConflictsRequest& req,
                             v1::ListConflictsResponse* resp);
  // NOT_FOUND for an unknown (or erased) conflict.
  absl::Status GetConflict(const Principal& who, const v1::GetConflictRequest& req,
                           v1::GetConflictResponse* resp);
  // Settles an open conflict with an OPERATION_RESOLVE_CONFLICT mutation:
  // KEEP_SERVER dismisses it (empty mask), TAKE_CLIENT writes its
  // client_value, CUSTOM writes `value`. Audited ("conflict_resolved").
  // NOT_FOUND for an unknown conflict, FAILED_PRECONDITION for a closed one
  // (or a deleted record), INVALID_ARGUMENT for a bad resolution or value.
  absl::Status ResolveConflict(const Principal& who, const AdminContext& ctx,
                               const v1::ResolveConflictRequest& req,
                               v1::ResolveConflictResponse* resp);
  absl::Status ListStores(const Principal& who, const v1::ListStoresRequest& req,
                          v1::ListStoresResponse* resp);
  // Creates or replaces a store (an UPSERT mutation that syncs to devices).
  absl::Status UpsertStore(const Principal& who, const AdminContext& ctx,
                           const v1::UpsertStoreRequest& req, v1::UpsertStoreResponse* resp);
  // Active coupons valid now (all with include_inactive); with `at`, only
  // those whose geofence, or one of whose stores, lies within within_km.
  absl::Status ListCoupons(const Principal& who, const v1::ListCouponsRequest& req,
                           v1::ListCouponsResponse* resp);
  // Creates or replaces a coupon; its redemption_count stays the server's.
  absl::Status UpsertCoupon(const Principal& who, const AdminContext& ctx,
                            const v1::UpsertCouponRequest& req, v1::UpsertCouponResponse* resp);
  absl::Status ListUsers(const Principal& who, const v1::ListUsersRequest& req,
                         v1::ListUsersResponse* resp);
  absl::Status CreateUser(const Principal& who, const AdminContext& ctx,
                          const v1::CreateUserRequest& req, v1::CreateUserResponse* resp);
  absl::Status UpdateUser(const Principal& who, const AdminContext& ctx,
                          const v1::UpdateUserRequest& req, v1::UpdateUserResponse* resp);
  absl::Status CreateApiKey(const Principal& who, const AdminContext& ctx,
                            const v1::CreateApiKeyRequest& req, v1::CreateApiKeyResponse* resp);
  absl::Status ListAuditEvents(const Principal& who, const v1::ListAuditEventsRequest& req,
                               v1::ListAuditEventsResponse* resp);
  // Purges a Contact, Lead or LoyaltyAccount (audited; idempotent).
  absl::Status EraseRecord(const Principal& who, const AdminContext& ctx,
                           const v1::EraseRecordRequest& req, v1::EraseRecordResponse* resp);
  absl::Status GetFieldHistory(const Principal& who, const v1::GetFieldHistoryRequest& req,
                               v1::GetFieldHistoryResponse* resp);
  absl::Status GetTimeline(const Principal& who, const v1::GetTimelineRequest& req,
                           v1::GetTimelineResponse* resp);
  absl::Status ListDuplicates(const Principal& who, const v1::ListDuplicatesRequest& req,
                              v1::ListDuplicatesResponse* resp);
  absl::Status GetDuplicates(const Principal& who, const v1::GetDuplicatesRequest& req,
                             v1::GetDuplicatesResponse* resp);
  // Merges two duplicates through the push path (OPERATION_MERGE; audited
  // there as "record_merged").
  absl::Status MergeRecords(const Principal& who, const v1::MergeRecordsRequest& req,
                            v1::MergeRecordsResponse* resp);
  absl::Status GetStats(const Principal& who, const v1::GetStatsRequest& req,
                        v1::GetStatsResponse* resp);
  // Pull's pages with the admin's tenant-wide scope, limited to
  // req.entity_types when it names some. Needs set_pull_handler.
  absl::Status ExportChanges(const Principal& who, const v1::ExportChangesRequest& req,
                             v1::PullResponse* resp);

  // A batch of a bulk import: each row pushed as an OPERATION_UPSERT of
  // the import's server-side device, client_seq = row (admin_import.cc).
  absl::Status ImportRecords(const Principal& who, const AdminContext& ctx,
                             const v1::ImportRecordsRequest& req, v1::ImportRecordsResponse* resp);
  // NOT_FOUND for an import that has not started.
  absl::Status GetImport(const Principal& who, const v1::GetImportRequest& req,
                         v1::GetImportResponse* resp);

  // Custom fields: definitions are CustomField records written through the
  // admin console's device (admin_catalog.cc).
  absl::Status DefineCustomField(const Principal& who, const AdminContext& ctx,
                                 const v1::DefineCustomFieldRequest& req,
                                 v1::DefineCustomFieldResponse* resp);
  absl::Status RemoveCustomField(const Principal& who, const AdminContext& ctx,
                                 const v1::RemoveCustomFieldRequest& req,
                                 v1::RemoveCustomFieldResponse* resp);
  absl::Status ListCustomFields(const Principal& who, const v1::ListCustomFieldsRequest& req,
                                v1::ListCustomFieldsResponse* resp);

  // The handler ExportChanges pages with (must outlive this one). Call
  // before serving.
  void set_pull_handler(PullHandler* pull) { pull_ = pull; }

 private:
  // EraseRecord of a record whose type holds no personal data of its own:
  // clears its custom fields `names` (those marked personal data), their
  // field history and the conflicts on them; the record stays.
  absl::Status ErasePersonalFields(const Principal& who, const AdminContext& ctx,
                                   const v1::EraseRecordRequest& req,
                                   const std::vector<std::string>& names,
                                   v1::EraseRecordResponse* resp);
  // The device of import `import_id`, registered (and audited) on first use
  // when `create`; NOT_FOUND otherwise.
  absl::StatusOr<DeviceRow> ImportDevice(const Principal& who, const AdminContext& ctx,
                                         const std::string& import_id, bool create);
  // For a batch that follows row `follows` of import `import_id`, which
  // holds rows up to `*through`: waits while a batch of that import is
  // being applied on this instance, then reads the import's position
  // again. FAILED_PRECONDITION if it still does not hold the row.
  absl::Status AwaitFollowedRow(const Principal& who, const std::string& import_id, int64_t follows,
                                int64_t* through);

  // The batches of imports being applied on this instance, by tenant and
  // import id, with the highest row they applied. Kept while a batch runs
  // or waits for one: the next batch then learns where the import stands
  // from here, not from the database.
  struct ImportActivity {
    int running = 0;
    int waiting = 0;
    int64_t through = 0;
  };
  absl::Mutex imports_mu_;
  std::map<std::string, ImportActivity> imports_ ABSL_GUARDED_BY(imports_mu_);

  Store* store_;
  Clock* clock_;
  auth::AuthHandler* auth_;
  auth::AuditLog* audit_;
  PushHandler* push_;
  AdminWriter writer_;
  OpenConflicts open_conflicts_;
  Info info_;
  CommitListener on_commit_;
  PullHandler* pull_ = nullptr;
};

// PERMISSION_DENIED unless `who` is an admin.
absl::Status RequireAdmin(const Principal& who);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_ADMIN_HANDLER_H_
