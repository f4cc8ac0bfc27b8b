#include "auth/token.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <nlohmann/json.hpp>

#include "auth/crypto.h"

namespace crmsync::server::auth {

namespace {

using nlohmann::json;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

absl::Status Unauthenticated(const std::string& why) {
  return absl::UnauthenticatedError("invalid access token: " + why);
}

std::string RawSha256(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(digest), len);
}

}  // namespace

absl::StatusOr<TokenKey> TokenKey::FromPkey(EVP_PKEY* pkey, bool can_sign) {
  TokenKey key;
  key.pkey_ = std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
  if (EVP_PKEY_id(pkey) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError(
        "token key is not an Ed25519 key (make one with "
        "`openssl genpkey -algorithm ed25519`)");
  }
  unsigned char raw[64];
  size_t raw_len = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1) {
    return absl::InternalError("cannot read the token public key: " + OpenSslErrorText());
  }
  key.can_sign_ = can_sign;
  key.kid_ =
      Base64UrlEncode(RawSha256(std::string(reinterpret_cast<char*>(raw), raw_len)).substr(0, 9));
  return key;
}

absl::StatusOr<TokenKey> TokenKey::FromPem(const std::string& pem) {
  {
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)) {
      return FromPkey(pkey, /*can_sign=*/true);
    }
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr)) {
    OpenSslErrorText();  // the failed private-key attempt left an error queued
    return FromPkey(pkey, /*can_sign=*/false);
  }
  return absl::InvalidArgumentError("not a PEM private or public key: " + OpenSslErrorText());
}

absl::StatusOr<TokenKey> TokenKey::Generate() {
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
  bool ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &pkey) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return absl::InternalError("cannot generate an Ed25519 key: " + OpenSslErrorText());
  return FromPkey(pkey, /*can_sign=*/true);
}

absl::StatusOr<std::string> TokenKey::PublicPem() const {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1) {
    return absl::InternalError("cannot write the public key: " + OpenSslErrorText());
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

TokenKeyRing::TokenKeyRing(TokenKey signing, std::vector<TokenKey> verify_only)
    : signing_(std::move(signing)) {
  keys_.push_back(signing_);
  for (auto& k : verify_only) keys_.push_back(std::move(k));
}

absl::StatusOr<std::string> TokenKeyRing::Sign(const TokenClaims& c) const {
  if (!signing_.can_sign()) return absl::FailedPreconditionError("no private token key");
  json header = {{"alg", "EdDSA"}, {"kid", signing_.kid()}, {"typ", "JWT"}};
  json payload = {{"ten", c.tenant_id}, {"sub", c.user_id},     {"role", int(c.role)},
                  {"dev", c.device_id}, {"iat", c.issued_at_s}, {"exp", c.expires_at_s},
                  {"jti", c.token_id}};
  const std::string signing_input =
      Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(payload.dump());
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  unsigned char sig[64];
  size_t sig_len = sizeof sig;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, signing_.pkey()) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &sig_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return absl::InternalError("signing a token failed: " + OpenSslErrorText());
  }
  return signing_input + "." + Base64UrlEncode(std::string(reinterpret_cast<char*>(sig), sig_len));
}

absl::StatusOr<TokenClaims> TokenKeyRing::Verify(const std::string& token, int64_t now_ms) const {
  if (token.empty() || token.size() > kMaxTokenBytes) return Unauthenticated("bad length");
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string::npos || token.find('.', dot2 + 1) != std::string::npos) {
    return Unauthenticated("not three dot-separated parts");
  }
  auto header_text = Base64UrlDecode(token.substr(0, dot1));
  auto payload_text = Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto sig = Base64UrlDecode(token.substr(dot2 + 1));
  if (!header_text.ok() || !payload_text.ok() || !sig.ok()) return Unauthenticated("bad encoding");

  json header = json::parse(*header_text, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object() || !header.contains("alg") ||
      !header["alg"].is_string() || header["alg"] != "EdDSA" || !header.contains("kid") ||
      !header["kid"].is_string()) {
    return Unauthenticated("bad header");
  }
  const std::string kid = header["kid"].get<std::string>();
  const TokenKey* key = nullptr;
  for (const TokenKey& k : keys_) {
    if (k.kid() == kid) key = &k;
  }
  if (key == nullptr) return Unauthenticated("signed by an unknown key");

  const std::string signing_input = token.substr(0, dot2);
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key->pkey()) != 1) {
    return absl::InternalError("token verification setup failed: " + OpenSslErrorText());
  }
  if (EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                       reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size()) != 1) {
    OpenSslErrorText();
    return Unauthenticated("bad signature");
  }

  json p = json::parse(*payload_text, nullptr, /*allow_exceptions=*/false);
  if (p.is_discarded() || !p.is_object()) return Unauthenticated("bad payload");
  auto str = [&](const char* k) { return p.contains(k) && p[k].is_string(); };
  auto num = [&](const char* k) { return p.contains(k) && p[k].is_number_integer(); };
  if (!str("ten") || !str("sub") || !str("dev") || !str("jti") || !num("role") || !num("iat") ||
      !num("exp")) {
    return Unauthenticated("missing claims");
  }
  TokenClaims c;
  c.tenant_id = p["ten"].get<std::string>();
  c.user_id = p["sub"].get<std::string>();
  c.device_id = p["dev"].get<std::string>();
  c.token_id = p["jti"].get<std::string>();
  const int role = p["role"].get<int>();
  if (!::crmsync::v1::Role_IsValid(role)) return Unauthenticated("bad role");
  c.role = static_cast<::crmsync::v1::Role>(role);
  c.issued_at_s = p["iat"].get<int64_t>();
  c.expires_at_s = p["exp"].get<int64_t>();
  if (c.tenant_id.empty() || c.user_id.empty()) return Unauthenticated("missing claims");
  // In seconds: expires_at_s * 1000 overflows for far-off expiries.
  if (now_ms / 1000 >= c.expires_at_s) return Unauthenticated("expired; refresh it");
  return c;
}

}  // namespace crmsync::server::auth
