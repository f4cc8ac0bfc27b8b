// How the sync engine reaches the server: an interface, with a gRPC
// implementation for production (MakeGrpcTransport) and in-process fakes in
// tests. Credentials are an interface too, so development identity metadata
// can be replaced by bearer tokens without touching the engine.
//
// Thread-safety: implementations must allow concurrent calls (the engine
// pushes/pulls from its sync thread while a subscription reads on another).
#ifndef CRMSYNC_CLIENT_TRANSPORT_H_
#define CRMSYNC_CLIENT_TRANSPORT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "crmsync/client/clock.h"
#include "crmsync/v1/sync.pb.h"

namespace crmsync::client {

namespace v1 = ::crmsync::v1;

// What the server told the SDK to do (trailing metadata "crmsync-directive").
enum class Directive {
  kNone,
  // The cursor is behind the retained history: re-bootstrap, keeping and
  // then replaying unsent local changes.
  kResetRequired,
  // The device was revoked: erase the local store.
  kWipe,
  // The protocol version is not served: the app must be upgraded.
  kUpgradeRequired,
  // The cursor belongs to a change history the server no longer has (it
  // was restored from a backup): re-bootstrap, keep unsent local changes,
  // and re-send what the replica held that the server lacks.
  kHistoryChanged,
};

const char* DirectiveName(Directive d);
Directive ParseDirective(const std::string& value);

// The outcome of one call: a status (gRPC codes map to absl codes one to
// one) and the directive the server attached, if any.
struct CallStatus {
  absl::Status status;
  Directive directive = Directive::kNone;
  bool ok() const { return status.ok(); }
};

// Adds credentials to each call as metadata (key, value) pairs.
class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  virtual absl::Status Metadata(std::vector<std::pair<std::string, std::string>>* out) = 0;
};

// Development identity (servers started with --dev-identity only):
// x-crmsync-dev-tenant / -user / -device.
std::shared_ptr<CredentialsProvider> MakeDevCredentials(std::string tenant_slug,
                                                        std::string username,
                                                        std::string device_id);
// "authorization: Bearer <token>" with a fixed token.
std::shared_ptr<CredentialsProvider> MakeBearerCredentials(std::string access_token);

// Signs in through crmsync.v1.AuthService and keeps a device-bound access
// token fresh: Login (without device) then RegisterDevice, or
// ExchangeApiKey for store terminals; Refresh before the access token
// expires; a fresh sign-in when the refresh token is refused.
struct TokenCredentialsOptions {
  // Server "host:port" and its CA (empty = plaintext, development only).
  std::string address;
  std::string ca_pem;
  // Client certificate chain and private key (PEM) for servers that require
  // one (mTLS, --tls-client-ca); both or neither, and only with ca_pem.
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string tenant;
  // Either username + password (people) or api_key (store terminals).
  std::string username;
  std::string password;
  std::string api_key;
  // The device the tokens are bound to (Database::device_id()). Required.
  std::string device_id;
  std::string platform = "linux";
  // A refresh token persisted by the app (e.g. in the platform keystore);
  // empty = sign in.
  std::string refresh_token;
  // Called with every new refresh token, to persist it before it is used
  // (a retired refresh token revokes the whole family); with "" after
  // SignOut. Optional.
  std::function<void(const std::string&)> on_refresh_token;
  // Keep the password in memory after the first successful sign-in, to sign
  // in again by itself when the refresh token is refused. Off = the password
  // is forgotten once tokens are held (apps: sign in once, then live on the
  // refresh token; on_auth_required says when the user must sign in again).
  bool keep_password = true;
  // Called (on the thread of the call that found out, without locks held)
  // when no token can be had without the user: the refresh token was
  // refused or is missing, and there is no password or API key to sign in
  // with. Sync fails with UNAUTHENTICATED until SignIn succeeds. Optional.
  std::function<void(const absl::Status&)> on_auth_required;
  // Clock for expiry checks; nullptr = SystemClock(). Not owned.
  Clock* clock = nullptr;
  std::chrono::milliseconds call_timeout{20'000};
};
// Thread-safe; Metadata() blocks on the network when a token must be fetched
// and fails with the AuthService's status (UNAUTHENTICATED for a bad
// password, UNAVAILABLE when unreachable).
class TokenCredentials : public CredentialsProvider {
 public:
  // Signs in now (blocks on the network) as `username` with `password`,
  // replacing any tokens held; the password is kept only with
  // keep_password. UNAUTHENTICATED for a wrong password.
  virtual absl::Status SignIn(const std::string& username, const std::string& password) = 0;
  // Forgets the tokens and the password (on_refresh_token gets ""); calls
  // fail with UNAUTHENTICATED until SignIn. The server-side session ends
  // when its refresh token expires or an admin revokes the device.
  virtual void SignOut() = 0;
};
std::shared_ptr<TokenCredentials> MakeTokenCredentials(TokenCredentialsOptions options);

// An open Subscribe stream. Destroying it cancels the stream and waits for
// its reader to finish (no callback runs afterwards).
class Subscription {
 public:
  virtual ~Subscription() = default;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual CallStatus Push(const v1::PushRequest& request, v1::PushResponse* response) = 0;
  virtual CallStatus Pull(const v1::PullRequest& request, v1::PullResponse* response) = 0;
  virtual CallStatus GetChecksum(const v1::GetChecksumRequest& request,
                                 v1::GetChecksumResponse* response) = 0;
  // Lineage of one record (SyncService.GetFieldHistory). Transports that
  // do not offer it answer UNIMPLEMENTED.
  virtual CallStatus GetFieldHistory(const v1::GetFieldHistoryRequest& request,
                                     v1::GetFieldHistoryResponse* response) {
    (void)request;
    (void)response;
    return {absl::UnimplementedError("this transport has no GetFieldHistory"), {}};
  }
  // Opens a stream; `on_event` runs for each event and `on_done` once when
  // the stream ends for any reason other than the Subscription's
  // destruction. Both run on a transport thread and must not block long.
  virtual std::unique_ptr<Subscription> Subscribe(
      const v1::SubscribeRequest& request, std::function<void(const v1::SubscribeEvent&)> on_event,
      std::function<void(const CallStatus&)> on_done) = 0;
};

struct GrpcTransportOptions {
  // "host:port". Required.
  std::string address;
  // PEM of the CA that signed the server certificate. Empty = plaintext
  // (development servers started with --dev-insecure only).
  std::string ca_pem;
  // Client certificate chain and private key (PEM) for servers that require
  // one (mTLS: store terminals behind --tls-client-ca); both or neither.
  std::string client_cert_pem;
  std::string client_key_pem;
  // Required.
  std::shared_ptr<CredentialsProvider> credentials;
  // Deadline of unary calls. Default 20 s.
  std::chrono::milliseconds call_timeout{20'000};
  // Keepalive while a call is open (a started engine always has its
  // Subscribe stream open): after `keepalive_time` the connection is
  // pinged, and a ping unanswered for `keepalive_timeout` closes it, failing
  // its calls with UNAVAILABLE so the engine reconnects. This is what
  // notices a connection that died without a FIN or RST (a NAT that dropped
  // it, a phone that changed networks); TCP alone takes many minutes, and
  // until then every call on the connection times out. Defaults 30 s and
  // 10 s; a zero keepalive_time turns it off. crm-syncd accepts a ping
  // every 10 s.
  std::chrono::milliseconds keepalive_time{30'000};
  std::chrono::milliseconds keepalive_timeout{10'000};
};

// A gRPC transport. Creating it does not connect (the channel connects
// lazily on the first call).
std::shared_ptr<Transport> MakeGrpcTransport(GrpcTransportOptions options);

}  // namespace crmsync::client

#endif  // CRMSYNC_CLIENT_TRANSPORT_H_
