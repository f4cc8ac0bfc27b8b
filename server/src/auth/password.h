// Password hashing: PBKDF2-HMAC-SHA256 (OpenSSL PKCS5_PBKDF2_HMAC) with a
// per-password random 16-byte salt, stored self-describing as
//   pbkdf2-sha256$<iterations>$<salt base64url>$<hash base64url>
// so the iteration count can be raised later without breaking old hashes.
// Thread-safe.
#ifndef CRMSYNC_SERVER_AUTH_PASSWORD_H_
#define CRMSYNC_SERVER_AUTH_PASSWORD_H_

#include <string>

#include "absl/status/statusor.h"
#include "auth/crypto.h"

namespace crmsync::server::auth {

// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
inline constexpr int kDefaultPasswordIterations = 210'000;
// Lowest count HashPassword accepts (tests use it to stay fast).
inline constexpr int kMinPasswordIterations = 1'000;
// Shortest password an admin may set.
inline constexpr size_t kMinPasswordLength = 12;
// Longest password accepted (bounds the hashing work per attempt).
inline constexpr size_t kMaxPasswordLength = 1024;

// Hashes `password` with `iterations` rounds and a fresh salt.
// INVALID_ARGUMENT for an iteration count below kMinPasswordIterations.
absl::StatusOr<std::string> HashPassword(const std::string& password, int iterations,
                                         SecureRandom* random);

// Whether `password` matches `stored` (compared in constant time).
// INVALID_ARGUMENT when `stored` is not in the format above.
absl::StatusOr<bool> VerifyPassword(const std::string& password, const std::string& stored);

// Burns the same work as verifying against a hash of `iterations` rounds,
// so that an unknown user takes as long to refuse as a wrong password.
void DummyVerify(const std::string& password, int iterations);

}  // namespace crmsync::server::auth

#endif  // CRMSYNC_SERVER_AUTH_PASSWORD_H_
