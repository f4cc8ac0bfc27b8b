// PostgresStore: refresh tokens, API keys, the audit log and erasure
// scrubbing (schema migration 2). Each call is autocommit; parameterised
// SQL only (exec_params).
#include <pqxx/binarystring>
#include <pqxx/result>
#include <pqxx/transaction_base>

#include "store/auth_checks.h"
#include "store/postgres_store.h"

namespace crmsync::server {

namespace codec = store_codec;

namespace {

std::string Bytes(const pqxx::field& field) { return pqxx::binarystring(field).str(); }

constexpr char kRefreshColumns[] =
    "token_hash, tenant_id, family_id, user_id, device_id, created_ms, expires_ms, used, revoked";

RefreshTokenRow ReadRefresh(const pqxx::row& r) {
  RefreshTokenRow t;
  t.token_hash = r[0].as<std::string>();
  t.tenant_id = r[1].as<std::string>();
  t.family_id = r[2].as<std::string>();
  t.user_id = r[3].as<std::string>();
  t.device_id = r[4].as<std::string>();
  t.created_ms = r[5].as<int64_t>();
  t.expires_ms = r[6].as<int64_t>();
  t.used = r[7].as<bool>();
  t.revoked = r[8].as<bool>();
  return t;
}

}  // namespace

absl::Status PostgresStore::PutRefreshToken(const RefreshTokenRow& t) {
  if (auto s = codec::CheckRefresh(t); !s.ok()) return s;
  return Run("storing a refresh token", [&](pqxx::transaction_base& tx) {
    tx.exec_params0(std::string("INSERT INTO refresh_tokens (") + kRefreshColumns +
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    t.token_hash, t.tenant_id, t.family_id, t.user_id, t.device_id, t.created_ms,
                    t.expires_ms, t.used, t.revoked);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<RefreshTokenRow>> PostgresStore::GetRefreshToken(
    const std::string& token_hash) {
  if (auto s = codec::CheckId(token_hash, "token hash"); !s.ok()) return s;
  std::optional<RefreshTokenRow> out;
  absl::Status status = Run("reading a refresh token", [&](pqxx::transaction_base& tx) {
    pqxx::result r = tx.exec_params(
        std::string("SELECT ") + kRefreshColumns + " FROM refresh_tokens WHERE token_hash = $1",
        token_hash);
    if (!r.empty()) out = ReadRefresh(r[0]);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<bool> PostgresStore::MarkRefreshTokenUsed(const std::string& token_hash) {
  if (auto s = codec::CheckId(token_hash, "token hash"); !s.ok()) return s;
  bool marked = false;
  absl::Status status = Run("using a refresh token", [&](pqxx::transaction_base& tx) {
    pqxx::result r = tx.exec_params(
        "UPDATE refresh_tokens SET used = true WHERE token_hash = $1 AND NOT used AND NOT revoked",
        token_hash);
    marked = r.affected_rows() == 1;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return marked;
}

absl::StatusOr<int64_t> PostgresStore::RevokeRefreshFamily(const std::string& tenant_id,
                                                           const std::string& family_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(family_id, "token family"); !s.ok()) return s;
  int64_t changed = 0;
  absl::Status status = Run("revoking a refresh token family", [&](pqxx::transaction_base& tx) {
    pqxx::result r = tx.exec_params(
        "UPDATE refresh_tokens SET revoked = true WHERE tenant_id = $1 AND family_id = $2 AND "
        "NOT revoked",
        tenant_id, family_id);
    changed = r.affected_rows();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return changed;
}

absl::StatusOr<int64_t> PostgresStore::RevokeDeviceRefreshTokens(const std::string& tenant_id,
                                                                 const std::string& device_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(device_id, "device id"); !s.ok()) return s;
  int64_t changed = 0;
  absl::Status status = Run("revoking a device's refresh tokens", [&](pqxx::transaction_base& tx) {
    pqxx::result r = tx.exec_params(
        "UPDATE refresh_tokens SET revoked = true WHERE tenant_id = $1 AND device_id = $2 AND "
        "NOT revoked",
        tenant_id, device_id);
    changed = r.affected_rows();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return changed;
}

absl::Status PostgresStore::PutApiKey(const ApiKeyRow& key) {
  if (auto s = codec::CheckApiKey(key); !s.ok()) return s;
  return Run("storing an API key", [&](pqxx::transaction_base& tx) {
    tx.exec_params0(
        "INSERT INTO api_keys (tenant_id, key_id, user_id, label, secret_hash, created_ms, "
        "revoked) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        key.tenant_id, key.key_id, key.user_id, key.label, key.secret_hash, key.created_ms,
        key.revoked);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<ApiKeyRow>> PostgresStore::GetApiKey(const std::string& tenant_id,
                                                                  const std::string& key_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(key_id, "key id"); !s.ok()) return s;
  std::optional<ApiKeyRow> out;
  absl::Status status = Run("reading an API key", [&](pqxx::transaction_base& tx) {
    pqxx::result r = tx.exec_params(
        "SELECT user_id, label, secret_hash, created_ms, revoked FROM api_keys "
        "WHERE tenant_id = $1 AND key_id = $2",
        tenant_id, key_id);
    if (!r.empty()) {
      out = ApiKeyRow{tenant_id,
                      key_id,
                      r[0][0].as<std::string>(),
                      r[0][1].as<std::string>(),
                      r[0][2].as<std::string>(),
                      r[0][3].as<int64_t>(),
                      r[0][4].as<bool>()};
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<int64_t> PostgresStore::AppendAudit(const AuditRow& a) {
  if (auto s = codec::CheckAudit(a); !s.ok()) return s;
  int64_t id = 0;
  absl::Status status = Run("appending to the audit log", [&](pqxx::transaction_base& tx) {
    pqxx::row r = tx.exec_params1(
        "INSERT INTO audit_events (tenant_id, at_ms, action, actor_user_id, actor_device_id, "
        "target, detail, peer) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        a.tenant_id, a.at_ms, a.action, a.actor_user_id, a.actor_device_id, a.target, a.detail,
        a.peer);
    id = r[0].as<int64_t>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return id;
}

absl::StatusOr<std::vector<AuditRow>> PostgresStore::ListAudit(const std::string& tenant_id,
                                                               const std::string& action,
                                                               int64_t since_ms, int64_t after_id,
                                                               int limit, bool newest_first) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckText(action, "audit action"); !s.ok()) return s;
  if (limit <= 0) return absl::InvalidArgumentError("limit must be positive");
  std::vector<AuditRow> out;
  absl::Status status = Run("reading the audit log", [&](pqxx::transaction_base& tx) {
    out.clear();
    pqxx::result r = tx.exec_params(
        newest_first
            ? "SELECT id, at_ms, action, actor_user_id, actor_device_id, target, detail, peer "
              "FROM audit_events WHERE tenant_id = $1 AND ($2 = '' OR action = $2) AND "
              "at_ms >= $3 AND ($4 = 0 OR id < $4) ORDER BY id DESC LIMIT $5"
            : "SELECT id, at_ms, action, actor_user_id, actor_device_id, target, detail, peer "
              "FROM audit_events WHERE tenant_id = $1 AND ($2 = '' OR action = $2) AND "
              "at_ms >= $3 AND id > $4 ORDER BY id LIMIT $5",
        tenant_id, action, since_ms, after_id, limit);
    for (const pqxx::row& row : r) {
      AuditRow a;
      a.id = row[0].as<int64_t>();
      a.tenant_id = tenant_id;
      a.at_ms = row[1].as<int64_t>();
      a.action = row[2].as<std::string>();
      a.actor_user_id = row[3].as<std::string>();
      a.actor_device_id = row[4].as<std::string>();
      a.target = row[5].as<std::string>();
      a.detail = row[6].as<std::string>();
      a.peer = row[7].as<std::string>();
      out.push_back(std::move(a));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<int64_t> PostgresStore::ScrubAppliedResults(const std::string& tenant_id,
                                                           const v1::RecordRef& ref) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckRef(ref); !s.ok()) return s;
  struct Hit {
    std::string device_id;
    int64_t client_seq;
    std::string result;
  };
  std::vector<Hit> hits;
  // Results are stored whole; the ones carrying this record are found by
  // decoding them (erasure is rare, the scan is acceptable).
  absl::Status status = Run("scanning applied mutations", [&](pqxx::transaction_base& tx) {
    hits.clear();
    pqxx::result r = tx.exec_params(
        "SELECT device_id, client_seq, result FROM applied_mutations WHERE tenant_id = $1",
        tenant_id);
    for (const pqxx::row& row : r) {
      v1::MutationResult result;
      if (auto s = codec::Decode(Bytes(row[2]), &result, "mutation result"); !s.ok()) return s;
      const v1::RecordRef& held = result.record().ref();
      if (!result.has_record() || held.entity_type() != ref.entity_type() || held.id() != ref.id()) {
        continue;
      }
      result.clear_record();
      hits.push_back({row[0].as<std::string>(), row[1].as<int64_t>(), codec::Encode(result)});
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  for (const Hit& h : hits) {
    absl::Status s = Run("scrubbing an applied mutation", [&](pqxx::transaction_base& tx) {
      tx.exec_params0(
          "UPDATE applied_mutations SET result = $4 WHERE tenant_id = $1 AND device_id = $2 AND "
          "client_seq = $3",
          tenant_id, h.device_id, h.client_seq, pqxx::binarystring(h.result));
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  return static_cast<int64_t>(hits.size());
}

}  // namespace crmsync::server
