// PostgresStore: tenants, users, teams and devices. Each call is one
// autocommit statement.
#include <pqxx/binarystring>
#include <pqxx/result>
#include <pqxx/transaction_base>

#include "store/postgres_sql.h"
#include "store/postgres_store.h"
#include "store/store_codec.h"

namespace crmsync::server {

namespace codec = store_codec;

namespace {

std::string Bytes(const pqxx::field& field) { return pqxx::binarystring(field).str(); }

// Columns: password_hash, data.
absl::StatusOr<UserRow> ReadUser(const pqxx::row& row, const std::string& tenant_id) {
  UserRow user;
  user.tenant_id = tenant_id;
  user.password_hash = row[0].as<std::string>();
  if (auto s = codec::Decode(Bytes(row[1]), &user.user, "user"); !s.ok()) return s;
  return user;
}

// Columns: cursor_seq, last_contact_ms, last_sync_ms, data, last_client_seq,
// protocol_version, sdk_version.
absl::StatusOr<DeviceRow> ReadDevice(const pqxx::row& row, const std::string& tenant_id) {
  DeviceRow out;
  out.tenant_id = tenant_id;
  if (auto s = codec::Decode(Bytes(row[3]), &out.device, "device"); !s.ok()) return s;
  out.device.set_cursor_seq(row[0].as<int64_t>());
  out.device.set_last_client_seq(row[4].as<int64_t>());
  if (row[5].as<int64_t>() > 0) out.device.set_protocol_version(row[5].as<uint32_t>());
  if (!row[6].as<std::string>().empty()) out.device.set_sdk_version(row[6].as<std::string>());
  // The columns win over the blob when TouchDevice moved them.
  const int64_t contact_ms = row[1].as<int64_t>();
  if (codec::ToUnixMs(out.device.last_contact_at()) != contact_ms) {
    *out.device.mutable_last_contact_at() = codec::FromUnixMs(contact_ms);
  }
  const int64_t sync_ms = row[2].as<int64_t>();
  if (codec::ToUnixMs(out.device.last_sync_at()) != sync_ms) {
    *out.device.mutable_last_sync_at() = codec::FromUnixMs(sync_ms);
  }
  return out;
}

}  // namespace

absl::Status PostgresStore::PutTenant(const TenantRow& tenant) {
  if (auto s = codec::CheckTenant(tenant); !s.ok()) return s;
  return Run("storing a tenant", [&](pqxx::transaction_base& tx) {
    tx.exec_prepared0(pg_sql::kTenantPut, tenant.id, tenant.slug, tenant.display_name);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<TenantRow>> PostgresStore::GetTenantBySlug(const std::string& slug) {
  if (auto s = codec::CheckId(slug, "tenant slug"); !s.ok()) return s;
  std::optional<TenantRow> out;
  absl::Status status = Run("reading a tenant", [&](pqxx::transaction_base& tx) {
    pqxx::result r = tx.exec_prepared(pg_sql::kTenantBySlug, slug);
    if (!r.empty()) {
      out = TenantRow{r[0][0].as<std::string>(), r[0][1].as<std::string>(),
                      r[0][2].as<std::string>()};
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<TenantRow>> PostgresStore::ListTenants() {
  std::vector<TenantRow> out;
  absl::Status status = Run("listing tenants", [&](pqxx::transaction_base& tx) {
    out.clear();
    pqxx::result r = tx.exec_prepared(pg_sql::kTenantList);
    for (const auto& row : r) {
      out.push_back(TenantRow{row[0].as<std::string>(), row[1].as<std::string>(),
                              row[2].as<std::string>()});
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::Status PostgresStore::PutUser(const UserRow& user) {
  if (auto s = codec::CheckUser(user); !s.ok()) return s;
  return Run("storing a user", [&](pqxx::transaction_base& tx) {
    tx.exec_prepared0(pg_sql::kUserPut, user.tenant_id, user.user.id(), user.user.username(),
                      user.password_hash, pqxx::binarystring(codec::Encode(user.user)));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<UserRow>> PostgresStore::GetUser(const std::string& tenant_id,
                                                              const std::string& user_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(user_id, "user id"); !s.ok()) return s;
  std::optional<UserRow> out;
  absl::Status status = Run("reading a user", [&](pqxx::transaction_base& tx) {
    pqxx::result r = tx.exec_prepared(pg_sql::kUserGet, tenant_id, user_id);
    if (r.empty()) return absl::OkStatus();
    auto user = ReadUser(r[0], tenant_id);
    if (!user.ok()) return user.status();
    out = std::move(*user);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::optional<UserRow>> PostgresStore::GetUserByName(const std::string& tenant_id,
                                                                    const std::string& username) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(username, "username"); !s.ok()) return s;
  std::optional<UserRow> out;
  absl::Status status = Run("reading a user", [&](pqxx::transaction_base& tx) {
    pqxx::result r = tx.exec_prepared(pg_sql::kUserByName, tenant_id, username);
    if (r.empty()) return absl::OkStatus();
    auto user = ReadUser(r[0], tenant_id);
    if (!user.ok()) return user.status();
    out = std::move(*user);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<UserRow>> PostgresStore::ListUsers(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  std::vector<UserRow> out;
  absl::Status status = Run("listing users", [&](pqxx::transaction_base& tx) {
    out.clear();
    for (const pqxx::row& row : tx.exec_prepared(pg_sql::kUserList, tenant_id)) {
      auto user = ReadUser(row, tenant_id);
      if (!user.ok()) return user.status();
      out.push_back(std::move(*user));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::Status PostgresStore::PutTeam(const std::string& tenant_id, const v1::Team& team) {
  if (auto s = codec::CheckTeam(tenant_id, team); !s.ok()) return s;
  return Run("storing a team", [&](pqxx::transaction_base& tx) {
    tx.exec_prepared0(pg_sql::kTeamPut, tenant_id, team.id(),
                      pqxx::binarystring(codec::Encode(team)));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<v1::Team>> PostgresStore::ListTeams(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  std::vector<v1::Team> out;
  absl::Status status = Run("listing teams", [&](pqxx::transaction_base& tx) {
    out.clear();
    for (const pqxx::row& row : tx.exec_prepared(pg_sql::kTeamList, tenant_id)) {
      v1::Team team;
      if (auto s = codec::Decode(Bytes(row[0]), &team, "team"); !s.ok()) return s;
      out.push_back(std::move(team));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::Status PostgresStore::PutDevice(const DeviceRow& device) {
  if (auto s = codec::CheckDevice(device); !s.ok()) return s;
  const v1::Device& d = device.device;
  return Run("storing a device", [&](pqxx::transaction_base& tx) {
    tx.exec_prepared0(pg_sql::kDevicePut, device.tenant_id, d.id(), d.user_id(), d.cursor_seq(),
                      codec::ToUnixMs(d.last_contact_at()), codec::ToUnixMs(d.last_sync_at()),
                      pqxx::binarystring(codec::Encode(d)));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<DeviceRow>> PostgresStore::GetDevice(const std::string& tenant_id,
                                                                  const std::string& device_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(device_id, "device id"); !s.ok()) return s;
  std::optional<DeviceRow> out;
  absl::Status status = Run("reading a device", [&](pqxx::transaction_base& tx) {
    pqxx::result r = tx.exec_prepared(pg_sql::kDeviceGet, tenant_id, device_id);
    if (r.empty()) return absl::OkStatus();
    auto device = ReadDevice(r[0], tenant_id);
    if (!device.ok()) return device.status();
    out = std::move(*device);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<DeviceRow>> PostgresStore::ListDevices(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  std::vector<DeviceRow> out;
  absl::Status status = Run("listing devices", [&](pqxx::transaction_base& tx) {
    out.clear();
    for (const pqxx::row& row : tx.exec_prepared(pg_sql::kDeviceList, tenant_id)) {
      auto device = ReadDevice(row, tenant_id);
      if (!device.ok()) return device.status();
      out.push_back(std::move(*device));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::Status PostgresStore::TouchDevice(const std::string& tenant_id, const std::string& device_id,
                                        const DeviceContact& contact) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(device_id, "device id"); !s.ok()) return s;
  if (auto s = codec::CheckText(contact.sdk_version, "client.sdk_version"); !s.ok()) return s;
  return Run("recording device contact", [&](pqxx::transaction_base& tx) {
    pqxx::result r = tx.exec_prepared(pg_sql::kDeviceTouch, tenant_id, device_id,
                                      contact.now_unix_ms, contact.cursor_seq,
                                      contact.last_client_seq,
                                      static_cast<int64_t>(contact.protocol_version),
                                      contact.sdk_version);
    if (r.affected_rows() == 0) {
      return absl::NotFoundError("device " + device_id + " is not registered");
    }
    return absl::OkStatus();
  });
}

}  // namespace crmsync::server
