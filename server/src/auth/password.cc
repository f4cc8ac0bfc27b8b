#include "auth/password.h"

#include <argon2.h>
#include <openssl/evp.h>

#include <cstdio>
#include <vector>

namespace crmsync::server::auth {

namespace {

constexpr char kArgon2Prefix[] = "$argon2id$";
constexpr char kPbkdf2Scheme[] = "pbkdf2-sha256";
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
// Upper bound on a stored PBKDF2 count, so a corrupt row cannot stall a worker.
constexpr long kMaxPbkdf2Iterations = 10'000'000;

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

bool InBounds(const PasswordParams& p) {
  return p.memory_kib >= kMinPasswordMemoryKib && p.memory_kib <= kMaxPasswordMemoryKib &&
         p.passes >= 1 && p.passes <= kMaxPasswordPasses && p.lanes >= 1 &&
         p.lanes <= kMaxPasswordLanes && p.memory_kib >= 8 * p.lanes;
}

// The cost of an Argon2id PHC string; false if it is not one.
bool ParseArgon2(const std::string& stored, PasswordParams* out) {
  if (stored.rfind(kArgon2Prefix, 0) != 0) return false;
  unsigned version = 0, m = 0, t = 0, p = 0;
  int consumed = 0;
  if (std::sscanf(stored.c_str(), "$argon2id$v=%u$m=%u,t=%u,p=%u$%n", &version, &m, &t, &p,
                  &consumed) != 4 ||
      consumed == 0 || version != ARGON2_VERSION_13) {
    return false;
  }
  *out = PasswordParams{m, t, p};
  return true;
}

absl::StatusOr<bool> VerifyPbkdf2(const std::string& password, const std::string& stored) {
  const std::vector<std::string> parts = Split(stored, '$');
  if (parts.size() != 4 || parts[0] != kPbkdf2Scheme || parts[1].empty() || parts[1].size() > 9 ||
      parts[1].find_first_not_of("0123456789") != std::string::npos) {
    return absl::InvalidArgumentError("stored password hash is in no known format");
  }
  const long iterations = std::stol(parts[1]);
  if (iterations < 1 || iterations > kMaxPbkdf2Iterations) {
    return absl::InvalidArgumentError("stored password hash has an invalid iteration count");
  }
  auto salt = Base64UrlDecode(parts[2]);
  auto expected = Base64UrlDecode(parts[3]);
  if (!salt.ok() || !expected.ok() || salt->empty() || expected->size() != kHashBytes) {
    return absl::InvalidArgumentError("stored password hash has a malformed salt or hash");
  }
  std::string actual(kHashBytes, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt->data()),
                        static_cast<int>(salt->size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(actual.size()),
                        reinterpret_cast<unsigned char*>(actual.data())) != 1) {
    return absl::InternalError("PKCS5_PBKDF2_HMAC failed: " + OpenSslErrorText());
  }
  return ConstantTimeEquals(actual, *expected);
}

}  // namespace

absl::StatusOr<std::string> HashPassword(const std::string& password, const PasswordParams& params,
                                         SecureRandom* random) {
  if (!InBounds(params)) {
    return absl::InvalidArgumentError(
        "Argon2id cost out of bounds: memory " + std::to_string(params.memory_kib) + " KiB (" +
        std::to_string(kMinPasswordMemoryKib) + ".." + std::to_string(kMaxPasswordMemoryKib) +
        "), passes " + std::to_string(params.passes) + " (1.." +
        std::to_string(kMaxPasswordPasses) + "), lanes " + std::to_string(params.lanes) + " (1.." +
        std::to_string(kMaxPasswordLanes) + ")");
  }
  auto salt = random->Bytes(kSaltBytes);
  if (!salt.ok()) return salt.status();
  std::string encoded(argon2_encodedlen(params.passes, params.memory_kib, params.lanes, kSaltBytes,
                                        kHashBytes, Argon2_id),
                      '\0');
  int rc = argon2id_hash_encoded(params.passes, params.memory_kib, params.lanes, password.data(),
                                 password.size(), salt->data(), salt->size(), kHashBytes,
                                 encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    return absl::InternalError(std::string("argon2id failed: ") + argon2_error_message(rc));
  }
  encoded.resize(encoded.find('\0'));
  return encoded;
}

absl::StatusOr<bool> VerifyPassword(const std::string& password, const std::string& stored) {
  PasswordParams params;
  if (!ParseArgon2(stored, &params)) return VerifyPbkdf2(password, stored);
  if (!InBounds(params)) {
    return absl::InvalidArgumentError("stored password hash has an out-of-bounds cost");
  }
  int rc = argon2id_verify(stored.c_str(), password.data(), password.size());
  if (rc == ARGON2_OK) return true;
  if (rc == ARGON2_VERIFY_MISMATCH) return false;
  if (rc == ARGON2_MEMORY_ALLOCATION_ERROR) {
    return absl::ResourceExhaustedError("no memory to verify the password; retry later");
  }
  return absl::InvalidArgumentError(std::string("stored password hash is malformed: ") +
                                    argon2_error_message(rc));
}

bool NeedsRehash(const std::string& stored, const PasswordParams& params) {
  PasswordParams have;
  if (!ParseArgon2(stored, &have)) return true;
  return have.memory_kib < params.memory_kib || have.passes < params.passes;
}

void DummyVerify(const std::string& password, const PasswordParams& params) {
  if (!InBounds(params)) return;
  const std::string salt(kSaltBytes, 's');
  std::string out(kHashBytes, '\0');
  argon2id_hash_raw(params.passes, params.memory_kib, params.lanes, password.data(),
                    password.size(), salt.data(), salt.size(), out.data(), out.size());
}

}  // namespace crmsync::server::auth
