// Password hashing: Argon2id (libargon2) with a per-password random 16-byte
// salt, stored in the PHC string format
//   $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt base64>$<hash base64>
// so the cost can be raised later without breaking old hashes. Hashes of
// the earlier scheme (pbkdf2-sha256$<iterations>$<salt>$<hash>, PBKDF2-
// HMAC-SHA256) still verify; NeedsRehash says when a hash should be replaced
// at the next successful sign-in. Thread-safe.
#ifndef CRMSYNC_SERVER_AUTH_PASSWORD_H_
#define CRMSYNC_SERVER_AUTH_PASSWORD_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "auth/crypto.h"

namespace crmsync::server::auth {

// Argon2id cost. The defaults are OWASP's recommendation (password storage
// cheat sheet): 19 MiB of memory, 2 passes, 1 lane.
struct PasswordParams {
  uint32_t memory_kib = 19 * 1024;
  uint32_t passes = 2;
  uint32_t lanes = 1;
};
// Lowest cost HashPassword accepts (tests use it to stay fast).
inline constexpr uint32_t kMinPasswordMemoryKib = 64;
// Highest cost accepted, in a setting or in a stored hash (a corrupt row
// must not make a sign-in allocate gigabytes).
inline constexpr uint32_t kMaxPasswordMemoryKib = 1024 * 1024;
inline constexpr uint32_t kMaxPasswordPasses = 64;
inline constexpr uint32_t kMaxPasswordLanes = 16;
// Shortest password an admin may set.
inline constexpr size_t kMinPasswordLength = 12;
// Longest password accepted (bounds the hashing work per attempt).
inline constexpr size_t kMaxPasswordLength = 1024;

// Hashes `password` with `params` and a fresh salt. INVALID_ARGUMENT for a
// cost outside the bounds above.
absl::StatusOr<std::string> HashPassword(const std::string& password, const PasswordParams& params,
                                         SecureRandom* random);

// Whether `password` matches `stored` (Argon2id or the older PBKDF2 scheme;
// compared in constant time). INVALID_ARGUMENT when `stored` is in neither
// format or its cost is out of bounds.
absl::StatusOr<bool> VerifyPassword(const std::string& password, const std::string& stored);

// True when `stored` is not Argon2id or costs less than `params` in memory
// or passes: hash the password again after it verified.
bool NeedsRehash(const std::string& stored, const PasswordParams& params);

// Burns the same work as verifying against a hash made with `params`, so
// that an unknown user takes as long to refuse as a wrong password.
void DummyVerify(const std::string& password, const PasswordParams& params);

}  // namespace crmsync::server::auth

#endif  // CRMSYNC_SERVER_AUTH_PASSWORD_H_
