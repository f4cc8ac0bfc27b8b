#include "tls_files.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/numbers.h"

namespace crmsync::server {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + std::string(what) + " " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioDeleter> MemBio(const std::string& text) {
  return std::unique_ptr<BIO, BioDeleter>(
      BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string Describe(X509* cert) {
  std::string out = "subject ";
  char name[256] = {0};
  X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof(name));
  out += name;
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new(BIO_s_mem()));
  if (ASN1_TIME_print(bio.get(), X509_get0_notAfter(cert)) == 1) {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    out += ", valid until " + std::string(data, static_cast<size_t>(len));
  }
  return out;
}

absl::Status WritePrivate(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::InternalError("cannot write " + path);
  ::fchmod(fileno(f), 0600);
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fclose(f) == 0 && ok;
  return ok ? absl::OkStatus() : absl::InternalError("cannot write " + path);
}

constexpr char kDirPrefix[] = "crm-syncd-tls-";

// The process that created a staging directory, from its name
// (crm-syncd-tls-<pid>-XXXXXX); 0 when the name is not of that form.
pid_t CreatorOf(const std::string& name) {
  if (name.rfind(kDirPrefix, 0) != 0) return 0;
  const std::string rest = name.substr(sizeof(kDirPrefix) - 1);
  int pid = 0;
  const size_t dash = rest.find('-');
  if (dash == std::string::npos || !absl::SimpleAtoi(rest.substr(0, dash), &pid)) return 0;
  return pid;
}

}  // namespace

int TlsFiles::RemoveStaleDirs(const std::string& parent) {
  int removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const pid_t pid = CreatorOf(it->path().filename().string());
    if (pid <= 0) continue;
    struct stat st;
    // Ours only (same user), a real directory, and its creator gone: a
    // process of this user with that pid would answer kill(pid, 0).
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
      continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code remove_error;
    if (fs::remove_all(it->path(), remove_error) > 0 && !remove_error) ++removed;
  }
  return removed;
}

absl::StatusOr<std::unique_ptr<TlsFiles>> TlsFiles::Create(const TlsPaths& paths) {
  std::unique_ptr<TlsFiles> files(new TlsFiles());
  const fs::path parent = fs::temp_directory_path();
  files->stale_dirs_removed_ = RemoveStaleDirs(parent.string());
  std::string pattern = (parent / (kDirPrefix + std::to_string(::getpid()) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError("cannot create a private directory for TLS files in " +
                               fs::temp_directory_path().string());
  }
  files->dir_ = pattern;
  files->mtls_ = !paths.client_ca.empty();
  if (auto s = files->Stage(paths); !s.ok()) return s;
  return files;
}

TlsFiles::~TlsFiles() {
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

std::shared_ptr<grpc::ServerCredentials> TlsFiles::Credentials() const {
  const std::string current = dir_ + "/current";
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      current + "/key.pem", current + "/cert.pem", mtls_ ? current + "/client-ca.pem" : "",
      /*refresh_interval_sec=*/1);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (mtls_) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

absl::Status TlsFiles::Reload(const TlsPaths& paths) {
  if (paths.client_ca.empty() == mtls_) {
    return absl::FailedPreconditionError(
        "--tls-client-ca was added or removed: turning mTLS on or off needs a restart");
  }
  return Stage(paths);
}

absl::Status TlsFiles::Stage(const TlsPaths& paths) {
  auto cert_pem = ReadPem(paths.cert, "--tls-cert");
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ReadPem(paths.key, "--tls-key");
  if (!key_pem.ok()) return key_pem.status();
  std::string ca_pem;
  if (mtls_) {
    auto ca = ReadPem(paths.client_ca, "--tls-client-ca");
    if (!ca.ok()) return ca.status();
    ca_pem = std::move(*ca);
    auto bio = MemBio(ca_pem);
    std::unique_ptr<X509, X509Deleter> first(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!first) {
      return absl::InvalidArgumentError("--tls-client-ca " + paths.client_ca +
                                        " holds no PEM certificate");
    }
  }
  auto cert_bio = MemBio(*cert_pem);
  std::unique_ptr<X509, X509Deleter> cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return absl::InvalidArgumentError("--tls-cert " + paths.cert + " holds no PEM certificate");
  }
  auto key_bio = MemBio(*key_pem);
  std::unique_ptr<EVP_PKEY, KeyDeleter> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return absl::InvalidArgumentError("--tls-key " + paths.key +
                                      " holds no PEM private key (or it is encrypted)");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return absl::InvalidArgumentError("--tls-key " + paths.key +
                                      " does not belong to the certificate in --tls-cert " +
                                      paths.cert);
  }

  const int generation = generation_ + 1;
  const std::string gen_name = "gen-" + std::to_string(generation);
  const std::string gen_dir = dir_ + "/" + gen_name;
  if (::mkdir(gen_dir.c_str(), 0700) != 0) {
    return absl::InternalError("cannot create " + gen_dir);
  }
  for (const auto& [name, text] :
       {std::pair<const char*, const std::string*>{"cert.pem", &*cert_pem},
        {"key.pem", &*key_pem},
        {"client-ca.pem", &ca_pem}}) {
    if (std::string(name) == "client-ca.pem" && !mtls_) continue;
    if (auto s = WritePrivate(gen_dir + "/" + name, *text); !s.ok()) return s;
  }
  // Switch `current` in one rename, so the watcher never sees a mix.
  const std::string link_tmp = dir_ + "/current.tmp";
  ::unlink(link_tmp.c_str());
  if (::symlink(gen_name.c_str(), link_tmp.c_str()) != 0 ||
      ::rename(link_tmp.c_str(), (dir_ + "/current").c_str()) != 0) {
    return absl::InternalError("cannot switch to the new TLS files in " + dir_);
  }
  // The generation before the previous one is no longer read by anyone.
  std::error_code ec;
  fs::remove_all(dir_ + "/gen-" + std::to_string(generation - 2), ec);
  generation_ = generation;
  description_ = Describe(cert.get());
  return absl::OkStatus();
}

}  // namespace crmsync::server
