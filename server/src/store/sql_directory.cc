// SqlDirectory: tenants, users, teams and devices, for both databases.
#include "store/sql_roles.h"
#include "store/store_codec.h"

namespace crmsync::server {

namespace codec = store_codec;

namespace {

constexpr SqlStatement kTenantPut{
    "dir_tenant_put",
    "INSERT INTO tenants (id, slug, display_name) VALUES ($1, $2, $3) ON CONFLICT (id) DO "
    "UPDATE SET slug = excluded.slug, display_name = excluded.display_name"};
constexpr SqlStatement kTenantBySlug{"dir_tenant_by_slug",
                                     "SELECT id, slug, display_name FROM tenants WHERE slug = $1"};
constexpr SqlStatement kTenantList{"dir_tenant_list",
                                   "SELECT id, slug, display_name FROM tenants ORDER BY id"};
constexpr SqlStatement kUserPut{
    "dir_user_put",
    "INSERT INTO users (tenant_id, user_id, username, password_hash, data) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, user_id) DO UPDATE SET "
    "username = excluded.username, password_hash = excluded.password_hash, data = excluded.data"};
constexpr SqlStatement kUserGet{
    "dir_user_get", "SELECT password_hash, data FROM users WHERE tenant_id = $1 AND user_id = $2"};
constexpr SqlStatement kUserByName{
    "dir_user_by_name",
    "SELECT password_hash, data FROM users WHERE tenant_id = $1 AND username = $2"};
constexpr SqlStatement kUserList{
    "dir_user_list", "SELECT password_hash, data FROM users WHERE tenant_id = $1 ORDER BY user_id"};
constexpr SqlStatement kTeamPut{
    "dir_team_put",
    "INSERT INTO teams (tenant_id, team_id, data) VALUES ($1, $2, $3) "
    "ON CONFLICT (tenant_id, team_id) DO UPDATE SET data = excluded.data"};
constexpr SqlStatement kTeamList{"dir_team_list",
                                 "SELECT data FROM teams WHERE tenant_id = $1 ORDER BY team_id"};
constexpr SqlStatement kDevicePut{
    "dir_device_put",
    "INSERT INTO devices (tenant_id, device_id, user_id, cursor_seq, last_contact_ms, "
    "last_sync_ms, data) VALUES ($1, $2, $3, $4, $5, $6, $7) "
    "ON CONFLICT (tenant_id, device_id) DO UPDATE SET user_id = excluded.user_id, "
    "cursor_seq = excluded.cursor_seq, last_contact_ms = excluded.last_contact_ms, "
    "last_sync_ms = excluded.last_sync_ms, data = excluded.data"};
#define CRMSYNC_DEVICE_COLUMNS                                                \
  "SELECT cursor_seq, last_contact_ms, last_sync_ms, data, last_client_seq, " \
  "protocol_version, sdk_version FROM devices "
constexpr SqlStatement kDeviceGet{"dir_device_get",
                                  CRMSYNC_DEVICE_COLUMNS "WHERE tenant_id = $1 AND device_id = $2"};
constexpr SqlStatement kDeviceList{
    "dir_device_list", CRMSYNC_DEVICE_COLUMNS "WHERE tenant_id = $1 ORDER BY device_id"};
#undef CRMSYNC_DEVICE_COLUMNS
// One statement for every kind of contact: the CASEs leave what the
// contact does not set (DeviceContact).
constexpr SqlStatement kDeviceTouch{
    "dir_device_touch",
    "UPDATE devices SET last_contact_ms = $3, "
    "cursor_seq = CASE WHEN CAST($4 AS BIGINT) >= 0 THEN CAST($4 AS BIGINT) ELSE cursor_seq END, "
    "last_sync_ms = CASE WHEN CAST($4 AS BIGINT) >= 0 THEN $3 ELSE last_sync_ms END, "
    "last_client_seq = CASE WHEN CAST($5 AS BIGINT) > last_client_seq THEN CAST($5 AS BIGINT) "
    "ELSE last_client_seq END, "
    "protocol_version = CASE WHEN CAST($6 AS BIGINT) > 0 THEN CAST($6 AS BIGINT) "
    "ELSE protocol_version END, "
    "sdk_version = CASE WHEN CAST($7 AS TEXT) <> '' THEN CAST($7 AS TEXT) ELSE sdk_version END "
    "WHERE tenant_id = $1 AND device_id = $2"};

absl::StatusOr<TenantRow> ReadTenant(const SqlRow& row) {
  return TenantRow{row.Text(0), row.Text(1), row.Text(2)};
}

// Columns: password_hash, data.
absl::StatusOr<UserRow> ReadUser(const SqlRow& row, const std::string& tenant_id) {
  UserRow user;
  user.tenant_id = tenant_id;
  user.password_hash = row.Text(0);
  if (auto s = codec::Decode(row.Blob(1), &user.user, "user"); !s.ok()) return s;
  return user;
}

// Columns: cursor_seq, last_contact_ms, last_sync_ms, data, last_client_seq,
// protocol_version, sdk_version.
absl::StatusOr<DeviceRow> ReadDevice(const SqlRow& row, const std::string& tenant_id) {
  DeviceRow out;
  out.tenant_id = tenant_id;
  if (auto s = codec::Decode(row.Blob(3), &out.device, "device"); !s.ok()) return s;
  out.device.set_cursor_seq(row.Int(0));
  out.device.set_last_client_seq(row.Int(4));
  if (row.Int(5) > 0) out.device.set_protocol_version(static_cast<uint32_t>(row.Int(5)));
  if (std::string sdk = row.Text(6); !sdk.empty()) out.device.set_sdk_version(sdk);
  // The columns win over the blob when TouchDevice moved them.
  const int64_t contact_ms = row.Int(1);
  if (codec::ToUnixMs(out.device.last_contact_at()) != contact_ms) {
    *out.device.mutable_last_contact_at() = codec::FromUnixMs(contact_ms);
  }
  const int64_t sync_ms = row.Int(2);
  if (codec::ToUnixMs(out.device.last_sync_at()) != sync_ms) {
    *out.device.mutable_last_sync_at() = codec::FromUnixMs(sync_ms);
  }
  return out;
}

absl::Status ExecStatus(const absl::StatusOr<int64_t>& changed) { return changed.status(); }

}  // namespace

absl::Status SqlDirectory::PutTenant(const TenantRow& tenant) {
  if (auto s = codec::CheckTenant(tenant); !s.ok()) return s;
  return ExecStatus(
      SqlExec(*db_, "storing a tenant", kTenantPut, {tenant.id, tenant.slug, tenant.display_name}));
}

absl::StatusOr<std::optional<TenantRow>> SqlDirectory::GetTenantBySlug(const std::string& slug) {
  if (auto s = codec::CheckId(slug, "tenant slug"); !s.ok()) return s;
  return SqlQueryOne<TenantRow>(*db_, "reading a tenant", kTenantBySlug, {slug}, ReadTenant);
}

absl::StatusOr<std::vector<TenantRow>> SqlDirectory::ListTenants() {
  return SqlQueryAll<TenantRow>(*db_, "listing tenants", kTenantList, {}, ReadTenant);
}

absl::Status SqlDirectory::PutUser(const UserRow& user) {
  if (auto s = codec::CheckUser(user); !s.ok()) return s;
  return ExecStatus(SqlExec(*db_, "storing a user", kUserPut,
                            {user.tenant_id, user.user.id(), user.user.username(),
                             user.password_hash, SqlBlob{codec::Encode(user.user)}}));
}

absl::StatusOr<std::optional<UserRow>> SqlDirectory::GetUser(const std::string& tenant_id,
                                                             const std::string& user_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(user_id, "user id"); !s.ok()) return s;
  return SqlQueryOne<UserRow>(*db_, "reading a user", kUserGet, {tenant_id, user_id},
                              [&](const SqlRow& row) { return ReadUser(row, tenant_id); });
}

absl::StatusOr<std::optional<UserRow>> SqlDirectory::GetUserByName(const std::string& tenant_id,
                                                                   const std::string& username) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(username, "username"); !s.ok()) return s;
  return SqlQueryOne<UserRow>(*db_, "reading a user", kUserByName, {tenant_id, username},
                              [&](const SqlRow& row) { return ReadUser(row, tenant_id); });
}

absl::StatusOr<std::vector<UserRow>> SqlDirectory::ListUsers(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  return SqlQueryAll<UserRow>(*db_, "listing users", kUserList, {tenant_id},
                              [&](const SqlRow& row) { return ReadUser(row, tenant_id); });
}

absl::Status SqlDirectory::PutTeam(const std::string& tenant_id, const v1::Team& team) {
  if (auto s = codec::CheckTeam(tenant_id, team); !s.ok()) return s;
  return ExecStatus(SqlExec(*db_, "storing a team", kTeamPut,
                            {tenant_id, team.id(), SqlBlob{codec::Encode(team)}}));
}

absl::StatusOr<std::vector<v1::Team>> SqlDirectory::ListTeams(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  return SqlQueryAll<v1::Team>(*db_, "listing teams", kTeamList, {tenant_id},
                               [](const SqlRow& row) -> absl::StatusOr<v1::Team> {
                                 v1::Team team;
                                 if (auto s = codec::Decode(row.Blob(0), &team, "team"); !s.ok()) {
                                   return s;
                                 }
                                 return team;
                               });
}

absl::Status SqlDirectory::PutDevice(const DeviceRow& device) {
  if (auto s = codec::CheckDevice(device); !s.ok()) return s;
  const v1::Device& d = device.device;
  return ExecStatus(SqlExec(
      *db_, "storing a device", kDevicePut,
      {device.tenant_id, d.id(), d.user_id(), d.cursor_seq(), codec::ToUnixMs(d.last_contact_at()),
       codec::ToUnixMs(d.last_sync_at()), SqlBlob{codec::Encode(d)}}));
}

absl::StatusOr<std::optional<DeviceRow>> SqlDirectory::GetDevice(const std::string& tenant_id,
                                                                 const std::string& device_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(device_id, "device id"); !s.ok()) return s;
  return SqlQueryOne<DeviceRow>(*db_, "reading a device", kDeviceGet, {tenant_id, device_id},
                                [&](const SqlRow& row) { return ReadDevice(row, tenant_id); });
}

absl::StatusOr<std::vector<DeviceRow>> SqlDirectory::ListDevices(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  return SqlQueryAll<DeviceRow>(*db_, "listing devices", kDeviceList, {tenant_id},
                                [&](const SqlRow& row) { return ReadDevice(row, tenant_id); });
}

absl::Status SqlDirectory::TouchDevice(const std::string& tenant_id, const std::string& device_id,
                                       const DeviceContact& contact) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckId(device_id, "device id"); !s.ok()) return s;
  if (auto s = codec::CheckText(contact.sdk_version, "client.sdk_version"); !s.ok()) return s;
  auto changed =
      SqlExec(*db_, "recording a device's contact", kDeviceTouch,
              {tenant_id, device_id, contact.now_unix_ms, contact.cursor_seq,
               contact.last_client_seq, int64_t{contact.protocol_version}, contact.sdk_version},
              Durability::kRelaxed);
  if (!changed.ok()) return changed.status();
  if (*changed == 0) return absl::NotFoundError("device " + device_id + " is not registered");
  return absl::OkStatus();
}

}  // namespace crmsync::server
