#include "admin_service.h"

#include "auth_service.h"

namespace crmsync::server {

grpc::ServerUnaryReactor* AdminServiceImpl::GetServerStatus(
    grpc::CallbackServerContext* context, const v1::GetServerStatusRequest* request,
    v1::GetServerStatusResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->GetServerStatus(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListDevices(grpc::CallbackServerContext* context,
                                                        const v1::ListDevicesRequest* request,
                                                        v1::ListDevicesResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->ListDevices(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetDevice(grpc::CallbackServerContext* context,
                                                      const v1::GetDeviceRequest* request,
                                                      v1::GetDeviceResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->GetDevice(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::RevokeDevice(grpc::CallbackServerContext* context,
                                                         const v1::RevokeDeviceRequest* request,
                                                         v1::RevokeDeviceResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->RevokeDevice(*who, AdminContext{peer}, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListConflicts(grpc::CallbackServerContext* context,
                                                          const v1::ListConflictsRequest* request,
                                                          v1::ListConflictsResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->ListConflicts(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetConflict(grpc::CallbackServerContext* context,
                                                        const v1::GetConflictRequest* request,
                                                        v1::GetConflictResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->GetConflict(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ResolveConflict(
    grpc::CallbackServerContext* context, const v1::ResolveConflictRequest* request,
    v1::ResolveConflictResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->ResolveConflict(*who, AdminContext{peer}, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListStores(grpc::CallbackServerContext* context,
                                                       const v1::ListStoresRequest* request,
                                                       v1::ListStoresResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->ListStores(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::UpsertStore(grpc::CallbackServerContext* context,
                                                        const v1::UpsertStoreRequest* request,
                                                        v1::UpsertStoreResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->UpsertStore(*who, AdminContext{peer}, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListCoupons(grpc::CallbackServerContext* context,
                                                        const v1::ListCouponsRequest* request,
                                                        v1::ListCouponsResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->ListCoupons(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::UpsertCoupon(grpc::CallbackServerContext* context,
                                                         const v1::UpsertCouponRequest* request,
                                                         v1::UpsertCouponResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->UpsertCoupon(*who, AdminContext{peer}, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListUsers(grpc::CallbackServerContext* context,
                                                      const v1::ListUsersRequest* request,
                                                      v1::ListUsersResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->ListUsers(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::CreateUser(grpc::CallbackServerContext* context,
                                                       const v1::CreateUserRequest* request,
                                                       v1::CreateUserResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->CreateUser(*who, AdminContext{peer}, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::UpdateUser(grpc::CallbackServerContext* context,
                                                       const v1::UpdateUserRequest* request,
                                                       v1::UpdateUserResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->UpdateUser(*who, AdminContext{peer}, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::CreateApiKey(grpc::CallbackServerContext* context,
                                                         const v1::CreateApiKeyRequest* request,
                                                         v1::CreateApiKeyResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->CreateApiKey(*who, AdminContext{peer}, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListAuditEvents(
    grpc::CallbackServerContext* context, const v1::ListAuditEventsRequest* request,
    v1::ListAuditEventsResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->ListAuditEvents(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::EraseRecord(grpc::CallbackServerContext* context,
                                                        const v1::EraseRecordRequest* request,
                                                        v1::EraseRecordResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->EraseRecord(*who, AdminContext{peer}, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetStats(grpc::CallbackServerContext* context,
                                                     const v1::GetStatsRequest* request,
                                                     v1::GetStatsResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->GetStats(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetFieldHistory(
    grpc::CallbackServerContext* context, const v1::GetFieldHistoryRequest* request,
    v1::GetFieldHistoryResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string&) {
    return handler_->GetFieldHistory(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListDuplicates(grpc::CallbackServerContext* context,
                                                           const v1::ListDuplicatesRequest* request,
                                                           v1::ListDuplicatesResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string&) {
    return handler_->ListDuplicates(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetDuplicates(grpc::CallbackServerContext* context,
                                                          const v1::GetDuplicatesRequest* request,
                                                          v1::GetDuplicatesResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string&) {
    return handler_->GetDuplicates(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ExportChanges(grpc::CallbackServerContext* context,
                                                          const v1::ExportChangesRequest* request,
                                                          v1::PullResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string&) {
    return handler_->ExportChanges(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ImportRecords(grpc::CallbackServerContext* context,
                                                          const v1::ImportRecordsRequest* request,
                                                          v1::ImportRecordsResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->ImportRecords(*who, AdminContext{peer}, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetImport(grpc::CallbackServerContext* context,
                                                      const v1::GetImportRequest* request,
                                                      v1::GetImportResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string&) {
    return handler_->GetImport(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::DefineCustomField(
    grpc::CallbackServerContext* context, const v1::DefineCustomFieldRequest* request,
    v1::DefineCustomFieldResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->DefineCustomField(*who, AdminContext{peer}, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::RemoveCustomField(
    grpc::CallbackServerContext* context, const v1::RemoveCustomFieldRequest* request,
    v1::RemoveCustomFieldResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->RemoveCustomField(*who, AdminContext{peer}, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListCustomFields(
    grpc::CallbackServerContext* context, const v1::ListCustomFieldsRequest* request,
    v1::ListCustomFieldsResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string&) {
    return handler_->ListCustomFields(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetTimeline(grpc::CallbackServerContext* context,
                                                        const v1::GetTimelineRequest* request,
                                                        v1::GetTimelineResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string&) {
    return handler_->GetTimeline(*who, *request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::MergeRecords(grpc::CallbackServerContext* context,
                                                         const v1::MergeRecordsRequest* request,
                                                         v1::MergeRecordsResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string&) {
    return handler_->MergeRecords(*who, *request, response);
  });
}

}  // namespace crmsync::server
