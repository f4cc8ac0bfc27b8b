// The server's TLS material, reloadable without a restart (SIGHUP).
//
// gRPC reads the certificate chain, key and client CA through a file-watching
// certificate provider. It does not watch the operator's files themselves:
// a half-written or mismatched pair would be taken as is. Instead each
// (re)load checks the files (PEM parses, the key belongs to the
// certificate, the CA bundle holds a certificate), copies them into a
// private directory (0700, files 0600) as a new generation, and switches a
// `current` symlink to it in one rename. gRPC picks the new generation up
// within a second; a load that fails changes nothing.
//
// The directory is removed when the server stops. One left behind by a
// crm-syncd that was killed (it holds a copy of the private key) is removed
// by the next crm-syncd of the same user started with the same temporary
// directory: its name carries the pid of its creator
// (crm-syncd-tls-<pid>-XXXXXX), and one whose creator no longer runs goes.
// (Under the systemd unit, PrivateTmp= gives each run a /tmp of its own,
// removed when the service stops.)
#ifndef CRMSYNC_SERVER_TLS_FILES_H_
#define CRMSYNC_SERVER_TLS_FILES_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace crmsync::server {

struct TlsPaths {
  std::string cert;       // certificate chain (PEM)
  std::string key;        // private key (PEM)
  std::string client_ca;  // CA bundle for client certificates; empty = no mTLS
};

class TlsFiles {
 public:
  // Checks and stages `paths`. INVALID_ARGUMENT / NOT_FOUND naming the file.
  static absl::StatusOr<std::unique_ptr<TlsFiles>> Create(const TlsPaths& paths);
  ~TlsFiles();  // removes the private directory
  TlsFiles(const TlsFiles&) = delete;
  TlsFiles& operator=(const TlsFiles&) = delete;

  // Server credentials reading the staged files (refreshed every second).
  std::shared_ptr<grpc::ServerCredentials> Credentials() const;

  // Checks and stages new files. Switching mTLS on or off needs a restart
  // (FAILED_PRECONDITION). On any error the previous files stay in use.
  absl::Status Reload(const TlsPaths& paths);

  // "subject CN=..., expires 2027-12-04" of the staged certificate.
  const std::string& description() const { return description_; }

  // How many directories of dead crm-syncd processes Create() removed.
  int stale_dirs_removed() const { return stale_dirs_removed_; }

  // Removes the staging directories in `parent` that belong to this user and
  // whose creating process no longer runs; returns how many.
  static int RemoveStaleDirs(const std::string& parent);

 private:
  TlsFiles() = default;
  absl::Status Stage(const TlsPaths& paths);

  std::string dir_;
  bool mtls_ = false;
  int generation_ = 0;
  int stale_dirs_removed_ = 0;
  std::string description_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_TLS_FILES_H_
