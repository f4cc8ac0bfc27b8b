// How a benchmark client talks to crm-syncd: as a real device does, over
// TLS (or plaintext for a --dev-insecure server) with a bearer access token
// bound to a registered device (AuthService Login, then RegisterDevice).
#ifndef CRMSYNC_BENCH_E2E_CLIENT_SESSION_H_
#define CRMSYNC_BENCH_E2E_CLIENT_SESSION_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "crmsync/v1/auth.grpc.pb.h"
#include "crmsync/v1/sync.grpc.pb.h"

namespace crmsync::bench::e2e {

namespace v1 = ::crmsync::v1;

struct Endpoint {
  // "127.0.0.1:PORT".
  std::string address;
  // PEM of the CA that signed the server certificate; empty = plaintext.
  std::string ca_pem;
};

// A channel to `endpoint`. `own_connection`: the channel gets a TCP
// connection of its own, as a separate device would, instead of sharing
// one with the process's other channels to the same address. Keepalive as
// the SDK sets it (30 s, while a call is open).
std::shared_ptr<grpc::Channel> MakeChannel(const Endpoint& endpoint, bool own_connection = false);

// A signed-in user (Login without a device: the token may only register
// devices). Thread-safe after SignIn.
class UserSession {
 public:
  // Signs in (the server runs its password KDF).
  static absl::StatusOr<UserSession> SignIn(std::shared_ptr<grpc::Channel> channel,
                                            const std::string& tenant, const std::string& username,
                                            const std::string& password);
  // Registers `device_id` to the user; returns its access token.
  absl::StatusOr<std::string> RegisterDevice(const std::string& device_id) const;
  // The device-less access token (AuthService and AdminService calls).
  const std::string& token() const { return token_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::shared_ptr<v1::AuthService::Stub> stub_;
  std::string token_;
};

// One device's SyncService calls with its bearer token. Calls refused by
// the server's per-device rate limit (RESOURCE_EXHAUSTED) are retried after
// a pause, a bounded number of times, and counted. Thread-compatible.
class DeviceClient {
 public:
  DeviceClient(std::shared_ptr<grpc::Channel> channel, std::string access_token);

  grpc::Status Push(const v1::PushRequest& request, v1::PushResponse* response);
  grpc::Status Pull(const v1::PullRequest& request, v1::PullResponse* response);
  // Pulls from `*cursor` until caught up (at most `max_pages` pages);
  // advances `*cursor`; adds the number of changes to `*changes`.
  grpc::Status CatchUp(std::string* cursor, int page_size, int max_pages, int64_t* changes);
  // Adds the token and a deadline.
  void Prepare(grpc::ClientContext* context, std::chrono::seconds deadline) const;

  v1::SyncService::Stub* stub() { return stub_.get(); }
  const std::string& token() const { return token_; }
  // Calls retried because of the rate limit so far.
  int64_t throttled() const { return throttled_; }

 private:
  template <typename Call>
  grpc::Status WithRetry(Call call);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SyncService::Stub> stub_;
  std::string token_;
  int64_t throttled_ = 0;
};

}  // namespace crmsync::bench::e2e

#endif  // CRMSYNC_BENCH_E2E_CLIENT_SESSION_H_
