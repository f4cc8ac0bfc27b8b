#include "auth_service.h"

namespace crmsync::server {

grpc::ServerUnaryReactor* AuthServiceImpl::Login(grpc::CallbackServerContext* context,
                                                 const v1::LoginRequest* request,
                                                 v1::LoginResponse* response) {
  return RunOnPool(context, nullptr, pool_, [=](const Principal*, const std::string& peer) {
    return handler_->Login(*request, peer, response);
  });
}

grpc::ServerUnaryReactor* AuthServiceImpl::Refresh(grpc::CallbackServerContext* context,
                                                   const v1::RefreshRequest* request,
                                                   v1::RefreshResponse* response) {
  return RunOnPool(context, nullptr, pool_, [=](const Principal*, const std::string& peer) {
    return handler_->Refresh(*request, peer, response);
  });
}

grpc::ServerUnaryReactor* AuthServiceImpl::Logout(grpc::CallbackServerContext* context,
                                                  const v1::LogoutRequest* request,
                                                  v1::LogoutResponse*) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->Logout(*who, *request, peer);
  });
}

grpc::ServerUnaryReactor* AuthServiceImpl::RegisterDevice(grpc::CallbackServerContext* context,
                                                          const v1::RegisterDeviceRequest* request,
                                                          v1::RegisterDeviceResponse* response) {
  return RunOnPool(context, auth_, pool_, [=](const Principal* who, const std::string& peer) {
    return handler_->RegisterDevice(*who, *request, peer, response);
  });
}

grpc::ServerUnaryReactor* AuthServiceImpl::ExchangeApiKey(grpc::CallbackServerContext* context,
                                                          const v1::ExchangeApiKeyRequest* request,
                                                          v1::ExchangeApiKeyResponse* response) {
  return RunOnPool(context, nullptr, pool_, [=](const Principal*, const std::string& peer) {
    return handler_->ExchangeApiKey(*request, peer, response);
  });
}

}  // namespace crmsync::server
