#include "auth/password.h"

#include <openssl/evp.h>

#include <vector>

namespace crmsync::server::auth {

namespace {

constexpr char kScheme[] = "pbkdf2-sha256";
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
// Upper bound on a stored count, so a corrupt row cannot stall a worker.
constexpr long kMaxIterations = 10'000'000;

absl::StatusOr<std::string> Derive(const std::string& password, const std::string& salt,
                                   int iterations) {
  std::string out(kHashBytes, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(out.size()),
                        reinterpret_cast<unsigned char*>(out.data())) != 1) {
    return absl::InternalError("PKCS5_PBKDF2_HMAC failed: " + OpenSslErrorText());
  }
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) return parts;
    start = pos + 1;
  }
}

}  // namespace

absl::StatusOr<std::string> HashPassword(const std::string& password, int iterations,
                                         SecureRandom* random) {
  if (iterations < kMinPasswordIterations || iterations > kMaxIterations) {
    return absl::InvalidArgumentError("password iteration count " + std::to_string(iterations) +
                                      " is outside " + std::to_string(kMinPasswordIterations) +
                                      ".." + std::to_string(kMaxIterations));
  }
  auto salt = random->Bytes(kSaltBytes);
  if (!salt.ok()) return salt.status();
  auto hash = Derive(password, *salt, iterations);
  if (!hash.ok()) return hash.status();
  return std::string(kScheme) + "$" + std::to_string(iterations) + "$" + Base64UrlEncode(*salt) +
         "$" + Base64UrlEncode(*hash);
}

absl::StatusOr<bool> VerifyPassword(const std::string& password, const std::string& stored) {
  const std::vector<std::string> parts = Split(stored, '$');
  if (parts.size() != 4 || parts[0] != kScheme || parts[1].empty() || parts[1].size() > 9 ||
      parts[1].find_first_not_of("0123456789") != std::string::npos) {
    return absl::InvalidArgumentError("stored password hash is not in pbkdf2-sha256 format");
  }
  const long iterations = std::stol(parts[1]);
  if (iterations < 1 || iterations > kMaxIterations) {
    return absl::InvalidArgumentError("stored password hash has an invalid iteration count");
  }
  auto salt = Base64UrlDecode(parts[2]);
  auto expected = Base64UrlDecode(parts[3]);
  if (!salt.ok() || !expected.ok() || salt->empty() || expected->size() != kHashBytes) {
    return absl::InvalidArgumentError("stored password hash has a malformed salt or hash");
  }
  auto actual = Derive(password, *salt, static_cast<int>(iterations));
  if (!actual.ok()) return actual.status();
  return ConstantTimeEquals(*actual, *expected);
}

void DummyVerify(const std::string& password, int iterations) {
  Derive(password, std::string(kSaltBytes, 's'), iterations).IgnoreError();
}

}  // namespace crmsync::server::auth
