#include "auth/auth_handler.h"

#include <spdlog/spdlog.h>

#include "auth/password.h"
#include "logic/directive.h"
#include "logic/hashing.h"
#include "store/store_codec.h"

namespace crmsync::server::auth {

namespace {

constexpr char kBadCredentials[] = "wrong tenant, username or password";
constexpr char kRefreshPrefix[] = "rt.";
constexpr char kApiKeyPrefix[] = "crmk.";
// API keys are at most this long.
constexpr size_t kMaxSecretBytes = 256;
// Refresh tokens: the prefix, 43 characters of secret, a dot and a tenant
// id of up to 256 bytes in base64url (344 characters).
constexpr size_t kMaxRefreshTokenBytes = 400;

// The tenant a refresh token names ("rt.<secret>.<tenant, base64url>"), or
// "" for a token without one (issued by an earlier version: looked up in
// every tenant). A tenant part that is not base64url of a valid id is an
// error: no such token was issued.
absl::StatusOr<std::string> RefreshTokenTenant(const std::string& token) {
  const size_t dot = token.find('.', sizeof(kRefreshPrefix) - 1);
  if (token.rfind(kRefreshPrefix, 0) != 0 || dot == std::string::npos) return "";
  auto tenant = Base64UrlDecode(token.substr(dot + 1));
  if (!tenant.ok() || (!tenant->empty() && !store_codec::CheckId(*tenant, "tenant id").ok())) {
    return absl::UnauthenticatedError("unknown refresh token");
  }
  return *tenant;
}

google::protobuf::Timestamp Seconds(int64_t s) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(s);
  return ts;
}

bool IsRevoked(const v1::Device& d) {
  return d.status() == v1::DEVICE_STATUS_REVOKED || d.status() == v1::DEVICE_STATUS_WIPED;
}

}  // namespace

bool PlausibleId(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (unsigned char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

absl::Status RevokedDeviceStatus(const std::string& device_id) {
  return WithDirective(
      absl::PermissionDeniedError("device " + device_id + " was revoked; erase its local data"),
      kDirectiveWipe);
}

AuthHandler::AuthHandler(Directory* directory, Credentials* credentials, const TokenKeyRing* keys,
                         Clock* clock, SecureRandom* random, AuditLog* audit, AuthOptions options)
    : directory_(directory),
      credentials_(credentials),
      keys_(keys),
      clock_(clock),
      random_(random),
      audit_(audit),
      options_(options),
      throttle_(options.max_failed_logins, options.failed_login_window_ms, credentials) {}

absl::Status AuthHandler::IssueTokens(const std::string& tenant_id, const v1::User& user,
                                      const std::string& device_id, std::string family_id,
                                      v1::TokenPair* out) {
  const int64_t now_ms = clock_->NowMs();
  const int64_t now_s = now_ms / 1000;
  auto jti = RandomToken(random_, 12);
  if (!jti.ok()) return jti.status();
  TokenClaims claims{
      tenant_id, user.id(), user.role(), device_id, now_s, now_s + options_.access_ttl_s, *jti};
  auto access = keys_->Sign(claims);
  if (!access.ok()) return access.status();

  auto secret = RandomToken(random_, 32);
  if (!secret.ok()) return secret.status();
  // The tenant rides along (after the secret, hashed with it) so the token
  // is found in its tenant's shard on Citus; altering it alters the hash.
  const std::string refresh = kRefreshPrefix + *secret + "." + Base64UrlEncode(tenant_id);
  if (family_id.empty()) {
    auto family = RandomToken(random_, 12);
    if (!family.ok()) return family.status();
    family_id = *family;
  }
  RefreshTokenRow row;
  row.tenant_id = tenant_id;
  row.token_hash = Sha256Hex(refresh);
  row.family_id = family_id;
  row.user_id = user.id();
  row.device_id = device_id;
  row.created_ms = now_ms;
  row.expires_ms = now_ms + options_.refresh_ttl_s * 1000;
  if (auto s = credentials_->PutRefreshToken(row); !s.ok()) return s;

  out->set_access_token(*access);
  *out->mutable_access_expires_at() = Seconds(claims.expires_at_s);
  out->set_refresh_token(refresh);
  *out->mutable_refresh_expires_at() = Seconds(row.expires_ms / 1000);
  return absl::OkStatus();
}

absl::Status AuthHandler::CheckDevice(const std::string& tenant_id, const std::string& user_id,
                                      const std::string& device_id, bool register_if_missing,
                                      const v1::RegisterDeviceRequest* details) {
  auto device = directory_->GetDevice(tenant_id, device_id);
  if (!device.ok()) return device.status();
  if (*device) {
    const v1::Device& d = (*device)->device;
    if (d.user_id() != user_id) {
      return absl::PermissionDeniedError("device " + device_id + " is registered to another user");
    }
    if (IsRevoked(d)) return RevokedDeviceStatus(device_id);
    if (details == nullptr) return absl::OkStatus();
    // Same user re-registering: refresh the descriptive fields only.
    DeviceRow row = **device;
    row.device.set_platform(details->platform());
    row.device.set_model(details->model());
    row.device.set_os_version(details->os_version());
    row.device.set_sdk_version(details->sdk_version());
    row.device.set_app_version(details->app_version());
    return directory_->PutDevice(row);
  }
  if (!register_if_missing) {
    return absl::FailedPreconditionError(
        "device " + device_id +
        " is not registered: sign in without a device id and call RegisterDevice");
  }
  DeviceRow row;
  row.tenant_id = tenant_id;
  row.device.set_id(device_id);
  row.device.set_user_id(user_id);
  row.device.set_status(v1::DEVICE_STATUS_ACTIVE);
  if (details) {
    row.device.set_platform(details->platform());
    row.device.set_model(details->model());
    row.device.set_os_version(details->os_version());
    row.device.set_sdk_version(details->sdk_version());
    row.device.set_app_version(details->app_version());
  }
  *row.device.mutable_registered_at() = store_codec::FromUnixMs(clock_->NowMs());
  return directory_->PutDevice(row);
}

absl::Status AuthHandler::Login(const v1::LoginRequest& req, const std::string& peer,
                                v1::LoginResponse* response) {
  if (!PlausibleId(req.tenant()) || !PlausibleId(req.username()) ||
      req.password().size() > kMaxPasswordLength) {
    return absl::UnauthenticatedError(kBadCredentials);
  }
  if (!req.device_id().empty() && !PlausibleId(req.device_id())) {
    return absl::InvalidArgumentError("device_id must be 1-128 printable characters");
  }
  const std::string throttle_key = req.tenant() + "\n" + req.username();
  const int64_t now_ms = clock_->NowMs();
  if (auto s = throttle_.Check(throttle_key, now_ms); !s.ok()) return s;

  auto tenant = directory_->GetTenantBySlug(req.tenant());
  if (!tenant.ok()) return tenant.status();
  std::optional<UserRow> user;
  if (*tenant) {
    auto found = directory_->GetUserByName((*tenant)->id, req.username());
    if (!found.ok()) return found.status();
    user = std::move(*found);
  }
  bool good = false;
  if (user && !user->user.disabled() && !user->password_hash.empty()) {
    auto match = VerifyPassword(req.password(), user->password_hash);
    if (!match.ok()) return absl::InternalError("stored password hash of a user is corrupt");
    good = *match;
  } else {
    DummyVerify(req.password(), options_.password);
  }
  if (!good) {
    throttle_.RecordFailure(throttle_key, now_ms);
    if (*tenant) {
      audit_->RecordBestEffort(AuditEvent((*tenant)->id, "login_failed",
                                          user ? user->user.id() : "", req.device_id(),
                                          "user:" + req.username(), "", peer));
    }
    return absl::UnauthenticatedError(kBadCredentials);
  }
  throttle_.RecordSuccess(throttle_key);
  const std::string& tenant_id = (*tenant)->id;
  if (NeedsRehash(user->password_hash, options_.password)) RehashPassword(*user, req.password());
  if (!req.device_id().empty()) {
    if (auto s = CheckDevice(tenant_id, user->user.id(), req.device_id(), false, nullptr);
        !s.ok()) {
      return s;
    }
  }
  if (auto s = IssueTokens(tenant_id, user->user, req.device_id(), "", response->mutable_tokens());
      !s.ok()) {
    return s;
  }
  *response->mutable_user() = user->user;
  audit_->RecordBestEffort(AuditEvent(tenant_id, "login", user->user.id(), req.device_id(),
                                      "user:" + user->user.id(), "password", peer));
  return absl::OkStatus();
}

absl::Status AuthHandler::Refresh(const v1::RefreshRequest& req, const std::string& peer,
                                  v1::RefreshResponse* response) {
  const std::string& token = req.refresh_token();
  if (token.empty() || token.size() > kMaxRefreshTokenBytes) {
    return absl::UnauthenticatedError("unknown refresh token");
  }
  auto tenant = RefreshTokenTenant(token);
  if (!tenant.ok()) return tenant.status();
  auto row = credentials_->GetRefreshToken(*tenant, Sha256Hex(token));
  if (!row.ok()) return row.status();
  if (!*row) return absl::UnauthenticatedError("unknown refresh token");
  const RefreshTokenRow& t = **row;
  if (t.revoked) {
    return absl::UnauthenticatedError("refresh token was revoked; sign in again");
  }
  auto marked = credentials_->MarkRefreshTokenUsed(t.tenant_id, t.token_hash);
  if (!marked.ok()) return marked.status();
  if (!*marked) {
    // A rotated token came back: either the client retried after a lost
    // reply or someone copied it. Either way the family is no longer
    // trustworthy.
    auto revoked = credentials_->RevokeRefreshFamily(t.tenant_id, t.family_id);
    if (!revoked.ok()) return revoked.status();
    audit_->RecordBestEffort(AuditEvent(t.tenant_id, "refresh_token_reused", t.user_id, t.device_id,
                                        "user:" + t.user_id, "token family revoked", peer));
    return absl::UnauthenticatedError(
        "refresh token was already used; its session was revoked: sign in again");
  }
  if (clock_->NowMs() >= t.expires_ms) {
    return absl::UnauthenticatedError("refresh token expired; sign in again");
  }
  auto user = directory_->GetUser(t.tenant_id, t.user_id);
  if (!user.ok()) return user.status();
  if (!*user || (*user)->user.disabled()) {
    return absl::UnauthenticatedError("the account is no longer valid");
  }
  if (!t.device_id.empty()) {
    if (auto s = CheckDevice(t.tenant_id, t.user_id, t.device_id, false, nullptr); !s.ok()) {
      return s;
    }
  }
  return IssueTokens(t.tenant_id, (*user)->user, t.device_id, t.family_id,
                     response->mutable_tokens());
}

absl::Status AuthHandler::Logout(const Principal& who, const v1::LogoutRequest& req,
                                 const std::string& peer) {
  const std::string& token = req.refresh_token();
  if (token.empty() || token.size() > kMaxRefreshTokenBytes) {
    return absl::InvalidArgumentError("refresh_token is required");
  }
  auto row = credentials_->GetRefreshToken(who.tenant_id, Sha256Hex(token));
  if (!row.ok()) return row.status();
  // Another user's token is treated as unknown: logout reveals nothing.
  if (!*row || (*row)->tenant_id != who.tenant_id || (*row)->user_id != who.user_id) {
    return absl::OkStatus();
  }
  auto revoked = credentials_->RevokeRefreshFamily(who.tenant_id, (*row)->family_id);
  if (!revoked.ok()) return revoked.status();
  audit_->RecordBestEffort(AuditEvent(who.tenant_id, "logout", who.user_id, who.device_id,
                                      "user:" + who.user_id, "", peer));
  return absl::OkStatus();
}

absl::Status AuthHandler::RegisterDevice(const Principal& who, const v1::RegisterDeviceRequest& req,
                                         const std::string& peer,
                                         v1::RegisterDeviceResponse* response) {
  if (!PlausibleId(req.device_id())) {
    return absl::InvalidArgumentError("device_id must be 1-128 printable characters");
  }
  for (const std::string* text :
       {&req.platform(), &req.model(), &req.os_version(), &req.sdk_version(), &req.app_version()}) {
    if (text->size() > 128)
      return absl::InvalidArgumentError("device descriptions are limited to 128 bytes");
    if (auto s = store_codec::CheckText(*text, "device description"); !s.ok()) return s;
  }
  auto existing = directory_->GetDevice(who.tenant_id, req.device_id());
  if (!existing.ok()) return existing.status();
  const bool is_new = !existing->has_value();
  if (auto s = CheckDevice(who.tenant_id, who.user_id, req.device_id(), true, &req); !s.ok()) {
    if (s.code() == absl::StatusCode::kPermissionDenied) {
      audit_->RecordBestEffort(AuditEvent(who.tenant_id, "device_register_denied", who.user_id,
                                          who.device_id, "device:" + req.device_id(),
                                          std::string(s.message()), peer));
    }
    return s;
  }
  auto user = directory_->GetUser(who.tenant_id, who.user_id);
  if (!user.ok()) return user.status();
  if (!*user) return absl::UnauthenticatedError("the account is no longer valid");
  if (auto s = IssueTokens(who.tenant_id, (*user)->user, req.device_id(), "",
                           response->mutable_tokens());
      !s.ok()) {
    return s;
  }
  auto device = directory_->GetDevice(who.tenant_id, req.device_id());
  if (!device.ok()) return device.status();
  if (*device) *response->mutable_device() = (*device)->device;
  if (is_new) {
    audit_->RecordBestEffort(AuditEvent(who.tenant_id, "device_registered", who.user_id,
                                        req.device_id(), "device:" + req.device_id(),
                                        req.platform(), peer));
  }
  return absl::OkStatus();
}

absl::Status AuthHandler::ExchangeApiKey(const v1::ExchangeApiKeyRequest& req,
                                         const std::string& peer,
                                         v1::ExchangeApiKeyResponse* response) {
  constexpr char kBadKey[] = "wrong tenant or API key";
  const std::string& key = req.api_key();
  if (!PlausibleId(req.tenant()) || key.size() > kMaxSecretBytes ||
      key.rfind(kApiKeyPrefix, 0) != 0) {
    return absl::UnauthenticatedError(kBadKey);
  }
  if (!PlausibleId(req.device_id())) {
    return absl::InvalidArgumentError(
        "device_id (the terminal's id, or the integration instance's) is required");
  }
  const std::string rest = key.substr(sizeof(kApiKeyPrefix) - 1);
  const size_t dot = rest.find('.');
  if (dot == std::string::npos || dot == 0) return absl::UnauthenticatedError(kBadKey);
  const std::string key_id = rest.substr(0, dot);
  const std::string secret = rest.substr(dot + 1);
  const std::string throttle_key = req.tenant() + "\napi-key:" + key_id;
  const int64_t now_ms = clock_->NowMs();
  if (auto s = throttle_.Check(throttle_key, now_ms); !s.ok()) return s;

  auto tenant = directory_->GetTenantBySlug(req.tenant());
  if (!tenant.ok()) return tenant.status();
  std::optional<ApiKeyRow> row;
  if (*tenant && PlausibleId(key_id)) {
    auto found = credentials_->GetApiKey((*tenant)->id, key_id);
    if (!found.ok()) return found.status();
    row = std::move(*found);
  }
  std::optional<UserRow> user;
  if (row && !row->revoked && ConstantTimeEquals(Sha256Hex(secret), row->secret_hash)) {
    auto found = directory_->GetUser((*tenant)->id, row->user_id);
    if (!found.ok()) return found.status();
    if (*found && !(*found)->user.disabled() &&
        ((*found)->user.role() == v1::ROLE_STORE_TERMINAL ||
         (*found)->user.role() == v1::ROLE_INTEGRATION)) {
      user = std::move(*found);
    }
  }
  if (!user) {
    throttle_.RecordFailure(throttle_key, now_ms);
    if (*tenant) {
      audit_->RecordBestEffort(AuditEvent((*tenant)->id, "api_key_failed", "", req.device_id(),
                                          "api_key:" + key_id, "", peer));
    }
    return absl::UnauthenticatedError(kBadKey);
  }
  throttle_.RecordSuccess(throttle_key);
  const std::string& tenant_id = (*tenant)->id;
  if (auto s = CheckDevice(tenant_id, user->user.id(), req.device_id(), true, nullptr); !s.ok()) {
    return s;
  }
  if (auto s = IssueTokens(tenant_id, user->user, req.device_id(), "", response->mutable_tokens());
      !s.ok()) {
    return s;
  }
  *response->mutable_user() = user->user;
  audit_->RecordBestEffort(AuditEvent(tenant_id, "login", user->user.id(), req.device_id(),
                                      "user:" + user->user.id(), "api_key:" + key_id, peer));
  return absl::OkStatus();
}

absl::StatusOr<std::string> AuthHandler::CreateApiKey(const std::string& tenant_id,
                                                      const std::string& user_id,
                                                      const std::string& label,
                                                      std::string* key_id) {
  auto id = RandomToken(random_, 9);
  if (!id.ok()) return id.status();
  auto secret = RandomToken(random_, 32);
  if (!secret.ok()) return secret.status();
  // Key ids are base64url and may contain no '.', which separates the parts.
  ApiKeyRow row{tenant_id, *id, user_id, label, Sha256Hex(*secret), clock_->NowMs(), false};
  if (auto s = credentials_->PutApiKey(row); !s.ok()) return s;
  *key_id = *id;
  return kApiKeyPrefix + *id + "." + *secret;
}

absl::StatusOr<std::string> AuthHandler::HashNewPassword(const std::string& password) {
  if (password.size() < kMinPasswordLength) {
    return absl::InvalidArgumentError("passwords need at least " +
                                      std::to_string(kMinPasswordLength) + " characters");
  }
  if (password.size() > kMaxPasswordLength) {
    return absl::InvalidArgumentError("passwords are limited to " +
                                      std::to_string(kMaxPasswordLength) + " bytes");
  }
  return HashPassword(password, options_.password, random_);
}

void AuthHandler::RehashPassword(UserRow user, const std::string& password) {
  auto hash = HashPassword(password, options_.password, random_);
  if (!hash.ok()) {
    spdlog::warn("could not re-hash the password of user {}: {}", user.user.id(),
                 std::string(hash.status().message()));
    return;
  }
  const std::string old_scheme = user.password_hash.substr(0, user.password_hash.find('$', 1));
  user.password_hash = *hash;
  if (auto s = directory_->PutUser(user); !s.ok()) {
    spdlog::warn("could not store the re-hashed password of user {}: {}", user.user.id(),
                 std::string(s.message()));
    return;
  }
  spdlog::info("re-hashed the password of user {} ({} to Argon2id m={} KiB t={})", user.user.id(),
               old_scheme.empty() ? "older hash" : old_scheme, options_.password.memory_kib,
               options_.password.passes);
}

}  // namespace crmsync::server::auth
