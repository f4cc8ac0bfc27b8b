// Channel credentials of the SDK's connections: plaintext without a CA,
// TLS trusting `ca_pem`, plus a client certificate and key (mTLS, for
// servers run with --tls-client-ca) when both are given.
#ifndef CRMSYNC_CLIENT_SRC_CHANNEL_CREDENTIALS_H_
#define CRMSYNC_CLIENT_SRC_CHANNEL_CREDENTIALS_H_

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

namespace crmsync::client::internal {

inline std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(
    const std::string& ca_pem, const std::string& client_cert_pem,
    const std::string& client_key_pem) {
  if (ca_pem.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca_pem;
  ssl.pem_cert_chain = client_cert_pem;
  ssl.pem_private_key = client_key_pem;
  return grpc::SslCredentials(ssl);
}

}  // namespace crmsync::client::internal

#endif  // CRMSYNC_CLIENT_SRC_CHANNEL_CREDENTIALS_H_
