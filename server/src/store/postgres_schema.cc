#include "store/postgres_schema.h"

#include <iterator>
#include <string>

#include <pqxx/transaction>

#include "store/pg_errors.h"

namespace crmsync::server {
namespace {

// Key of the advisory lock that serialises migrations ("crmsync" in ASCII).
constexpr long long kMigrationLockKey = 0x63726d73796e63LL;

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// See docs/storage.md. Protobuf values are stored whole (deterministic
// serialization) in bytea columns; the other columns are the ones queries
// filter or order by.
constexpr Migration kMigrations[] = {
    {1, "initial schema", R"sql(
CREATE TABLE tenants (
  id text PRIMARY KEY,
  slug text NOT NULL UNIQUE,
  display_name text NOT NULL
);

-- One row per tenant that has written. Every write transaction locks its
-- tenant's row (SELECT ... FOR UPDATE) first: the per-tenant write lock.
CREATE TABLE tenant_seq (
  tenant_id text PRIMARY KEY,
  latest_seq bigint NOT NULL DEFAULT 0,
  pruned_through bigint NOT NULL DEFAULT 0
);

CREATE TABLE records (
  tenant_id text NOT NULL,
  entity_type integer NOT NULL,
  record_id text NOT NULL,
  version bigint NOT NULL,
  created_version bigint NOT NULL,
  deleted boolean NOT NULL,
  owner_user_id text NOT NULL,
  team_id text NOT NULL,
  scope_changed_version bigint NOT NULL DEFAULT 0,
  state bytea NOT NULL,
  PRIMARY KEY (tenant_id, entity_type, record_id)
);
-- The change feed: ReadSince walks this index in order.
CREATE INDEX records_feed ON records (tenant_id, version, entity_type, record_id);

-- Scope keys a record had before the change `version` altered them.
CREATE TABLE scope_history (
  tenant_id text NOT NULL,
  entity_type integer NOT NULL,
  record_id text NOT NULL,
  version bigint NOT NULL,
  scope bytea NOT NULL,
  PRIMARY KEY (tenant_id, entity_type, record_id, version)
);
CREATE INDEX scope_history_by_version ON scope_history (tenant_id, version);

CREATE TABLE applied_mutations (
  tenant_id text NOT NULL,
  device_id text NOT NULL,
  client_seq bigint NOT NULL,
  payload_hash bytea NOT NULL,
  result bytea NOT NULL,
  PRIMARY KEY (tenant_id, device_id, client_seq)
);

CREATE TABLE claims (
  tenant_id text NOT NULL,
  claim_key text NOT NULL,
  value bigint NOT NULL,
  PRIMARY KEY (tenant_id, claim_key)
);

CREATE TABLE users (
  tenant_id text NOT NULL REFERENCES tenants (id),
  user_id text NOT NULL,
  username text NOT NULL,
  password_hash text NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (tenant_id, user_id),
  UNIQUE (tenant_id, username)
);

CREATE TABLE teams (
  tenant_id text NOT NULL REFERENCES tenants (id),
  team_id text NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (tenant_id, team_id)
);

-- cursor_seq and the contact times live in columns so TouchDevice is one
-- UPDATE; they override the same fields of `data` when read.
CREATE TABLE devices (
  tenant_id text NOT NULL REFERENCES tenants (id),
  device_id text NOT NULL,
  user_id text NOT NULL,
  cursor_seq bigint NOT NULL,
  last_contact_ms bigint NOT NULL,
  last_sync_ms bigint NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (tenant_id, device_id)
);
)sql"},
    {2, "authentication, audit", R"sql(
-- Refresh tokens (hashes only), one row per issued token; rotation keeps
-- the family id so reuse of a rotated token can revoke the family.
CREATE TABLE refresh_tokens (
  token_hash text PRIMARY KEY,
  tenant_id text NOT NULL,
  family_id text NOT NULL,
  user_id text NOT NULL,
  device_id text NOT NULL,
  created_ms bigint NOT NULL,
  expires_ms bigint NOT NULL,
  used boolean NOT NULL DEFAULT false,
  revoked boolean NOT NULL DEFAULT false
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);
CREATE INDEX refresh_tokens_device ON refresh_tokens (tenant_id, device_id);

-- Store-terminal API keys (hash of the secret only).
CREATE TABLE api_keys (
  tenant_id text NOT NULL,
  key_id text NOT NULL,
  user_id text NOT NULL,
  label text NOT NULL,
  secret_hash text NOT NULL,
  created_ms bigint NOT NULL,
  revoked boolean NOT NULL DEFAULT false,
  PRIMARY KEY (tenant_id, key_id)
);

CREATE TABLE audit_events (
  id bigserial PRIMARY KEY,
  tenant_id text NOT NULL,
  at_ms bigint NOT NULL,
  action text NOT NULL,
  actor_user_id text NOT NULL,
  actor_device_id text NOT NULL,
  target text NOT NULL,
  detail text NOT NULL,
  peer text NOT NULL
);
CREATE INDEX audit_events_by_tenant ON audit_events (tenant_id, id);
)sql"},
    {3, "record index (geo cells, expiry)", R"sql(
-- Secondary keys of records (see store.h IndexKind): geo cells of coupon
-- geofences and store locations, coupon expiry times.
CREATE TABLE record_index (
  tenant_id text NOT NULL,
  kind smallint NOT NULL,
  entity_type integer NOT NULL,
  key bigint NOT NULL,
  record_id text NOT NULL,
  PRIMARY KEY (tenant_id, kind, entity_type, key, record_id)
);
CREATE INDEX record_index_by_record ON record_index (tenant_id, entity_type, record_id, kind);
)sql"},
    {4, "change history identity", R"sql(
-- Names the tenant's change history: a store restored from a backup gets a
-- new one, so cursors handed out before the restore are recognised.
ALTER TABLE tenant_seq ADD COLUMN history_id text NOT NULL
  DEFAULT substr(md5(random()::text || clock_timestamp()::text), 1, 16);
)sql"},
    {5, "device bookkeeping (last client_seq, protocol and SDK versions)", R"sql(
ALTER TABLE devices ADD COLUMN last_client_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN protocol_version bigint NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN sdk_version text NOT NULL DEFAULT '';
)sql"},
};

}  // namespace

int LatestPostgresSchemaVersion() { return std::prev(std::end(kMigrations))->version; }

absl::Status ApplyPostgresMigrations(pqxx::connection& conn, bool* connection_broken) {
  *connection_broken = false;
  try {
    pqxx::work tx(conn, "migrate");
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    tx.exec0(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY,"
        " name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    const int current = tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0]
                            .as<int>();
    if (current > LatestPostgresSchemaVersion()) {
      return absl::FailedPreconditionError(
          "the database schema is at version " + std::to_string(current) +
          ", newer than this build knows (" + std::to_string(LatestPostgresSchemaVersion()) +
          "): upgrade crm-syncd");
    }
    for (const Migration& m : kMigrations) {
      if (m.version <= current) continue;
      tx.exec(m.sql, "migration " + std::to_string(m.version));
      tx.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                      std::string(m.name));
    }
    tx.commit();
    return absl::OkStatus();
  } catch (...) {
    PgError error = ClassifyPgError(std::current_exception(), "migrating the schema");
    *connection_broken = error.connection_broken;
    return error.status;
  }
}

}  // namespace crmsync::server
