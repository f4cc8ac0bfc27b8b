// SqliteStore: refresh tokens, API keys, the audit log and erasure scrubbing
// (schema migration 2).
#include "store/auth_checks.h"
#include "store/sqlite_store.h"

namespace crmsync::server {

namespace codec = store_codec;

namespace {

// Columns: token_hash, tenant_id, family_id, user_id, device_id, created_ms,
// expires_ms, used, revoked.
RefreshTokenRow ReadRefresh(const SqliteStmt& st) {
  RefreshTokenRow t;
  t.token_hash = st.ColumnText(0);
  t.tenant_id = st.ColumnText(1);
  t.family_id = st.ColumnText(2);
  t.user_id = st.ColumnText(3);
  t.device_id = st.ColumnText(4);
  t.created_ms = st.ColumnInt(5);
  t.expires_ms = st.ColumnInt(6);
  t.used = st.ColumnInt(7) != 0;
  t.revoked = st.ColumnInt(8) != 0;
  return t;
}

}  // namespace

absl::Status SqliteStore::PutRefreshToken(const RefreshTokenRow& t) {
  if (auto s = codec::CheckRefresh(t); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "INSERT INTO refresh_tokens (token_hash, tenant_id, family_id, user_id, device_id, "
      "created_ms, expires_ms, used, revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, t.token_hash).Bind(2, t.tenant_id).Bind(3, t.family_id).Bind(4, t.user_id);
  stmt->Bind(5, t.device_id).Bind(6, t.created_ms).Bind(7, t.expires_ms);
  stmt->Bind(8, int64_t{t.used}).Bind(9, int64_t{t.revoked});
  return stmt->Run();
}

absl::StatusOr<std::optional<RefreshTokenRow>> SqliteStore::GetRefreshToken(
    const std::string& token_hash) {
  if (auto s = codec::CheckId(token_hash, "token hash"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "SELECT token_hash, tenant_id, family_id, user_id, device_id, created_ms, expires_ms, "
      "used, revoked FROM refresh_tokens WHERE token_hash = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, token_hash);
  auto more = stmt->Step();
  if (!more.ok()) return more.status();
  if (!*more) return std::optional<RefreshTokenRow>();
  return std::optional<RefreshTokenRow>(ReadRefresh(*stmt));
}

absl::StatusOr<bool> SqliteStore::MarkRefreshTokenUsed(const std::string& token_hash) {
  if (auto s = codec::CheckId(token_hash, "token hash"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "UPDATE refresh_tokens SET used = 1 WHERE token_hash = ?1 AND used = 0 AND revoked = 0");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, token_hash);
  if (auto s = stmt->Run(); !s.ok()) return s;
  return (*db)->Changes() == 1;
}

absl::StatusOr<int64_t> SqliteStore::RevokeRefreshFamily(const std::string& tenant_id,
                                                         const std::string& family_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(family_id, "token family"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "UPDATE refresh_tokens SET revoked = 1 WHERE tenant_id = ?1 AND family_id = ?2 AND "
      "revoked = 0");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id).Bind(2, family_id);
  if (auto s = stmt->Run(); !s.ok()) return s;
  return (*db)->Changes();
}

absl::StatusOr<int64_t> SqliteStore::RevokeDeviceRefreshTokens(const std::string& tenant_id,
                                                               const std::string& device_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(device_id, "device id"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "UPDATE refresh_tokens SET revoked = 1 WHERE tenant_id = ?1 AND device_id = ?2 AND "
      "revoked = 0");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id).Bind(2, device_id);
  if (auto s = stmt->Run(); !s.ok()) return s;
  return (*db)->Changes();
}

absl::Status SqliteStore::PutApiKey(const ApiKeyRow& key) {
  if (auto s = codec::CheckApiKey(key); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "INSERT INTO api_keys (tenant_id, key_id, user_id, label, secret_hash, created_ms, revoked) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, key.tenant_id).Bind(2, key.key_id).Bind(3, key.user_id).Bind(4, key.label);
  stmt->Bind(5, key.secret_hash).Bind(6, key.created_ms).Bind(7, int64_t{key.revoked});
  return stmt->Run();
}

absl::StatusOr<std::optional<ApiKeyRow>> SqliteStore::GetApiKey(const std::string& tenant_id,
                                                                const std::string& key_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(key_id, "key id"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "SELECT user_id, label, secret_hash, created_ms, revoked FROM api_keys "
      "WHERE tenant_id = ?1 AND key_id = ?2");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id).Bind(2, key_id);
  auto more = stmt->Step();
  if (!more.ok()) return more.status();
  if (!*more) return std::optional<ApiKeyRow>();
  ApiKeyRow key{tenant_id,          key_id,          stmt->ColumnText(0),    stmt->ColumnText(1),
                stmt->ColumnText(2), stmt->ColumnInt(3), stmt->ColumnInt(4) != 0};
  return std::optional<ApiKeyRow>(std::move(key));
}

absl::StatusOr<int64_t> SqliteStore::AppendAudit(const AuditRow& a) {
  if (auto s = codec::CheckAudit(a); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "INSERT INTO audit_events (tenant_id, at_ms, action, actor_user_id, actor_device_id, "
      "target, detail, peer) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, a.tenant_id).Bind(2, a.at_ms).Bind(3, a.action).Bind(4, a.actor_user_id);
  stmt->Bind(5, a.actor_device_id).Bind(6, a.target).Bind(7, a.detail).Bind(8, a.peer);
  if (auto s = stmt->Run(); !s.ok()) return s;
  return static_cast<int64_t>(sqlite3_last_insert_rowid((*db)->raw()));
}

absl::StatusOr<std::vector<AuditRow>> SqliteStore::ListAudit(const std::string& tenant_id,
                                                             const std::string& action,
                                                             int64_t since_ms, int64_t after_id,
                                                             int limit, bool newest_first) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckText(action, "audit action"); !s.ok()) return s;
  if (limit <= 0) return absl::InvalidArgumentError("limit must be positive");
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      newest_first
          ? "SELECT id, at_ms, action, actor_user_id, actor_device_id, target, detail, peer "
            "FROM audit_events WHERE tenant_id = ?1 AND (?2 = '' OR action = ?2) AND "
            "at_ms >= ?3 AND (?4 = 0 OR id < ?4) ORDER BY id DESC LIMIT ?5"
          : "SELECT id, at_ms, action, actor_user_id, actor_device_id, target, detail, peer "
            "FROM audit_events WHERE tenant_id = ?1 AND (?2 = '' OR action = ?2) AND "
            "at_ms >= ?3 AND id > ?4 ORDER BY id LIMIT ?5");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id).Bind(2, action).Bind(3, since_ms).Bind(4, after_id);
  stmt->Bind(5, int64_t{limit});
  std::vector<AuditRow> rows;
  while (true) {
    auto more = stmt->Step();
    if (!more.ok()) return more.status();
    if (!*more) return rows;
    AuditRow a;
    a.id = stmt->ColumnInt(0);
    a.tenant_id = tenant_id;
    a.at_ms = stmt->ColumnInt(1);
    a.action = stmt->ColumnText(2);
    a.actor_user_id = stmt->ColumnText(3);
    a.actor_device_id = stmt->ColumnText(4);
    a.target = stmt->ColumnText(5);
    a.detail = stmt->ColumnText(6);
    a.peer = stmt->ColumnText(7);
    rows.push_back(std::move(a));
  }
}

absl::StatusOr<int64_t> SqliteStore::ScrubAppliedResults(const std::string& tenant_id,
                                                         const v1::RecordRef& ref) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckRef(ref); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  // Results are stored whole; find the ones carrying this record by
  // decoding them (erasure is rare, the scan is acceptable).
  struct Hit {
    std::string device_id;
    int64_t client_seq;
    std::string result;
  };
  std::vector<Hit> hits;
  {
    auto stmt = (*db)->Prepare(
        "SELECT device_id, client_seq, result FROM applied_mutations WHERE tenant_id = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, tenant_id);
    while (true) {
      auto more = stmt->Step();
      if (!more.ok()) return more.status();
      if (!*more) break;
      v1::MutationResult result;
      if (auto s = codec::Decode(stmt->ColumnBlob(2), &result, "mutation result"); !s.ok()) {
        return s;
      }
      const v1::RecordRef& held = result.record().ref();
      if (!result.has_record() || held.entity_type() != ref.entity_type() || held.id() != ref.id()) {
        continue;
      }
      result.clear_record();
      hits.push_back({stmt->ColumnText(0), stmt->ColumnInt(1), codec::Encode(result)});
    }
  }
  for (const Hit& h : hits) {
    auto stmt = (*db)->Prepare(
        "UPDATE applied_mutations SET result = ?4 WHERE tenant_id = ?1 AND device_id = ?2 AND "
        "client_seq = ?3");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, tenant_id).Bind(2, h.device_id).Bind(3, h.client_seq).BindBlob(4, h.result);
    if (auto s = stmt->Run(); !s.ok()) return s;
  }
  return static_cast<int64_t>(hits.size());
}

}  // namespace crmsync::server
