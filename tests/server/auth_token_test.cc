// Unit tests of access tokens, passwords, the login throttle and the rate
// limiter (no store, no gRPC).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <algorithm>

#include "auth/crypto.h"
#include "auth/login_throttle.h"
#include "auth/password.h"
#include "auth/token.h"
#include "logic/rate_limiter.h"

namespace crmsync::server::auth {
namespace {

constexpr int64_t kNowMs = 1'800'000'000'000;

TokenClaims Claims() {
  return TokenClaims{"t-acme",  "u-alice",     v1::ROLE_SALES_REP,
                     "phone-1", kNowMs / 1000, kNowMs / 1000 + 900,
                     "jti-1"};
}

TokenKey NewKey() {
  auto key = TokenKey::Generate();
  EXPECT_TRUE(key.ok());
  return *key;
}

TEST(TokenTest, SignedTokenVerifiesWithItsClaims) {
  TokenKeyRing ring(NewKey(), {});
  auto token = ring.Sign(Claims());
  ASSERT_TRUE(token.ok());
  auto claims = ring.Verify(*token, kNowMs);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->tenant_id, "t-acme");
  EXPECT_EQ(claims->user_id, "u-alice");
  EXPECT_EQ(claims->role, v1::ROLE_SALES_REP);
  EXPECT_EQ(claims->device_id, "phone-1");
  EXPECT_EQ(claims->token_id, "jti-1");
}

TEST(TokenTest, TamperingWithAnyByteIsRejected) {
  TokenKeyRing ring(NewKey(), {});
  const std::string token = *ring.Sign(Claims());
  for (size_t i = 0; i < token.size(); ++i) {
    std::string bad = token;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    if (bad == token) continue;
    EXPECT_EQ(ring.Verify(bad, kNowMs).status().code(), absl::StatusCode::kUnauthenticated)
        << "byte " << i;
  }
  EXPECT_FALSE(ring.Verify(token + "A", kNowMs).ok());
  EXPECT_FALSE(ring.Verify(token.substr(0, token.size() - 1), kNowMs).ok());
}

TEST(TokenTest, ExpiryUsesTheHandedInClock) {
  TokenKeyRing ring(NewKey(), {});
  const std::string token = *ring.Sign(Claims());
  EXPECT_TRUE(ring.Verify(token, kNowMs + 899'999).ok());
  auto late = ring.Verify(token, kNowMs + 900'000);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(late.status().message().find("expired"), std::string::npos);
}

TEST(TokenTest, ExpiryAtTheEndsOfTheRangeDoesNotOverflow) {
  TokenKeyRing ring(NewKey(), {});
  TokenClaims never = Claims();
  never.expires_at_s = INT64_MAX;
  EXPECT_TRUE(ring.Verify(*ring.Sign(never), kNowMs).ok());
  TokenClaims long_ago = Claims();
  long_ago.expires_at_s = INT64_MIN;
  EXPECT_EQ(ring.Verify(*ring.Sign(long_ago), kNowMs).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(TokenTest, UnknownKeyIdIsRejected) {
  TokenKeyRing signer(NewKey(), {});
  TokenKeyRing verifier(NewKey(), {});
  EXPECT_EQ(verifier.Verify(*signer.Sign(Claims()), kNowMs).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(TokenTest, RotationKeepsOldTokensValidWhileTheOldKeyIsConfigured) {
  TokenKey old_key = NewKey();
  TokenKeyRing before(old_key, {});
  const std::string old_token = *before.Sign(Claims());
  // The old key's public half as a verify key, as --token-verify-key takes it.
  auto pub = TokenKey::FromPem(*old_key.PublicPem());
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_FALSE(pub->can_sign());
  EXPECT_EQ(pub->kid(), old_key.kid());
  TokenKeyRing during(NewKey(), {*pub});
  EXPECT_TRUE(during.Verify(old_token, kNowMs).ok());
  EXPECT_TRUE(during.Verify(*during.Sign(Claims()), kNowMs).ok());
  TokenKeyRing after(during.signing_key(), {});
  EXPECT_FALSE(after.Verify(old_token, kNowMs).ok()) << "dropped key no longer verifies";
}

TEST(TokenTest, NonEd25519AndGarbageKeysAreRefused) {
  EXPECT_EQ(TokenKey::FromPem("garbage").status().code(), absl::StatusCode::kInvalidArgument);
  // An EC key (P-256), as make-dev-certs.sh makes for TLS.
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  ASSERT_NE(pkey, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  const std::string ec(data, static_cast<size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  auto key = TokenKey::FromPem(ec);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(key.status().message().find("Ed25519"), std::string::npos) << key.status();
}

TEST(Base64UrlTest, RoundTripsAndRejectsNonCanonicalText) {
  for (const std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00"}) {
    auto back = Base64UrlDecode(Base64UrlEncode(s));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
  EXPECT_FALSE(Base64UrlDecode("Zm9v=").ok());
  EXPECT_FALSE(Base64UrlDecode("Zh").ok()) << "non-zero padding bits";
  EXPECT_FALSE(Base64UrlDecode("A").ok());
}

TEST(PasswordTest, HashIsArgon2idSelfDescribingSaltedAndVerifies) {
  OpenSslRandom random;
  const PasswordParams cheap{64, 1, 1};
  auto a = HashPassword("correct horse battery", cheap, &random);
  auto b = HashPassword("correct horse battery", cheap, &random);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->rfind("$argon2id$v=19$m=64,t=1,p=1$", 0), 0u) << *a;
  EXPECT_NE(*a, *b) << "per-password salt";
  EXPECT_TRUE(*VerifyPassword("correct horse battery", *a));
  EXPECT_FALSE(*VerifyPassword("correct horse batterY", *a));
  EXPECT_FALSE(*VerifyPassword("", *a));
  EXPECT_FALSE(VerifyPassword("x", "md5$abc").ok());
  EXPECT_FALSE(HashPassword("x", {8, 1, 1}, &random).ok()) << "too little memory";
  EXPECT_FALSE(HashPassword("x", {64, 0, 1}, &random).ok()) << "no passes";
}

TEST(PasswordTest, StoredHashesWithAbsurdCostsAreRefusedWithoutRunningThem) {
  OpenSslRandom random;
  auto good = HashPassword("correct horse battery", {64, 1, 1}, &random);
  ASSERT_TRUE(good.ok());
  std::string huge = *good;
  huge.replace(huge.find("m=64"), 4, "m=4000000000");
  EXPECT_EQ(VerifyPassword("correct horse battery", huge).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(VerifyPassword("x", "pbkdf2-sha256$99999999999$AA$AA").ok());
  EXPECT_FALSE(VerifyPassword("x", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$").ok());
}

TEST(PasswordTest, OlderPbkdf2HashesStillVerifyAndNeedARehash) {
  // pbkdf2-sha256, 1000 rounds, salt "0123456789abcdef", password "hunter2hunter2".
  const std::string salt = "0123456789abcdef";
  std::string hash(32, '\0');
  PKCS5_PBKDF2_HMAC("hunter2hunter2", 14, reinterpret_cast<const unsigned char*>(salt.data()), 16,
                    1000, EVP_sha256(), 32, reinterpret_cast<unsigned char*>(hash.data()));
  const std::string legacy =
      "pbkdf2-sha256$1000$" + Base64UrlEncode(salt) + "$" + Base64UrlEncode(hash);
  EXPECT_TRUE(*VerifyPassword("hunter2hunter2", legacy));
  EXPECT_FALSE(*VerifyPassword("hunter2hunter3", legacy));

  const PasswordParams today;
  EXPECT_TRUE(NeedsRehash(legacy, today));
  OpenSslRandom random;
  auto cheaper = HashPassword("hunter2hunter2", {64, 1, 1}, &random);
  ASSERT_TRUE(cheaper.ok());
  EXPECT_TRUE(NeedsRehash(*cheaper, today)) << "less memory than today's setting";
  EXPECT_FALSE(NeedsRehash(*cheaper, {64, 1, 1}));
  EXPECT_TRUE(NeedsRehash(*cheaper, {64, 2, 1})) << "fewer passes";
}

TEST(PasswordTest, DefaultCostIsOwaspsArgon2idRecommendation) {
  const PasswordParams defaults;
  EXPECT_GE(defaults.memory_kib, 19u * 1024);
  EXPECT_GE(defaults.passes, 2u);
  EXPECT_EQ(defaults.lanes, 1u);
}

TEST(LoginThrottleTest, RefusesAfterMaxFailuresUntilTheWindowPasses) {
  LoginThrottle throttle(3, 60'000);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(throttle.Check("acme\nalice", kNowMs).ok());
    throttle.RecordFailure("acme\nalice", kNowMs + i);
  }
  EXPECT_EQ(throttle.Check("acme\nalice", kNowMs + 10).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(throttle.Check("acme\nbob", kNowMs + 10).ok());
  EXPECT_TRUE(throttle.Check("acme\nalice", kNowMs + 60'001).ok());
  throttle.RecordSuccess("acme\nalice");
  EXPECT_TRUE(throttle.Check("acme\nalice", kNowMs + 10).ok());
}

TEST(RateLimiterTest, TokenBucketRefillsAtTheConfiguredRate) {
  RateLimiter limiter(10, 2);  // 10/s, burst 2
  EXPECT_TRUE(limiter.Take("d", kNowMs).ok());
  EXPECT_TRUE(limiter.Take("d", kNowMs).ok());
  absl::Status refused = limiter.Take("d", kNowMs);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("retry in 100 ms"), std::string::npos) << refused.message();
  EXPECT_TRUE(limiter.Take("other", kNowMs).ok());
  EXPECT_TRUE(limiter.Take("d", kNowMs + 100).ok());
  EXPECT_FALSE(limiter.Take("d", kNowMs + 100).ok());
}

TEST(RateLimiterTest, UsageIsReportedOnceAndChargesFromOtherInstancesAreDebts) {
  RateLimiter limiter(10, 4);  // 10/s, burst 4
  limiter.EnableUsageReports();
  ASSERT_TRUE(limiter.Take("d", kNowMs).ok());
  ASSERT_TRUE(limiter.Take("d", kNowMs).ok());
  ASSERT_TRUE(limiter.Take("e", kNowMs).ok());
  auto usage = limiter.TakeUsage();
  std::sort(usage.begin(), usage.end());
  EXPECT_EQ(usage, (std::vector<std::pair<std::string, int64_t>>{{"d", 2}, {"e", 1}}));
  EXPECT_TRUE(limiter.TakeUsage().empty()) << "reported once";

  // Another instance served "d" 5 calls: 2 left - 5 = a debt of 3 tokens,
  // paid back at 10/s: refused until 400 ms later.
  limiter.Charge("d", 5, kNowMs);
  EXPECT_EQ(limiter.Take("d", kNowMs + 300).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(limiter.Take("d", kNowMs + 400).ok());
  // A debt is bounded by the burst: a huge report cannot lock a device out
  // for long.
  limiter.Charge("e", 1'000'000, kNowMs);
  EXPECT_TRUE(limiter.Take("e", kNowMs + 500).ok());
  // A device this instance never saw starts with what the others used.
  limiter.Charge("f", 3, kNowMs);
  EXPECT_TRUE(limiter.Take("f", kNowMs).ok());
  EXPECT_FALSE(limiter.Take("f", kNowMs).ok());
  auto after = limiter.TakeUsage();
  std::sort(after.begin(), after.end());
  EXPECT_EQ(after, (std::vector<std::pair<std::string, int64_t>>{{"d", 1}, {"e", 1}, {"f", 1}}))
      << "only what this instance let through is reported, never the charges";
}

}  // namespace
}  // namespace crmsync::server::auth
