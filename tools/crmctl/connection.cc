#include "connection.h"

#include <cstdio>
#include <fstream>
#include <sstream>

namespace crmsync::crmctl {
namespace {

bool IsLoopback(const std::string& address) {
  std::string host = address.substr(0, address.rfind(':'));
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

std::unique_ptr<Connection> Connection::Open(const ConnectionOptions& options, std::string* error) {
  auto c = std::unique_ptr<Connection>(new Connection());
  c->options_ = options;
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (options.insecure) {
    if (!IsLoopback(options.server)) {
      *error = "--insecure is only allowed for a loopback server, not " + options.server;
      return nullptr;
    }
    creds = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) {
      std::ifstream in(options.ca_file);
      if (!in) {
        *error = "cannot read --ca " + options.ca_file;
        return nullptr;
      }
      std::ostringstream pem;
      pem << in.rdbuf();
      ssl.pem_root_certs = pem.str();
    }
    if (options.client_cert_file.empty() != options.client_key_file.empty()) {
      *error = "--client-cert and --client-key go together";
      return nullptr;
    }
    for (auto [path, pem] : {std::pair{&options.client_cert_file, &ssl.pem_cert_chain},
                             std::pair{&options.client_key_file, &ssl.pem_private_key}}) {
      if (path->empty()) continue;
      std::ifstream in(*path);
      if (!in) {
        *error = "cannot read " + *path;
        return nullptr;
      }
      std::ostringstream text;
      text << in.rdbuf();
      *pem = text.str();
    }
    creds = grpc::SslCredentials(ssl);
  }
  c->channel_ = grpc::CreateChannel(options.server, creds);
  return c;
}

void Connection::Prepare(grpc::ClientContext* context) const {
  if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
  if (!options_.dev_tenant.empty())
    context->AddMetadata("x-crmsync-dev-tenant", options_.dev_tenant);
  if (!options_.dev_user.empty()) context->AddMetadata("x-crmsync-dev-user", options_.dev_user);
  context->set_deadline(std::chrono::system_clock::now() + options_.timeout);
}

int ReportRpcError(const grpc::Status& status, const std::string& what) {
  std::fprintf(stderr, "crmctl: %s failed: %s (%s)\n", what.c_str(), status.error_message().c_str(),
               std::to_string(status.error_code()).c_str());
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      std::fprintf(stderr,
                   "crmctl: is crm-syncd running at that address, with matching TLS "
                   "settings (--ca / --insecure)?\n");
      return kExitUnavailable;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      std::fprintf(stderr,
                   "crmctl: log in with 'crmctl login' or set CRMCTL_TOKEN to an admin "
                   "token\n");
      return kExitUnauthorized;
    case grpc::StatusCode::NOT_FOUND: return kExitNotFound;
    case grpc::StatusCode::INVALID_ARGUMENT: return kExitUsage;
    default: return kExitFailed;
  }
}

}  // namespace crmsync::crmctl
