// SqlCredentials: refresh tokens and API keys, for both databases.
#include "store/auth_checks.h"
#include "store/sql_roles.h"

namespace crmsync::server {

namespace codec = store_codec;

namespace {

#define CRMSYNC_REFRESH_COLUMNS \
  "token_hash, tenant_id, family_id, user_id, device_id, created_ms, expires_ms, used, revoked"
constexpr SqlStatement kRefreshPut{"cred_refresh_put",
                                   "INSERT INTO refresh_tokens (" CRMSYNC_REFRESH_COLUMNS
                                   ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"};
constexpr SqlStatement kRefreshGet{"cred_refresh_get",
                                   "SELECT " CRMSYNC_REFRESH_COLUMNS
                                   " FROM refresh_tokens WHERE token_hash = $1"};
constexpr SqlStatement kRefreshGetInTenant{
    "cred_refresh_get_in_tenant", "SELECT " CRMSYNC_REFRESH_COLUMNS
                                  " FROM refresh_tokens WHERE tenant_id = $1 AND token_hash = $2"};
#undef CRMSYNC_REFRESH_COLUMNS
constexpr SqlStatement kRefreshMarkUsed{
    "cred_refresh_mark_used",
    "UPDATE refresh_tokens SET used = TRUE WHERE tenant_id = $1 AND token_hash = $2 AND "
    "used = FALSE AND revoked = FALSE"};
constexpr SqlStatement kRefreshRevokeFamily{
    "cred_refresh_revoke_family",
    "UPDATE refresh_tokens SET revoked = TRUE WHERE tenant_id = $1 AND family_id = $2 AND "
    "revoked = FALSE"};
constexpr SqlStatement kRefreshRevokeDevice{
    "cred_refresh_revoke_device",
    "UPDATE refresh_tokens SET revoked = TRUE WHERE tenant_id = $1 AND device_id = $2 AND "
    "revoked = FALSE"};
constexpr SqlStatement kApiKeyPut{
    "cred_api_key_put",
    "INSERT INTO api_keys (tenant_id, key_id, user_id, label, secret_hash, created_ms, revoked) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)"};
constexpr SqlStatement kApiKeyGet{
    "cred_api_key_get",
    "SELECT user_id, label, secret_hash, created_ms, revoked FROM api_keys "
    "WHERE tenant_id = $1 AND key_id = $2"};

constexpr SqlStatement kLoginFailureForget{"cred_login_failure_forget",
                                           "DELETE FROM login_failures WHERE failed_at_ms < $1"};
constexpr SqlStatement kLoginFailurePut{
    "cred_login_failure_put",
    "INSERT INTO login_failures (throttle_key, failed_at_ms) VALUES ($1, $2)"};
// The newest `limit`, returned oldest first.
constexpr SqlStatement kLoginFailuresSince{
    "cred_login_failures_since",
    "SELECT failed_at_ms FROM (SELECT failed_at_ms FROM login_failures WHERE throttle_key = $1 "
    "AND failed_at_ms >= $2 ORDER BY failed_at_ms DESC LIMIT $3) AS newest "
    "ORDER BY failed_at_ms"};
constexpr SqlStatement kLoginFailureClear{"cred_login_failure_clear",
                                          "DELETE FROM login_failures WHERE throttle_key = $1"};

constexpr SqlStatement kRateUsageForget{"cred_rate_usage_forget",
                                        "DELETE FROM rate_usage WHERE at_ms < $1"};
constexpr SqlStatement kRateUsagePut{
    "cred_rate_usage_put",
    "INSERT INTO rate_usage (instance_id, rate_key, used, at_ms) VALUES ($1, $2, $3, $4)"};
constexpr SqlStatement kRateUsageSince{
    "cred_rate_usage_since",
    "SELECT id, instance_id, rate_key, used, at_ms FROM rate_usage "
    "WHERE at_ms >= $1 AND instance_id <> $2 ORDER BY id"};

// Columns: CRMSYNC_REFRESH_COLUMNS.
absl::StatusOr<RefreshTokenRow> ReadRefresh(const SqlRow& row) {
  RefreshTokenRow t;
  t.token_hash = row.Text(0);
  t.tenant_id = row.Text(1);
  t.family_id = row.Text(2);
  t.user_id = row.Text(3);
  t.device_id = row.Text(4);
  t.created_ms = row.Int(5);
  t.expires_ms = row.Int(6);
  t.used = row.Bool(7);
  t.revoked = row.Bool(8);
  return t;
}

}  // namespace

absl::Status SqlCredentials::PutRefreshToken(const RefreshTokenRow& t) {
  if (auto s = codec::CheckRefresh(t); !s.ok()) return s;
  return SqlExec(*db_, "storing a refresh token", kRefreshPut,
                 {t.token_hash, t.tenant_id, t.family_id, t.user_id, t.device_id, t.created_ms,
                  t.expires_ms, SqlParam::Bool(t.used), SqlParam::Bool(t.revoked)})
      .status();
}

absl::StatusOr<std::optional<RefreshTokenRow>> SqlCredentials::GetRefreshToken(
    const std::string& tenant_id, const std::string& token_hash) {
  if (auto s = codec::CheckId(token_hash, "token hash"); !s.ok()) return s;
  if (tenant_id.empty()) {
    return SqlQueryOne<RefreshTokenRow>(*db_, "reading a refresh token", kRefreshGet, {token_hash},
                                        ReadRefresh);
  }
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  return SqlQueryOne<RefreshTokenRow>(*db_, "reading a refresh token", kRefreshGetInTenant,
                                      {tenant_id, token_hash}, ReadRefresh);
}

absl::StatusOr<bool> SqlCredentials::MarkRefreshTokenUsed(const std::string& tenant_id,
                                                          const std::string& token_hash) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(token_hash, "token hash"); !s.ok()) return s;
  // Should the adapter re-run this after a lost connection whose first run
  // did mark the token, the answer is false: the client signs in again,
  // and a token is never exchanged twice.
  auto changed = SqlExec(*db_, "using a refresh token", kRefreshMarkUsed, {tenant_id, token_hash});
  if (!changed.ok()) return changed.status();
  return *changed == 1;
}

absl::StatusOr<int64_t> SqlCredentials::RevokeRefreshFamily(const std::string& tenant_id,
                                                            const std::string& family_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(family_id, "token family"); !s.ok()) return s;
  return SqlExec(*db_, "revoking a token family", kRefreshRevokeFamily, {tenant_id, family_id});
}

absl::StatusOr<int64_t> SqlCredentials::RevokeDeviceRefreshTokens(const std::string& tenant_id,
                                                                  const std::string& device_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(device_id, "device id"); !s.ok()) return s;
  return SqlExec(*db_, "revoking a device's tokens", kRefreshRevokeDevice, {tenant_id, device_id});
}

absl::Status SqlCredentials::PutApiKey(const ApiKeyRow& key) {
  if (auto s = codec::CheckApiKey(key); !s.ok()) return s;
  return SqlExec(*db_, "storing an API key", kApiKeyPut,
                 {key.tenant_id, key.key_id, key.user_id, key.label, key.secret_hash,
                  key.created_ms, SqlParam::Bool(key.revoked)})
      .status();
}

absl::StatusOr<std::optional<ApiKeyRow>> SqlCredentials::GetApiKey(const std::string& tenant_id,
                                                                   const std::string& key_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(key_id, "key id"); !s.ok()) return s;
  return SqlQueryOne<ApiKeyRow>(*db_, "reading an API key", kApiKeyGet, {tenant_id, key_id},
                                [&](const SqlRow& row) -> absl::StatusOr<ApiKeyRow> {
                                  return ApiKeyRow{tenant_id,   key_id,      row.Text(0),
                                                   row.Text(1), row.Text(2), row.Int(3),
                                                   row.Bool(4)};
                                });
}

absl::Status SqlCredentials::RecordLoginFailure(const std::string& key, int64_t at_ms,
                                                int64_t forget_before_ms) {
  if (auto s = codec::CheckId(key, "throttle key"); !s.ok()) return s;
  // Forgetting is idempotent; should the insert run twice after a lost
  // connection, the key counts one failure more: stricter, never looser.
  return db_->Run("recording a failed sign-in", [&](SqlSession& session) -> absl::Status {
    if (auto forgot = session.Exec(kLoginFailureForget, {forget_before_ms}); !forgot.ok()) {
      return forgot.status();
    }
    return session.Exec(kLoginFailurePut, {key, at_ms}).status();
  });
}

absl::StatusOr<std::vector<int64_t>> SqlCredentials::LoginFailuresSince(const std::string& key,
                                                                        int64_t since_ms,
                                                                        int limit) {
  if (auto s = codec::CheckId(key, "throttle key"); !s.ok()) return s;
  if (limit <= 0) return absl::InvalidArgumentError("limit must be positive");
  return SqlQueryAll<int64_t>(
      *db_, "reading failed sign-ins", kLoginFailuresSince,
      {key, since_ms, static_cast<int64_t>(limit)},
      [](const SqlRow& row) -> absl::StatusOr<int64_t> { return row.Int(0); });
}

absl::Status SqlCredentials::ClearLoginFailures(const std::string& key) {
  if (auto s = codec::CheckId(key, "throttle key"); !s.ok()) return s;
  return SqlExec(*db_, "clearing failed sign-ins", kLoginFailureClear, {key}).status();
}

absl::Status SqlCredentials::ReportRateUsage(
    const std::string& instance, int64_t at_ms,
    const std::vector<std::pair<std::string, int64_t>>& usage, int64_t forget_before_ms) {
  if (auto s = codec::CheckId(instance, "instance id"); !s.ok()) return s;
  for (const auto& [key, used] : usage) {
    if (auto s = codec::CheckId(key, "rate key"); !s.ok()) return s;
  }
  // One relaxed transaction: a report lost in a crash only lets a device
  // make a few more calls.
  return db_->Run(
      "reporting request-rate usage",
      [&](SqlSession& session) -> absl::Status {
        if (auto forgot = session.Exec(kRateUsageForget, {forget_before_ms}); !forgot.ok()) {
          return forgot.status();
        }
        for (const auto& [key, used] : usage) {
          if (auto put = session.Exec(kRateUsagePut, {instance, key, used, at_ms}); !put.ok()) {
            return put.status();
          }
        }
        return absl::OkStatus();
      },
      Durability::kRelaxed);
}

absl::StatusOr<std::vector<Credentials::RateUsageRow>> SqlCredentials::RateUsageSince(
    const std::string& instance, int64_t since_ms) {
  if (auto s = codec::CheckId(instance, "instance id"); !s.ok()) return s;
  return SqlQueryAll<RateUsageRow>(
      *db_, "reading request-rate usage", kRateUsageSince, {since_ms, instance},
      [](const SqlRow& row) -> absl::StatusOr<RateUsageRow> {
        return RateUsageRow{row.Int(0), row.Text(1), row.Text(2), row.Int(3), row.Int(4)};
      });
}

}  // namespace crmsync::server
