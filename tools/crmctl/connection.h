// How crmctl reaches crm-syncd: address, TLS, and the caller's credentials.
#ifndef CRMSYNC_TOOLS_CRMCTL_CONNECTION_H_
#define CRMSYNC_TOOLS_CRMCTL_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

namespace crmsync::crmctl {

// Settings from flags, CRMCTL_* environment variables and the config file
// (flags win, then environment, then file).
struct ConnectionOptions {
  std::string server = "127.0.0.1:50051";
  // CA bundle (PEM) trusted for the server's certificate; empty = system roots.
  std::string ca_file;
  // Client certificate chain and key (PEM files) for servers that require
  // one (--tls-client-ca).
  std::string client_cert_file;
  std::string client_key_file;
  // Plaintext, for development servers on loopback only.
  bool insecure = false;
  // Admin access token ("Bearer" is added).
  std::string token;
  // Development identity (servers started with --dev-identity).
  std::string dev_tenant;
  std::string dev_user;
  // Per-call deadline.
  std::chrono::milliseconds timeout{10000};
};

class Connection {
 public:
  // Fails (returns null, fills `error`) if the CA file cannot be read or
  // insecure is asked for a non-loopback server.
  static std::unique_ptr<Connection> Open(const ConnectionOptions& options, std::string* error);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  // Adds credentials and the deadline to a call.
  void Prepare(grpc::ClientContext* context) const;

 private:
  ConnectionOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Exit codes of crmctl.
enum ExitCode {
  kExitOk = 0,
  kExitFailed = 1,        // the server refused or the operation failed
  kExitUsage = 2,         // bad flags or arguments
  kExitUnavailable = 3,   // cannot reach the server
  kExitUnauthorized = 4,  // missing/invalid credentials or not an admin
  kExitNotFound = 5,      // the named object does not exist
};

// Maps an RPC status to an exit code and prints the message to stderr.
int ReportRpcError(const grpc::Status& status, const std::string& what);

}  // namespace crmsync::crmctl

#endif  // CRMSYNC_TOOLS_CRMCTL_CONNECTION_H_
