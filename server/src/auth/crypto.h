// Small OpenSSL-backed helpers of the authentication code: base64url,
// random bytes and constant-time comparison. OpenSSL errors become
// absl::Status here and never leave this layer as error codes.
#ifndef CRMSYNC_SERVER_AUTH_CRYPTO_H_
#define CRMSYNC_SERVER_AUTH_CRYPTO_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace crmsync::server::auth {

// Unpadded base64url (RFC 4648 section 5).
std::string Base64UrlEncode(const std::string& bytes);
// INVALID_ARGUMENT on characters outside the alphabet, padding or an
// impossible length.
absl::StatusOr<std::string> Base64UrlDecode(const std::string& text);

// A source of cryptographically secure random bytes, handed in so tests
// can make them deterministic. Thread-safe.
class SecureRandom {
 public:
  virtual ~SecureRandom() = default;
  // `n` random bytes; INTERNAL if the generator fails.
  virtual absl::StatusOr<std::string> Bytes(size_t n) = 0;
};

// OpenSSL's RAND_bytes.
class OpenSslRandom final : public SecureRandom {
 public:
  absl::StatusOr<std::string> Bytes(size_t n) override;
};

// Constant-time equality (CRYPTO_memcmp); false for different lengths.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

// `n` random bytes as base64url text (an opaque secret or id).
absl::StatusOr<std::string> RandomToken(SecureRandom* random, size_t n);

// The last OpenSSL error as text, for messages (clears the error queue).
std::string OpenSslErrorText();

}  // namespace crmsync::server::auth

#endif  // CRMSYNC_SERVER_AUTH_CRYPTO_H_
