// libFuzzer target: the server's parsers of credentials and cursors.
//   * access tokens: TokenKeyRing::Verify and TokenAuthenticator (the
//     "authorization: Bearer ..." metadata), on a key ring with a signing
//     key and an older verify-only key, over the demo tenant of
//     tests/fuzz/server_world.h (plus a revoked device);
//   * store-terminal API keys (crmk.<id>.<secret>) through
//     AuthHandler::ExchangeApiKey, and refresh tokens through
//     AuthHandler::Refresh, against one valid key and one valid refresh
//     token issued when the world is seeded;
//   * Pull cursors (ParseCursor/DecodeCursor/EncodeCursor) and base64url.
//
// Input (fuzz_input.h): byte 0 selects the part (byte0 % 6), the rest is
// read as raw text or with a FuzzedDataProvider:
//   0  raw text as an access token and as authorization metadata
//   1  claims built from the input, signed, checked, then one edit of the
//      signed token (and a token signed by a key the server does not know)
//   2  raw text as a cursor      3  raw text as base64url
//   4  an API key: raw text, or one edit of the valid key
//   5  a refresh token: raw text, or one edit of the valid one, twice
// Invariants: nothing verifies unless it is exactly a token the server's
// key signed (Sign of the returned claims gives the same text); signed
// claims come back unchanged until they expire; authentication takes role,
// team and store from the store and refuses revoked devices; only the
// valid API key and refresh token are accepted, a refresh token only once
// (its reuse revokes the new one too); cursors and base64url decode to one
// value that encodes back to the same text; every refusal is one of the
// documented codes.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "auth/auth_handler.h"
#include "auth/crypto.h"
#include "auth/token.h"
#include "auth/token_authenticator.h"
#include "fuzz_check.h"
#include "fuzz_input.h"
#include "logic/cursor.h"
#include "server_world.h"

namespace v1 = ::crmsync::v1;
namespace auth = ::crmsync::server::auth;
using crmsync::fuzz::ServerWorld;

namespace {

// Keys for fuzzing only (not secret, used nowhere else).
constexpr char kSigningPem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIKVQV1t7l4JpA59l/K2LFzv5nCMCfSJZJoNqEcdqotQI\n"
    "-----END PRIVATE KEY-----\n";
constexpr char kOldPem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIAzcWVGnxsgTP9XejORuwkea8278EyOYD9O0Y6o/zu18\n"
    "-----END PRIVATE KEY-----\n";
constexpr char kForeignPem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEICjo5JaOcOkdhzu14wQMU1IN75uaUOMzUuIQaOiS3X07\n"
    "-----END PRIVATE KEY-----\n";

// CRMSYNC_FUZZ_VERBOSE=1 prints the outcome of each call (for triage).
bool Verbose() {
  static const bool verbose = std::getenv("CRMSYNC_FUZZ_VERBOSE") != nullptr;
  return verbose;
}

auth::TokenKey Key(const char* pem) {
  auto key = auth::TokenKey::FromPem(pem);
  if (!key.ok()) {
    std::fprintf(stderr, "fuzz_token: bad key: %s\n", key.status().ToString().c_str());
    std::abort();
  }
  return *key;
}

// Deterministic "secure" random bytes, so seeded keys and tokens are the
// same in every run.
class CountingRandom final : public auth::SecureRandom {
 public:
  absl::StatusOr<std::string> Bytes(size_t n) override {
    std::string out;
    while (out.size() < n) {
      uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      for (int i = 0; i < 8 && out.size() < n; ++i) out.push_back(static_cast<char>(z >> (8 * i)));
    }
    return out;
  }
  void Reset() { state_ = 0; }

 private:
  uint64_t state_ = 0;
};

// The process-wide state: keys, the store, and the valid credentials.
struct TokenWorld {
  auth::TokenKeyRing ring{Key(kSigningPem), {Key(kOldPem)}};
  auth::TokenKeyRing old_ring{Key(kOldPem), {}};
  auth::TokenKeyRing foreign{Key(kForeignPem), {}};
  CountingRandom random;
  std::string api_key;
  std::string refresh_token;
  std::unique_ptr<ServerWorld> server;

  TokenWorld() {
    server = std::make_unique<ServerWorld>([this](ServerWorld* w) {
      crmsync::server::DeviceRow revoked;
      revoked.tenant_id = crmsync::fuzz::kTenant;
      revoked.device.set_id("dev-bob-lost");
      revoked.device.set_user_id("u-bob");
      revoked.device.set_status(v1::DEVICE_STATUS_REVOKED);
      Must(w->store()->directory().PutDevice(revoked), "revoked device");
      auth::AuditLog audit(&w->store()->audit(), &w->clock());
      auth::AuthHandler handler(&w->store()->directory(), &w->store()->credentials(), &ring,
                                &w->clock(), &random, &audit, Options());
      std::string key_id;
      auto key = handler.CreateApiKey(crmsync::fuzz::kTenant, "u-till-paris", "till", &key_id);
      Must(key.status(), "api key");
      api_key = *key;
      v1::ExchangeApiKeyRequest req;
      req.set_tenant("demo");
      req.set_api_key(api_key);
      req.set_device_id("dev-till");
      v1::ExchangeApiKeyResponse resp;
      Must(handler.ExchangeApiKey(req, "fuzz", &resp), "exchange");
      refresh_token = resp.tokens().refresh_token();
    });
  }

  static auth::AuthOptions Options() {
    auth::AuthOptions o;
    o.password.memory_kib = 64;
    o.password.passes = 1;
    return o;
  }

  static void Must(const absl::Status& s, const char* what) {
    if (s.ok()) return;
    std::fprintf(stderr, "fuzz_token set-up: %s: %s\n", what, s.ToString().c_str());
    std::abort();
  }
};

TokenWorld* World() {
  static TokenWorld* const world = new TokenWorld();
  return world;
}

// Valid UTF-8 from fuzz bytes (claims come from the store, which holds
// only valid UTF-8; the JSON encoder refuses anything else).
std::string Utf8(std::string raw) {
  std::string out;
  for (unsigned char c : raw) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\xc3\xa9";  // é
    }
  }
  return out;
}

// Printable ASCII, like every id the server puts in a token (device ids
// pass PlausibleId, user and tenant ids come from the store).
std::string Printable(const std::string& raw) {
  std::string out;
  for (unsigned char c : raw) out.push_back(static_cast<char>(0x21 + c % 94));
  return out;
}

bool SameClaims(const auth::TokenClaims& a, const auth::TokenClaims& b) {
  return a.tenant_id == b.tenant_id && a.user_id == b.user_id && a.role == b.role &&
         a.device_id == b.device_id && a.issued_at_s == b.issued_at_s &&
         a.expires_at_s == b.expires_at_s && a.token_id == b.token_id;
}

// One edit of `text`: a replaced, inserted or removed character, or a cut.
std::string Edit(const std::string& text, FuzzedDataProvider* in) {
  std::string out = text;
  const size_t pos = in->ConsumeIntegralInRange<size_t>(0, out.size());
  const char c = in->ConsumeIntegral<char>();
  switch (in->ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      if (pos < out.size()) out[pos] = c;
      break;
    case 1: out.insert(out.begin() + static_cast<std::ptrdiff_t>(pos), c); break;
    case 2:
      if (pos < out.size()) out.erase(pos, 1);
      break;
    default: out.resize(pos); break;
  }
  return out;
}

class Session {
 public:
  explicit Session(TokenWorld* w) : w_(w), s_(w->server.get()) {}

  // Whatever Verify accepts must be a token the server's keys signed.
  void CheckVerify(const std::string& token, int64_t now_ms) {
    auto claims = w_->ring.Verify(token, now_ms);
    if (!claims.ok()) {
      FUZZ_CHECK(claims.status().code() == absl::StatusCode::kUnauthenticated,
                 "Verify failed with " + claims.status().ToString());
      // A credential has no spaces; input with spaces may coincide with the
      // refusal's own words (e.g. "access token: not three dot-separated").
      const bool credential_like =
          token.size() >= 8 && token.find_first_of(" \t\n") == std::string::npos;
      FUZZ_CHECK(!credential_like || claims.status().message().find(token) == std::string::npos,
                 "a refusal quotes the token");
      return;
    }
    auto again = w_->ring.Sign(*claims);
    auto old = w_->old_ring.Sign(*claims);
    FUZZ_CHECK((again.ok() && *again == token) || (old.ok() && *old == token),
               "Verify accepted a token the server did not sign: " + token);
    FUZZ_CHECK(now_ms / 1000 < claims->expires_at_s, "an expired token verified");
  }

  // The metadata path: "authorization: Bearer <token>" and variants.
  void CheckAuthenticate(const std::string& value) {
    auth::TokenAuthenticator authn(&s_->store()->directory(), &w_->ring, &s_->clock(),
                                   auth::TokenAuthenticatorOptions{});
    crmsync::server::CallMetadata md{{"authorization", value}};
    auto who = authn.Authenticate(md);
    if (!who.ok()) {
      const auto code = who.status().code();
      FUZZ_CHECK(
          code == absl::StatusCode::kUnauthenticated || code == absl::StatusCode::kPermissionDenied,
          "Authenticate failed with " + who.status().ToString());
      return;
    }
    // Accepted: a signed token, for a live user and an active device of
    // that user; role, team and store come from the store.
    FUZZ_CHECK(value.size() > 7, "authenticated without a token");
    auto claims = w_->ring.Verify(value.substr(7), s_->clock().NowMs());
    FUZZ_CHECK(claims.ok(), "authenticated with a token that does not verify");
    auto user = s_->store()->directory().GetUser(who->tenant_id, who->user_id);
    FUZZ_CHECK(user.ok() && user->has_value(), "authenticated an unknown user");
    FUZZ_CHECK(who->role == (*user)->user.role() && who->team_id == (*user)->user.team_id() &&
                   who->store_id == (*user)->user.store_id(),
               "the principal's role, team or store does not come from the store");
    auto device = s_->store()->directory().GetDevice(who->tenant_id, who->device_id);
    FUZZ_CHECK(device.ok() && device->has_value() && (*device)->device.user_id() == who->user_id &&
                   (*device)->device.status() != v1::DEVICE_STATUS_REVOKED,
               "authenticated a device that is not the user's active device");
  }

  void RawToken(const std::string& text) {
    CheckVerify(text, s_->clock().NowMs());
    CheckAuthenticate(text);
    CheckAuthenticate("Bearer " + text);
  }

  void SignedClaims(FuzzedDataProvider* in) {
    static const std::vector<std::string> kUsers = {"u-admin",      "u-maria", "u-alice", "u-bob",
                                                    "u-till-paris", "u-olga",  "nobody",  ""};
    static const std::vector<std::string> kDevices = {
        "dev-alice", "dev-bob", "dev-bob-lost", "dev-till", "dev-olga", "", "dev-ghost"};
    auto pick = [&](const std::vector<std::string>& v) {
      return in->ConsumeBool() ? v[in->ConsumeIntegralInRange<size_t>(0, v.size() - 1)]
                               : Printable(in->ConsumeRandomLengthString(40));
    };
    const int64_t now_ms = s_->clock().NowMs();
    auth::TokenClaims c;
    c.tenant_id =
        in->ConsumeBool() ? crmsync::fuzz::kTenant : pick({crmsync::fuzz::kOtherTenant, ""});
    c.user_id = pick(kUsers);
    c.role = in->ConsumeIntegralInRange<int>(0, 7) != 7
                 ? static_cast<v1::Role>(in->ConsumeIntegralInRange<int>(1, 4))
                 : static_cast<v1::Role>(in->ConsumeIntegralInRange<int>(-2, 9));
    c.device_id = pick(kDevices);
    c.issued_at_s = now_ms / 1000;
    switch (in->ConsumeIntegralInRange<int>(0, 3)) {
      case 0: c.expires_at_s = in->ConsumeIntegral<int64_t>(); break;
      case 1: c.expires_at_s = now_ms / 1000 - in->ConsumeIntegralInRange<int64_t>(0, 3600); break;
      default: c.expires_at_s = now_ms / 1000 + in->ConsumeIntegralInRange<int64_t>(1, 3600); break;
    }
    c.token_id = Utf8(in->ConsumeRandomLengthString(24));
    const bool use_old = in->ConsumeIntegralInRange<int>(0, 7) == 0;
    auto token = (use_old ? w_->old_ring : w_->ring).Sign(c);
    FUZZ_CHECK(token.ok(), "Sign failed: " + token.status().ToString());

    auto claims = w_->ring.Verify(*token, now_ms);
    if (Verbose()) std::fprintf(stderr, "signed -> %s\n", claims.status().ToString().c_str());
    const bool valid = !c.tenant_id.empty() && !c.user_id.empty() && v1::Role_IsValid(c.role) &&
                       c.expires_at_s > now_ms / 1000;
    if (valid) {
      FUZZ_CHECK(claims.ok(),
                 "a token the server signed does not verify: " + claims.status().ToString());
      FUZZ_CHECK(SameClaims(*claims, c), "claims changed through Sign and Verify");
    } else {
      FUZZ_CHECK(!claims.ok(), "a signed token with invalid or expired claims verified");
    }
    CheckVerify(*token, now_ms);
    CheckAuthenticate("Bearer " + *token);

    // One edit of the signed token never verifies as something else.
    const std::string edited = Edit(*token, in);
    CheckVerify(edited, now_ms);
    CheckAuthenticate("Bearer " + edited);
    // A key the server does not hold, alone or behind the server's header.
    auto foreign = w_->foreign.Sign(c);
    FUZZ_CHECK(foreign.ok(), "Sign failed");
    FUZZ_CHECK(!w_->ring.Verify(*foreign, now_ms).ok(), "a foreign key's token verified");
    const std::string spliced =
        token->substr(0, token->find('.')) + foreign->substr(foreign->find('.'));
    FUZZ_CHECK(!w_->ring.Verify(spliced, now_ms).ok(), "a foreign signature verified");
  }

  void Cursor(const std::string& text) {
    auto p = crmsync::server::ParseCursor(text);
    auto seq = crmsync::server::DecodeCursor(text);
    FUZZ_CHECK(p.ok() == seq.ok(), "ParseCursor and DecodeCursor disagree");
    if (!p.ok()) {
      FUZZ_CHECK(p.status().code() == absl::StatusCode::kInvalidArgument, "cursor refusal code");
      return;
    }
    FUZZ_CHECK(*seq == p->seq && p->seq >= 0 && p->base >= 0 && p->base <= p->seq,
               "cursor decodes to an impossible position");
    FUZZ_CHECK(p->started >= 0 && (p->started == 0 || (p->base == 0 && p->seq > 0)),
               "a start position on a cursor that is not a bootstrap's page");
    const std::string again =
        crmsync::server::EncodeCursor(p->seq, p->base, p->history, p->started);
    auto round = crmsync::server::ParseCursor(again);
    FUZZ_CHECK(round.ok() && round->seq == p->seq && round->base == p->base &&
                   round->history == p->history && round->started == p->started,
               "an encoded cursor does not decode to itself");
    if (text.empty()) {
      FUZZ_CHECK(p->seq == 0 && p->base == 0, "the empty cursor is not a bootstrap");
    } else if (text.find(".0", 2) == std::string::npos) {
      FUZZ_CHECK(again == text, "a canonical cursor does not encode back to itself: " + text);
    }
  }

  void Base64(const std::string& text) {
    auto decoded = auth::Base64UrlDecode(text);
    if (decoded.ok()) {
      FUZZ_CHECK(auth::Base64UrlEncode(*decoded) == text,
                 "base64url text decodes to bytes that encode differently");
    }
    auto round = auth::Base64UrlDecode(auth::Base64UrlEncode(text));
    FUZZ_CHECK(round.ok() && *round == text, "base64url does not round-trip");
  }

  void ApiKey(FuzzedDataProvider* in) {
    v1::ExchangeApiKeyRequest req;
    req.set_tenant(in->ConsumeIntegralInRange<int>(0, 7) == 0 ? in->ConsumeRandomLengthString(12)
                                                              : "demo");
    req.set_device_id(in->ConsumeIntegralInRange<int>(0, 7) == 0 ? in->ConsumeRandomLengthString(12)
                                                                 : "dev-till");
    req.set_api_key(in->ConsumeBool() ? Edit(w_->api_key, in)
                                      : in->ConsumeRemainingBytesAsString());
    auth::AuditLog audit(&s_->store()->audit(), &s_->clock());
    w_->random.Reset();
    auth::AuthHandler handler(&s_->store()->directory(), &s_->store()->credentials(), &w_->ring,
                              &s_->clock(), &w_->random, &audit, TokenWorld::Options());
    v1::ExchangeApiKeyResponse resp;
    absl::Status st = handler.ExchangeApiKey(req, "fuzz", &resp);
    dirty_ = true;
    if (Verbose()) std::fprintf(stderr, "api key -> %s\n", st.ToString().c_str());
    const bool genuine = req.api_key() == w_->api_key && req.tenant() == "demo";
    if (!st.ok()) {
      const auto code = st.code();
      FUZZ_CHECK(code == absl::StatusCode::kUnauthenticated ||
                     code == absl::StatusCode::kInvalidArgument ||
                     code == absl::StatusCode::kPermissionDenied ||
                     code == absl::StatusCode::kResourceExhausted,
                 "ExchangeApiKey failed with " + st.ToString());
      FUZZ_CHECK(!genuine || req.device_id() != "dev-till",
                 "the valid API key was refused: " + st.ToString());
      FUZZ_CHECK(st.message().find(req.api_key()) == std::string::npos || req.api_key().size() < 8,
                 "a refusal quotes the API key");
      return;
    }
    FUZZ_CHECK(genuine, "an API key that was not issued was accepted: " + req.api_key());
    auto claims = w_->ring.Verify(resp.tokens().access_token(), s_->clock().NowMs());
    FUZZ_CHECK(claims.ok() && claims->user_id == "u-till-paris" &&
                   claims->role == v1::ROLE_STORE_TERMINAL && claims->device_id == req.device_id(),
               "the API key's access token is not the till's");
  }

  void Refresh(FuzzedDataProvider* in) {
    const std::string token =
        in->ConsumeBool() ? Edit(w_->refresh_token, in) : in->ConsumeRemainingBytesAsString();
    auth::AuditLog audit(&s_->store()->audit(), &s_->clock());
    w_->random.Reset();
    auth::AuthHandler handler(&s_->store()->directory(), &s_->store()->credentials(), &w_->ring,
                              &s_->clock(), &w_->random, &audit, TokenWorld::Options());
    v1::RefreshRequest req;
    req.set_refresh_token(token);
    v1::RefreshResponse resp;
    absl::Status st = handler.Refresh(req, "fuzz", &resp);
    dirty_ = true;
    if (Verbose()) std::fprintf(stderr, "refresh -> %s\n", st.ToString().c_str());
    if (token != w_->refresh_token) {
      FUZZ_CHECK(st.code() == absl::StatusCode::kUnauthenticated,
                 "an unknown refresh token got " + st.ToString());
      return;
    }
    FUZZ_CHECK(st.ok(), "the valid refresh token was refused: " + st.ToString());
    FUZZ_CHECK(w_->ring.Verify(resp.tokens().access_token(), s_->clock().NowMs()).ok(),
               "a refreshed access token does not verify");
    // Reuse: refused, and the family (the new token too) is revoked.
    v1::RefreshResponse again;
    FUZZ_CHECK(handler.Refresh(req, "fuzz", &again).code() == absl::StatusCode::kUnauthenticated,
               "a refresh token was accepted twice");
    v1::RefreshRequest next;
    next.set_refresh_token(resp.tokens().refresh_token());
    FUZZ_CHECK(handler.Refresh(next, "fuzz", &again).code() == absl::StatusCode::kUnauthenticated,
               "the family of a reused refresh token was not revoked");
  }

  bool dirty() const { return dirty_; }

 private:
  TokenWorld* w_;
  ServerWorld* s_;
  bool dirty_ = false;
};

bool g_dirty = true;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  World();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  TokenWorld* w = World();
  // Only API keys and refresh tokens write to the store; reset after them.
  if (g_dirty) w->server->Reset();
  Session session(w);
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  FuzzedDataProvider in(data + 1, size - 1);
  switch (data[0] % 6) {
    case crmsync::fuzz::kTokenRaw: session.RawToken(rest); break;
    case crmsync::fuzz::kTokenSigned: session.SignedClaims(&in); break;
    case crmsync::fuzz::kTokenCursor: session.Cursor(rest); break;
    case crmsync::fuzz::kTokenBase64: session.Base64(rest); break;
    case crmsync::fuzz::kTokenApiKey: session.ApiKey(&in); break;
    default: session.Refresh(&in); break;
  }
  g_dirty = session.dirty();
  return 0;
}
