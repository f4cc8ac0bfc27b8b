// The schema migrations of both stores, one entry per version holding the
// DDL of each dialect (see docs/storage.md), so that no migration can land in
// one store only: a version needs both texts to compile, and a test checks
// they are there and numbered without gaps.
#include "store/migrations.h"

#include <cctype>
#include <iterator>

namespace crmsync::server {
namespace {

// Protobuf values are stored whole as deterministic serializations (SQLite
// BLOB, PostgreSQL bytea); the other columns are the ones queries filter or
// order by.
constexpr Migration kMigrations[] = {
    {1, "initial schema",
     // SQLite
     R"sql(
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
)sql",
     // PostgreSQL
     R"sql(
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
    {2, "authentication, audit",
     // SQLite
     R"sql(
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
)sql",
     // PostgreSQL
     R"sql(
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
    {3, "record index (geo cells, expiry)",
     // SQLite
     R"sql(
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
)sql",
     // PostgreSQL
     R"sql(
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
    {4, "change history identity",
     // SQLite
     R"sql(
-- Names the tenant's change history: a store restored from a backup gets a
-- new one, so cursors handed out before the restore are recognised.
ALTER TABLE tenant_seq ADD COLUMN history_id TEXT NOT NULL DEFAULT '';
UPDATE tenant_seq SET history_id = lower(hex(randomblob(8)));
)sql",
     // PostgreSQL
     R"sql(
-- Names the tenant's change history: a store restored from a backup gets a
-- new one, so cursors handed out before the restore are recognised.
ALTER TABLE tenant_seq ADD COLUMN history_id text NOT NULL
  DEFAULT substr(md5(random()::text || clock_timestamp()::text), 1, 16);
)sql"},
    {5, "device bookkeeping (last client_seq, protocol and SDK versions)",
     // SQLite
     R"sql(
ALTER TABLE devices ADD COLUMN last_client_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN protocol_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN sdk_version TEXT NOT NULL DEFAULT '';
)sql",
     // PostgreSQL
     R"sql(
ALTER TABLE devices ADD COLUMN last_client_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN protocol_version bigint NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN sdk_version text NOT NULL DEFAULT '';
)sql"},
    {6, "applied floors (bounded exactly-once log)",
     // SQLite
     R"sql(
-- Per device: its applied_mutations rows with client_seq <= floor_seq are
-- gone (results acknowledged, or the device was silent past the
-- retention); Push never applies a mutation at or below it.
CREATE TABLE applied_floors (
  tenant_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  floor_seq INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, device_id)
) STRICT, WITHOUT ROWID;
)sql",
     // PostgreSQL
     R"sql(
-- Per device: its applied_mutations rows with client_seq <= floor_seq are
-- gone (results acknowledged, or the device was silent past the
-- retention); Push never applies a mutation at or below it.
CREATE TABLE applied_floors (
  tenant_id text NOT NULL,
  device_id text NOT NULL,
  floor_seq bigint NOT NULL,
  PRIMARY KEY (tenant_id, device_id)
);
)sql"},
    {7, "records by entity type",
     // SQLite
     R"sql(
-- Listing one entity type (conflicts, stores, coupons) in version order
-- without walking the whole feed: ChangeLog::ReadTypeSince.
CREATE INDEX IF NOT EXISTS records_by_type ON records (tenant_id, entity_type, version);
)sql",
     // PostgreSQL
     R"sql(
-- Listing the types an operator lists (coupons 16, conflicts 19, stores
-- 20) in version order without walking the whole feed:
-- ChangeLog::ReadTypeSince. Partial, so the planner can never take it for
-- a lookup by primary key (a full index on (tenant_id, entity_type, ...)
-- was chosen for the push upsert's join while the table's statistics were
-- stale, scanning every record of a type per row); the statements that
-- use it name the type as a constant (postgres_sql.cc).
CREATE INDEX IF NOT EXISTS records_by_type ON records (tenant_id, entity_type, version)
  WHERE entity_type IN (16, 19, 20);
)sql"},
    {8, "failed sign-ins and request rates shared by instances",
     // SQLite
     R"sql(
-- Login throttling (auth/login_throttle.h): failed attempts per key
-- (tenant + username, or tenant + API key id) within the window.
CREATE TABLE login_failures (
  throttle_key TEXT NOT NULL,
  failed_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_by_key ON login_failures (throttle_key, failed_at_ms);
CREATE INDEX login_failures_by_time ON login_failures (failed_at_ms);
-- Request-rate usage instances exchange (logic/rate_limiter.h): what each
-- took per device since its last report.
CREATE TABLE rate_usage (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  instance_id TEXT NOT NULL,
  rate_key TEXT NOT NULL,
  used INTEGER NOT NULL,
  at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX rate_usage_by_time ON rate_usage (at_ms);
)sql",
     // PostgreSQL
     R"sql(
-- Login throttling (auth/login_throttle.h): failed attempts per key
-- (tenant + username, or tenant + API key id) within the window, seen by
-- every instance.
CREATE TABLE login_failures (
  throttle_key text NOT NULL,
  failed_at_ms bigint NOT NULL
);
CREATE INDEX login_failures_by_key ON login_failures (throttle_key, failed_at_ms);
CREATE INDEX login_failures_by_time ON login_failures (failed_at_ms);
-- Request-rate usage instances exchange (logic/rate_limiter.h): what each
-- took per device since its last report.
CREATE TABLE rate_usage (
  id bigserial PRIMARY KEY,
  instance_id text NOT NULL,
  rate_key text NOT NULL,
  used bigint NOT NULL,
  at_ms bigint NOT NULL
);
CREATE INDEX rate_usage_by_time ON rate_usage (at_ms);
)sql"},
    {9, "field history (lineage)",
     // SQLite
     R"sql(
-- The last values of each field of a record, with their source
-- (ChangeLog::ReadFieldHistory); entry is an encoded FieldHistoryEntry.
CREATE TABLE field_history (
  tenant_id TEXT NOT NULL,
  entity_type INTEGER NOT NULL,
  record_id TEXT NOT NULL,
  path TEXT NOT NULL,
  version INTEGER NOT NULL,
  entry BLOB NOT NULL,
  PRIMARY KEY (tenant_id, entity_type, record_id, path, version)
) STRICT, WITHOUT ROWID;
)sql",
     // PostgreSQL
     R"sql(
-- The last values of each field of a record, with their source
-- (ChangeLog::ReadFieldHistory); entry is an encoded FieldHistoryEntry.
CREATE TABLE field_history (
  tenant_id text NOT NULL,
  entity_type integer NOT NULL,
  record_id text NOT NULL,
  path text NOT NULL,
  version bigint NOT NULL,
  entry bytea NOT NULL,
  PRIMARY KEY (tenant_id, entity_type, record_id, path, version)
);
)sql"},
    {10, "possible duplicates by version",
     // SQLite
     R"sql(
-- Duplicate flags (entity type 21) are listed through records_by_type,
-- which covers every type here; the identity keys of leads, contacts and
-- accounts live in record_index (kind 3). Nothing to add.
SELECT 1;
)sql",
     // PostgreSQL
     R"sql(
-- Listing duplicate flags (entity type 21) in version order without
-- walking the feed (crmctl duplicates list); partial like records_by_type,
-- read with the type as a constant (postgres_sql.cc).
CREATE INDEX IF NOT EXISTS records_possible_duplicates ON records (tenant_id, version)
  WHERE entity_type = 21;
)sql"},
    {11, "record index by record, record id first",
     // SQLite
     R"sql(
-- SQLite plans a lookup by key on the primary key (more leading columns
-- with equalities) whatever its statistics; nothing to change.
SELECT 1;
)sql",
     // PostgreSQL
     R"sql(
-- With (tenant_id, entity_type, record_id, kind), a lookup by key could
-- also be served by this index, filtering every key of the type; the
-- planner chose it whenever the table's statistics lagged behind its size
-- (a tenant loading data: a bulk import, a new tenant's first days),
-- reading every key of the type for each duplicate check. With the record
-- id first it serves only what it is for: a record's own keys.
DROP INDEX record_index_by_record;
CREATE INDEX record_index_by_record ON record_index (record_id, tenant_id, entity_type, kind);
)sql"},
    {12, "every key of a tenant's table includes the tenant",
     // SQLite
     R"sql(
-- The PostgreSQL keys change so the tables can be distributed by tenant
-- over Citus workers; an embedded store is never distributed.
SELECT 1;
)sql",
     // PostgreSQL
     R"sql(
-- Citus distributes a table by tenant_id only if its primary and unique
-- keys include tenant_id (postgres_schema.cc, DistributeOverCitus). A
-- refresh token issued before tokens named their tenant is still found by
-- its hash alone (Credentials::GetRefreshToken), through an index of its
-- own.
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_pkey;
ALTER TABLE refresh_tokens ADD PRIMARY KEY (tenant_id, token_hash);
CREATE INDEX refresh_tokens_by_hash ON refresh_tokens (token_hash);
-- (tenant_id, id) was already indexed for listing a tenant's events.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
ALTER TABLE audit_events ADD PRIMARY KEY (tenant_id, id);
DROP INDEX audit_events_by_tenant;
)sql"},
    {13, "record index keys before types",
     // SQLite
     R"sql(
-- The duplicate check reads one key at a time here (no batch lookup);
-- nothing to change.
SELECT 1;
)sql",
     // PostgreSQL
     R"sql(
-- A duplicate check looks each key up under two types (a lead's keys among
-- leads and contacts): with the type before the key, two descents of the
-- index per key. With the key first, one, reading the key's few entries
-- of every type. A range of keys of one type (geo cells, expiry times)
-- now also passes the other types' entries in that range, filtered in the
-- index. Rebuilds the key (a minute or so for tens of millions of rows).
ALTER TABLE record_index DROP CONSTRAINT record_index_pkey;
ALTER TABLE record_index ADD PRIMARY KEY (tenant_id, kind, key, entity_type, record_id);
)sql"},
    {14, "record index keys looked up by hash",
     // SQLite
     R"sql(
-- The embedded store keeps its B-tree: nothing to change.
SELECT 1;
)sql",
     // PostgreSQL
     R"sql(
-- Every kind but geo cells and expiry times (1, 2) is looked up one key at
-- a time: duplicate keys (three per person, probed by every check),
-- references, custom fields. A hash index serves those lookups and takes
-- new keys at a fraction of what the primary key cost: a B-tree of
-- (tenant, kind, key, type, record) compares the tenant's text id at every
-- level, and its inserts land on random pages of an index as large as the
-- table. The hash is of the tenant, the kind and the key together, so a
-- name common to many tenants is not one bucket. postgres_sql.cc names
-- the same expression (CRMSYNC_INDEX_SLOT_MATCH); it must stay identical.
-- Geo cells and expiry times are read by ranges: they keep a B-tree of
-- their own, partial, so the other kinds' rows never enter it. The
-- primary key goes; a record's keys are unique per (record, kind) as the
-- write path replaces them whole under the tenant's lock.
CREATE INDEX record_index_by_key ON record_index
  USING hash ((hashtextextended(tenant_id, kind) # key));
CREATE INDEX record_index_ranges ON record_index (tenant_id, kind, key, entity_type, record_id)
  WHERE kind IN (1, 2);
ALTER TABLE record_index DROP CONSTRAINT record_index_pkey;
-- Without a key, logical replication (a Citus shard move) identifies a
-- row by all its columns.
ALTER TABLE record_index REPLICA IDENTITY FULL;
)sql"},
};

}  // namespace

std::vector<std::string> SplitSqlStatements(std::string_view sql) {
  std::vector<std::string> out;
  size_t start = 0;
  bool has_code = false;  // something other than comments and blanks
  auto end_statement = [&](size_t end) {
    if (has_code) {
      std::string_view piece = sql.substr(start, end - start);
      const size_t first = piece.find_first_not_of(" \t\r\n");
      const size_t last = piece.find_last_not_of(" \t\r\n");
      out.emplace_back(piece.substr(first, last - first + 1));
    }
    start = end + 1;
    has_code = false;
  };
  size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    const char next = i + 1 < sql.size() ? sql[i + 1] : '\0';
    if (c == '-' && next == '-') {
      const size_t eol = sql.find('\n', i);
      i = eol == std::string_view::npos ? sql.size() : eol + 1;
    } else if (c == '/' && next == '*') {
      const size_t close = sql.find("*/", i + 2);
      i = close == std::string_view::npos ? sql.size() : close + 2;
    } else if (c == '\'' || c == '"') {
      // A doubled quote inside is two quoted strings in a row: same result.
      const size_t close = sql.find(c, i + 1);
      i = close == std::string_view::npos ? sql.size() : close + 1;
      has_code = true;
    } else if (c == '$') {
      // $$ or $tag$ (tag: letters, digits, _), else a parameter ($1).
      size_t j = i + 1;
      while (j < sql.size() &&
             (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_')) {
        ++j;
      }
      if (j < sql.size() && sql[j] == '$' && !std::isdigit(static_cast<unsigned char>(next))) {
        const std::string_view tag = sql.substr(i, j - i + 1);
        const size_t close = sql.find(tag, j + 1);
        i = close == std::string_view::npos ? sql.size() : close + tag.size();
      } else {
        i = j;
      }
      has_code = true;
    } else if (c == ';') {
      end_statement(i);
      ++i;
    } else {
      if (!std::isspace(static_cast<unsigned char>(c))) has_code = true;
      ++i;
    }
  }
  if (start < sql.size()) end_statement(sql.size());
  return out;
}

const Migration* MigrationsBegin() { return std::begin(kMigrations); }
const Migration* MigrationsEnd() { return std::end(kMigrations); }
int LatestSchemaVersion() { return std::prev(std::end(kMigrations))->version; }

}  // namespace crmsync::server
