#include "store/sqlite_schema.h"

#include <iterator>
#include <string>

namespace crmsync::server {
namespace {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// The schema (see docs/storage.md). Protobuf values are stored whole as
// deterministic serializations in BLOB columns; the other columns are the
// ones queries filter or order by.
constexpr Migration kMigrations[] = {
    {1, "initial schema", R"sql(
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  slug TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL
) STRICT;

-- One row per tenant that has written: its change sequence (the write lock
-- is BEGIN IMMEDIATE) and its pruning horizon.
CREATE TABLE tenant_seq (
  tenant_id TEXT PRIMARY KEY,
  latest_seq INTEGER NOT NULL DEFAULT 0,
  pruned_through INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE records (
  tenant_id TEXT NOT NULL,
  entity_type INTEGER NOT NULL,
  record_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_version INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  owner_user_id TEXT NOT NULL,
  team_id TEXT NOT NULL,
  scope_changed_version INTEGER NOT NULL DEFAULT 0,
  state BLOB NOT NULL,
  PRIMARY KEY (tenant_id, entity_type, record_id)
) STRICT;
CREATE INDEX records_feed ON records (tenant_id, version);

-- Scope keys a record had before the change `version` altered them.
CREATE TABLE scope_history (
  tenant_id TEXT NOT NULL,
  entity_type INTEGER NOT NULL,
  record_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  scope BLOB NOT NULL,
  PRIMARY KEY (tenant_id, entity_type, record_id, version)
) STRICT;
CREATE INDEX scope_history_by_version ON scope_history (tenant_id, version);

CREATE TABLE applied_mutations (
  tenant_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  client_seq INTEGER NOT NULL,
  payload_hash BLOB NOT NULL,
  result BLOB NOT NULL,
  PRIMARY KEY (tenant_id, device_id, client_seq)
) STRICT;

CREATE TABLE claims (
  tenant_id TEXT NOT NULL,
  claim_key TEXT NOT NULL,
  value INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, claim_key)
) STRICT;

CREATE TABLE users (
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  user_id TEXT NOT NULL,
  username TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (tenant_id, user_id),
  UNIQUE (tenant_id, username)
) STRICT;

CREATE TABLE teams (
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  team_id TEXT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (tenant_id, team_id)
) STRICT;

-- cursor_seq and the contact times live in columns so TouchDevice is one
-- UPDATE; they override the same fields of `data` when read.
CREATE TABLE devices (
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  device_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  cursor_seq INTEGER NOT NULL,
  last_contact_ms INTEGER NOT NULL,
  last_sync_ms INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (tenant_id, device_id)
) STRICT;
)sql"},
    {2, "authentication, audit", R"sql(
-- Refresh tokens (hashes only), one row per issued token; rotation keeps
-- the family id so reuse of a rotated token can revoke the family.
CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  family_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  used INTEGER NOT NULL DEFAULT 0,
  revoked INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);
CREATE INDEX refresh_tokens_device ON refresh_tokens (tenant_id, device_id);

-- Store-terminal API keys (hash of the secret only).
CREATE TABLE api_keys (
  tenant_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  label TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, key_id)
) STRICT;

CREATE TABLE audit_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  action TEXT NOT NULL,
  actor_user_id TEXT NOT NULL,
  actor_device_id TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL,
  peer TEXT NOT NULL
) STRICT;
CREATE INDEX audit_events_by_tenant ON audit_events (tenant_id, id);
)sql"},
    {3, "record index (geo cells, expiry)", R"sql(
-- Secondary keys of records (see store.h IndexKind): geo cells of coupon
-- geofences and store locations, coupon expiry times.
CREATE TABLE record_index (
  tenant_id TEXT NOT NULL,
  kind INTEGER NOT NULL,
  entity_type INTEGER NOT NULL,
  key INTEGER NOT NULL,
  record_id TEXT NOT NULL,
  PRIMARY KEY (tenant_id, kind, entity_type, key, record_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX record_index_by_record ON record_index (tenant_id, entity_type, record_id, kind);
)sql"},
    {4, "change history identity", R"sql(
-- Names the tenant's change history: a store restored from a backup gets a
-- new one, so cursors handed out before the restore are recognised.
ALTER TABLE tenant_seq ADD COLUMN history_id TEXT NOT NULL DEFAULT '';
UPDATE tenant_seq SET history_id = lower(hex(randomblob(8)));
)sql"},
    {5, "device bookkeeping (last client_seq, protocol and SDK versions)", R"sql(
ALTER TABLE devices ADD COLUMN last_client_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN protocol_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN sdk_version TEXT NOT NULL DEFAULT '';
)sql"},
};

}  // namespace

int LatestSqliteSchemaVersion() { return std::prev(std::end(kMigrations))->version; }

absl::Status ApplySqliteMigrations(SqliteDb& db) {
  if (auto s = db.Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto run = [&]() -> absl::Status {
    if (auto s = db.Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                         "applied_at TEXT NOT NULL DEFAULT (datetime('now')))");
        !s.ok()) {
      return s;
    }
    auto max = db.Prepare("SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (!max.ok()) return max.status();
    auto row = max->Step();
    if (!row.ok()) return row.status();
    const int64_t current = max->ColumnInt(0);
    if (current > LatestSqliteSchemaVersion()) {
      return absl::FailedPreconditionError(
          "the database schema is at version " + std::to_string(current) +
          ", newer than this build knows (" + std::to_string(LatestSqliteSchemaVersion()) +
          "): upgrade crm-syncd");
    }
    for (const Migration& m : kMigrations) {
      if (m.version <= current) continue;
      if (auto s = db.Exec(m.sql); !s.ok()) return s;
      auto record = db.Prepare("INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)");
      if (!record.ok()) return record.status();
      record->Bind(1, int64_t{m.version}).Bind(2, std::string(m.name));
      if (auto s = record->Run(); !s.ok()) return s;
    }
    return absl::OkStatus();
  };
  absl::Status status = run();
  if (!status.ok()) {
    db.Exec("ROLLBACK").IgnoreError();
    return status;
  }
  return db.Exec("COMMIT");
}

}  // namespace crmsync::server
