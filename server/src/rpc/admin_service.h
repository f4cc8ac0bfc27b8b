// crmsync.v1.AdminService over gRPC (callback API). Thin: authenticate,
// hand the call to AdminHandler on the worker pool, convert the status once.
#ifndef CRMSYNC_SERVER_RPC_ADMIN_SERVICE_H_
#define CRMSYNC_SERVER_RPC_ADMIN_SERVICE_H_

#include "admin/admin_handler.h"
#include "crmsync/v1/admin.grpc.pb.h"
#include "logic/authenticator.h"
#include "worker_pool.h"

namespace crmsync::server {

class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  // Every pointer must outlive the service.
  AdminServiceImpl(AdminHandler* handler, Authenticator* auth, WorkerPool* pool)
      : handler_(handler), auth_(auth), pool_(pool) {}

  grpc::ServerUnaryReactor* GetServerStatus(grpc::CallbackServerContext* context,
                                            const v1::GetServerStatusRequest* request,
                                            v1::GetServerStatusResponse* response) override;
  grpc::ServerUnaryReactor* ListDevices(grpc::CallbackServerContext* context,
                                        const v1::ListDevicesRequest* request,
                                        v1::ListDevicesResponse* response) override;
  grpc::ServerUnaryReactor* GetDevice(grpc::CallbackServerContext* context,
                                      const v1::GetDeviceRequest* request,
                                      v1::GetDeviceResponse* response) override;
  grpc::ServerUnaryReactor* RevokeDevice(grpc::CallbackServerContext* context,
                                         const v1::RevokeDeviceRequest* request,
                                         v1::RevokeDeviceResponse* response) override;
  grpc::ServerUnaryReactor* ListConflicts(grpc::CallbackServerContext* context,
                                          const v1::ListConflictsRequest* request,
                                          v1::ListConflictsResponse* response) override;
  grpc::ServerUnaryReactor* GetConflict(grpc::CallbackServerContext* context,
                                        const v1::GetConflictRequest* request,
                                        v1::GetConflictResponse* response) override;
  grpc::ServerUnaryReactor* ResolveConflict(grpc::CallbackServerContext* context,
                                            const v1::ResolveConflictRequest* request,
                                            v1::ResolveConflictResponse* response) override;
  grpc::ServerUnaryReactor* ListStores(grpc::CallbackServerContext* context,
                                       const v1::ListStoresRequest* request,
                                       v1::ListStoresResponse* response) override;
  grpc::ServerUnaryReactor* UpsertStore(grpc::CallbackServerContext* context,
                                        const v1::UpsertStoreRequest* request,
                                        v1::UpsertStoreResponse* response) override;
  grpc::ServerUnaryReactor* ListCoupons(grpc::CallbackServerContext* context,
                                        const v1::ListCouponsRequest* request,
                                        v1::ListCouponsResponse* response) override;
  grpc::ServerUnaryReactor* UpsertCoupon(grpc::CallbackServerContext* context,
                                         const v1::UpsertCouponRequest* request,
                                         v1::UpsertCouponResponse* response) override;
  grpc::ServerUnaryReactor* ListUsers(grpc::CallbackServerContext* context,
                                      const v1::ListUsersRequest* request,
                                      v1::ListUsersResponse* response) override;
  grpc::ServerUnaryReactor* CreateUser(grpc::CallbackServerContext* context,
                                       const v1::CreateUserRequest* request,
                                       v1::CreateUserResponse* response) override;
  grpc::ServerUnaryReactor* UpdateUser(grpc::CallbackServerContext* context,
                                       const v1::UpdateUserRequest* request,
                                       v1::UpdateUserResponse* response) override;
  grpc::ServerUnaryReactor* CreateApiKey(grpc::CallbackServerContext* context,
                                         const v1::CreateApiKeyRequest* request,
                                         v1::CreateApiKeyResponse* response) override;
  grpc::ServerUnaryReactor* ListAuditEvents(grpc::CallbackServerContext* context,
                                            const v1::ListAuditEventsRequest* request,
                                            v1::ListAuditEventsResponse* response) override;
  grpc::ServerUnaryReactor* EraseRecord(grpc::CallbackServerContext* context,
                                        const v1::EraseRecordRequest* request,
                                        v1::EraseRecordResponse* response) override;
  grpc::ServerUnaryReactor* GetFieldHistory(grpc::CallbackServerContext* context,
                                            const v1::GetFieldHistoryRequest* request,
                                            v1::GetFieldHistoryResponse* response) override;
  grpc::ServerUnaryReactor* ListDuplicates(grpc::CallbackServerContext* context,
                                           const v1::ListDuplicatesRequest* request,
                                           v1::ListDuplicatesResponse* response) override;
  grpc::ServerUnaryReactor* GetDuplicates(grpc::CallbackServerContext* context,
                                          const v1::GetDuplicatesRequest* request,
                                          v1::GetDuplicatesResponse* response) override;
  grpc::ServerUnaryReactor* GetTimeline(grpc::CallbackServerContext* context,
                                        const v1::GetTimelineRequest* request,
                                        v1::GetTimelineResponse* response) override;
  grpc::ServerUnaryReactor* MergeRecords(grpc::CallbackServerContext* context,
                                         const v1::MergeRecordsRequest* request,
                                         v1::MergeRecordsResponse* response) override;
  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context,
                                     const v1::GetStatsRequest* request,
                                     v1::GetStatsResponse* response) override;
  grpc::ServerUnaryReactor* ExportChanges(grpc::CallbackServerContext* context,
                                          const v1::ExportChangesRequest* request,
                                          v1::PullResponse* response) override;
  grpc::ServerUnaryReactor* ImportRecords(grpc::CallbackServerContext* context,
                                          const v1::ImportRecordsRequest* request,
                                          v1::ImportRecordsResponse* response) override;
  grpc::ServerUnaryReactor* GetImport(grpc::CallbackServerContext* context,
                                      const v1::GetImportRequest* request,
                                      v1::GetImportResponse* response) override;
  grpc::ServerUnaryReactor* DefineCustomField(grpc::CallbackServerContext* context,
                                              const v1::DefineCustomFieldRequest* request,
                                              v1::DefineCustomFieldResponse* response) override;
  grpc::ServerUnaryReactor* RemoveCustomField(grpc::CallbackServerContext* context,
                                              const v1::RemoveCustomFieldRequest* request,
                                              v1::RemoveCustomFieldResponse* response) override;
  grpc::ServerUnaryReactor* ListCustomFields(grpc::CallbackServerContext* context,
                                             const v1::ListCustomFieldsRequest* request,
                                             v1::ListCustomFieldsResponse* response) override;

 private:
  AdminHandler* handler_;
  Authenticator* auth_;
  WorkerPool* pool_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_RPC_ADMIN_SERVICE_H_
