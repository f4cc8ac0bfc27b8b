// Signed access tokens: a compact JWT-like format
//   base64url(header) "." base64url(payload) "." base64url(signature)
// header  {"alg":"EdDSA","kid":"<key id>","typ":"JWT"}
// payload {"ten":tenant id,"sub":user id,"role":Role number,"dev":device id
//          (may be ""),"iat":issued (Unix s),"exp":expiry (Unix s),
//          "jti":token id}
// signed with Ed25519 (OpenSSL EVP_DigestSign). The key id is derived from
// the public key, so a verifier holding several keys (rotation) picks the
// right one and a token signed by an unknown key is refused outright.
#ifndef CRMSYNC_SERVER_AUTH_TOKEN_H_
#define CRMSYNC_SERVER_AUTH_TOKEN_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "crmsync/v1/entities.pb.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace crmsync::server::auth {

struct TokenClaims {
  std::string tenant_id;
  std::string user_id;
  ::crmsync::v1::Role role = ::crmsync::v1::ROLE_UNSPECIFIED;
  // Empty for a token not bound to a device (before RegisterDevice, admin
  // tools).
  std::string device_id;
  int64_t issued_at_s = 0;
  int64_t expires_at_s = 0;
  std::string token_id;
};

// An Ed25519 key: a private key (signs and verifies) or a public key
// (verifies only). Copyable; immutable; thread-safe.
class TokenKey {
 public:
  // From PEM text holding a PKCS#8 private key or a SubjectPublicKeyInfo
  // public key. INVALID_ARGUMENT if it is neither or not Ed25519.
  static absl::StatusOr<TokenKey> FromPem(const std::string& pem);
  // A fresh random private key (development mode only).
  static absl::StatusOr<TokenKey> Generate();

  bool can_sign() const { return can_sign_; }
  // base64url of the first 9 bytes of SHA-256 of the raw public key.
  const std::string& kid() const { return kid_; }
  EVP_PKEY* pkey() const { return pkey_.get(); }
  // The public key as PEM (to hand to other instances as a verify key).
  absl::StatusOr<std::string> PublicPem() const;

 private:
  static absl::StatusOr<TokenKey> FromPkey(EVP_PKEY* pkey, bool can_sign);
  std::shared_ptr<EVP_PKEY> pkey_;
  bool can_sign_ = false;
  std::string kid_;
};

// The signing key plus any older keys still accepted. Thread-safe.
class TokenKeyRing {
 public:
  // `signing` must be able to sign. `verify_only` are accepted too (key
  // rotation); the signing key always verifies.
  TokenKeyRing(TokenKey signing, std::vector<TokenKey> verify_only);

  // Signs `claims`. INTERNAL if OpenSSL fails.
  absl::StatusOr<std::string> Sign(const TokenClaims& claims) const;
  // Checks format, key id, signature and expiry (`now_ms` handed in).
  // UNAUTHENTICATED with a short reason otherwise; the reason never
  // includes the token.
  absl::StatusOr<TokenClaims> Verify(const std::string& token, int64_t now_ms) const;

  const TokenKey& signing_key() const { return signing_; }
  // Every key that verifies, the signing key first.
  const std::vector<TokenKey>& keys() const { return keys_; }

 private:
  TokenKey signing_;
  std::vector<TokenKey> keys_;  // signing_ first
};

// Longest token Verify looks at.
inline constexpr size_t kMaxTokenBytes = 4096;

}  // namespace crmsync::server::auth

#endif  // CRMSYNC_SERVER_AUTH_TOKEN_H_
