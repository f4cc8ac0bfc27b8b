// crmsync.v1.AuthService over gRPC (callback API). Thin: hand the call to
// auth::AuthHandler on the worker pool, convert the status once. Login,
// Refresh and ExchangeApiKey need no token; Logout and RegisterDevice are
// authenticated like every other call.
#ifndef CRMSYNC_SERVER_RPC_AUTH_SERVICE_H_
#define CRMSYNC_SERVER_RPC_AUTH_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "auth/auth_handler.h"
#include "crmsync/v1/auth.grpc.pb.h"
#include "logic/authenticator.h"
#include "unary_call.h"

namespace crmsync::server {

class AuthServiceImpl final : public v1::AuthService::CallbackService {
 public:
  // Every pointer must outlive the service. `auth` authenticates Logout and
  // RegisterDevice (device-less tokens allowed).
  AuthServiceImpl(auth::AuthHandler* handler, Authenticator* auth, WorkerPool* pool)
      : handler_(handler), auth_(auth), pool_(pool) {}

  grpc::ServerUnaryReactor* Login(grpc::CallbackServerContext* context,
                                  const v1::LoginRequest* request,
                                  v1::LoginResponse* response) override;
  grpc::ServerUnaryReactor* Refresh(grpc::CallbackServerContext* context,
                                    const v1::RefreshRequest* request,
                                    v1::RefreshResponse* response) override;
  grpc::ServerUnaryReactor* Logout(grpc::CallbackServerContext* context,
                                   const v1::LogoutRequest* request,
                                   v1::LogoutResponse* response) override;
  grpc::ServerUnaryReactor* RegisterDevice(grpc::CallbackServerContext* context,
                                           const v1::RegisterDeviceRequest* request,
                                           v1::RegisterDeviceResponse* response) override;
  grpc::ServerUnaryReactor* ExchangeApiKey(grpc::CallbackServerContext* context,
                                           const v1::ExchangeApiKeyRequest* request,
                                           v1::ExchangeApiKeyResponse* response) override;

 private:
  auth::AuthHandler* handler_;
  Authenticator* auth_;
  WorkerPool* pool_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_RPC_AUTH_SERVICE_H_
