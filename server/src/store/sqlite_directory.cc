// SqliteStore: tenants, users, teams and devices.
#include "store/sqlite_store.h"
#include "store/store_codec.h"

namespace crmsync::server {

namespace codec = store_codec;

namespace {

absl::StatusOr<UserRow> ReadUser(const SqliteStmt& stmt, const std::string& tenant_id) {
  // Columns: password_hash, data.
  UserRow row;
  row.tenant_id = tenant_id;
  row.password_hash = stmt.ColumnText(0);
  if (auto s = codec::Decode(stmt.ColumnBlob(1), &row.user, "user"); !s.ok()) return s;
  return row;
}

absl::StatusOr<DeviceRow> ReadDevice(const SqliteStmt& stmt, const std::string& tenant_id) {
  // Columns: cursor_seq, last_contact_ms, last_sync_ms, data, last_client_seq,
  // protocol_version, sdk_version.
  DeviceRow row;
  row.tenant_id = tenant_id;
  if (auto s = codec::Decode(stmt.ColumnBlob(3), &row.device, "device"); !s.ok()) return s;
  row.device.set_cursor_seq(stmt.ColumnInt(0));
  row.device.set_last_client_seq(stmt.ColumnInt(4));
  if (stmt.ColumnInt(5) > 0) row.device.set_protocol_version(static_cast<uint32_t>(stmt.ColumnInt(5)));
  if (!stmt.ColumnText(6).empty()) row.device.set_sdk_version(stmt.ColumnText(6));
  // The columns win over the blob when TouchDevice moved them.
  const int64_t contact_ms = stmt.ColumnInt(1);
  if (codec::ToUnixMs(row.device.last_contact_at()) != contact_ms) {
    *row.device.mutable_last_contact_at() = codec::FromUnixMs(contact_ms);
  }
  const int64_t sync_ms = stmt.ColumnInt(2);
  if (codec::ToUnixMs(row.device.last_sync_at()) != sync_ms) {
    *row.device.mutable_last_sync_at() = codec::FromUnixMs(sync_ms);
  }
  return row;
}

template <typename Row, typename ReadFn>
absl::StatusOr<std::optional<Row>> ReadOne(SqliteStmt& stmt, ReadFn read) {
  auto more = stmt.Step();
  if (!more.ok()) return more.status();
  if (!*more) return std::optional<Row>();
  auto row = read(stmt);
  if (!row.ok()) return row.status();
  return std::optional<Row>(std::move(*row));
}

template <typename Row, typename ReadFn>
absl::StatusOr<std::vector<Row>> ReadAll(SqliteStmt& stmt, ReadFn read) {
  std::vector<Row> rows;
  while (true) {
    auto more = stmt.Step();
    if (!more.ok()) return more.status();
    if (!*more) return rows;
    auto row = read(stmt);
    if (!row.ok()) return row.status();
    rows.push_back(std::move(*row));
  }
}

}  // namespace

absl::Status SqliteStore::PutTenant(const TenantRow& tenant) {
  if (auto s = codec::CheckTenant(tenant); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "INSERT INTO tenants (id, slug, display_name) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO "
      "UPDATE SET slug = excluded.slug, display_name = excluded.display_name");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant.id).Bind(2, tenant.slug).Bind(3, tenant.display_name);
  return stmt->Run();
}

absl::StatusOr<std::optional<TenantRow>> SqliteStore::GetTenantBySlug(const std::string& slug) {
  if (auto s = codec::CheckId(slug, "tenant slug"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare("SELECT id, slug, display_name FROM tenants WHERE slug = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, slug);
  return ReadOne<TenantRow>(*stmt, [](const SqliteStmt& st) -> absl::StatusOr<TenantRow> {
    return TenantRow{st.ColumnText(0), st.ColumnText(1), st.ColumnText(2)};
  });
}

absl::StatusOr<std::vector<TenantRow>> SqliteStore::ListTenants() {
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare("SELECT id, slug, display_name FROM tenants ORDER BY id");
  if (!stmt.ok()) return stmt.status();
  std::vector<TenantRow> out;
  while (true) {
    auto more = stmt->Step();
    if (!more.ok()) return more.status();
    if (!*more) break;
    out.push_back(TenantRow{stmt->ColumnText(0), stmt->ColumnText(1), stmt->ColumnText(2)});
  }
  return out;
}

absl::Status SqliteStore::PutUser(const UserRow& user) {
  if (auto s = codec::CheckUser(user); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "INSERT INTO users (tenant_id, user_id, username, password_hash, data) "
      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant_id, user_id) DO UPDATE SET "
      "username = excluded.username, password_hash = excluded.password_hash, data = excluded.data");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, user.tenant_id).Bind(2, user.user.id()).Bind(3, user.user.username());
  stmt->Bind(4, user.password_hash).BindBlob(5, codec::Encode(user.user));
  return stmt->Run();
}

absl::StatusOr<std::optional<UserRow>> SqliteStore::GetUser(const std::string& tenant_id,
                                                            const std::string& user_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(user_id, "user id"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "SELECT password_hash, data FROM users WHERE tenant_id = ?1 AND user_id = ?2");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id).Bind(2, user_id);
  return ReadOne<UserRow>(*stmt, [&](const SqliteStmt& st) { return ReadUser(st, tenant_id); });
}

absl::StatusOr<std::optional<UserRow>> SqliteStore::GetUserByName(const std::string& tenant_id,
                                                                  const std::string& username) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(username, "username"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "SELECT password_hash, data FROM users WHERE tenant_id = ?1 AND username = ?2");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id).Bind(2, username);
  return ReadOne<UserRow>(*stmt, [&](const SqliteStmt& st) { return ReadUser(st, tenant_id); });
}

absl::StatusOr<std::vector<UserRow>> SqliteStore::ListUsers(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "SELECT password_hash, data FROM users WHERE tenant_id = ?1 ORDER BY user_id");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id);
  return ReadAll<UserRow>(*stmt, [&](const SqliteStmt& st) { return ReadUser(st, tenant_id); });
}

absl::Status SqliteStore::PutTeam(const std::string& tenant_id, const v1::Team& team) {
  if (auto s = codec::CheckTeam(tenant_id, team); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "INSERT INTO teams (tenant_id, team_id, data) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (tenant_id, team_id) DO UPDATE SET data = excluded.data");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id).Bind(2, team.id()).BindBlob(3, codec::Encode(team));
  return stmt->Run();
}

absl::StatusOr<std::vector<v1::Team>> SqliteStore::ListTeams(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare("SELECT data FROM teams WHERE tenant_id = ?1 ORDER BY team_id");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id);
  return ReadAll<v1::Team>(*stmt, [](const SqliteStmt& st) -> absl::StatusOr<v1::Team> {
    v1::Team team;
    if (auto s = codec::Decode(st.ColumnBlob(0), &team, "team"); !s.ok()) return s;
    return team;
  });
}

absl::Status SqliteStore::PutDevice(const DeviceRow& device) {
  if (auto s = codec::CheckDevice(device); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "INSERT INTO devices (tenant_id, device_id, user_id, cursor_seq, last_contact_ms, "
      "last_sync_ms, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
      "ON CONFLICT (tenant_id, device_id) DO UPDATE SET user_id = excluded.user_id, "
      "cursor_seq = excluded.cursor_seq, last_contact_ms = excluded.last_contact_ms, "
      "last_sync_ms = excluded.last_sync_ms, data = excluded.data");
  if (!stmt.ok()) return stmt.status();
  const v1::Device& d = device.device;
  stmt->Bind(1, device.tenant_id).Bind(2, d.id()).Bind(3, d.user_id()).Bind(4, d.cursor_seq());
  stmt->Bind(5, codec::ToUnixMs(d.last_contact_at())).Bind(6, codec::ToUnixMs(d.last_sync_at()));
  stmt->BindBlob(7, codec::Encode(d));
  return stmt->Run();
}

absl::StatusOr<std::optional<DeviceRow>> SqliteStore::GetDevice(const std::string& tenant_id,
                                                                const std::string& device_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(device_id, "device id"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "SELECT cursor_seq, last_contact_ms, last_sync_ms, data, last_client_seq, "
      "protocol_version, sdk_version FROM devices "
      "WHERE tenant_id = ?1 AND device_id = ?2");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id).Bind(2, device_id);
  return ReadOne<DeviceRow>(*stmt,
                            [&](const SqliteStmt& st) { return ReadDevice(st, tenant_id); });
}

absl::StatusOr<std::vector<DeviceRow>> SqliteStore::ListDevices(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  auto stmt = (*db)->Prepare(
      "SELECT cursor_seq, last_contact_ms, last_sync_ms, data, last_client_seq, "
      "protocol_version, sdk_version FROM devices "
      "WHERE tenant_id = ?1 ORDER BY device_id");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id);
  return ReadAll<DeviceRow>(*stmt,
                            [&](const SqliteStmt& st) { return ReadDevice(st, tenant_id); });
}

absl::Status SqliteStore::TouchDevice(const std::string& tenant_id, const std::string& device_id,
                                      const DeviceContact& contact) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(device_id, "device id"); !s.ok()) return s;
  auto db = Acquire();
  if (!db.ok()) return db.status();
  if (auto s = codec::CheckText(contact.sdk_version, "client.sdk_version"); !s.ok()) return s;
  auto stmt = (*db)->Prepare(
      "UPDATE devices SET last_contact_ms = ?3, "
      "cursor_seq = CASE WHEN ?4 >= 0 THEN ?4 ELSE cursor_seq END, "
      "last_sync_ms = CASE WHEN ?4 >= 0 THEN ?3 ELSE last_sync_ms END, "
      "last_client_seq = max(last_client_seq, ?5), "
      "protocol_version = CASE WHEN ?6 > 0 THEN ?6 ELSE protocol_version END, "
      "sdk_version = CASE WHEN ?7 <> '' THEN ?7 ELSE sdk_version END "
      "WHERE tenant_id = ?1 AND device_id = ?2");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id)
      .Bind(2, device_id)
      .Bind(3, contact.now_unix_ms)
      .Bind(4, contact.cursor_seq)
      .Bind(5, contact.last_client_seq)
      .Bind(6, int64_t{contact.protocol_version})
      .Bind(7, contact.sdk_version);
  if (auto s = stmt->Run(); !s.ok()) return s;
  if ((*db)->Changes() == 0) {
    return absl::NotFoundError("device " + device_id + " is not registered");
  }
  return absl::OkStatus();
}

}  // namespace crmsync::server
