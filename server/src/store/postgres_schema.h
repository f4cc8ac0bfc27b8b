// Versioned schema of the PostgreSQL store.
//
// Migrations are numbered from 1 and never edited once released; a schema
// change is a new migration. ApplyPostgresMigrations runs in one
// transaction that first takes a transaction-scoped advisory lock
// (pg_advisory_xact_lock), so server instances starting together apply each
// migration exactly once: the others wait, then find it recorded in
// schema_migrations. The lock is released by COMMIT/ROLLBACK, also when the
// connection dies, so a crashed instance never leaves it held.
//
// Citus (distributed PostgreSQL, docs/operations.md "Many tenants"): when
// the database has the citus extension, the same transaction then
// distributes every table that is not yet: the tenants table becomes a
// reference table (a copy on every node), every table of a tenant's data
// is distributed by tenant_id and co-located with tenant_seq, so all rows
// of one tenant, in every table, live in one shard group on one worker and
// each statement of a tenant's transaction is routed there whole. Tables
// that are not per tenant (schema_migrations, login_failures, rate_usage)
// stay on the coordinator. A database that gets Citus later is distributed
// at the next start.
#ifndef CRMSYNC_SERVER_STORE_POSTGRES_SCHEMA_H_
#define CRMSYNC_SERVER_STORE_POSTGRES_SCHEMA_H_

#include <vector>

#include <pqxx/connection>

#include "absl/status/status.h"

namespace crmsync::server {

// Highest migration number this build knows.
int LatestPostgresSchemaVersion();

// Brings the database to the newest schema. Never throws. Fails with
// FAILED_PRECONDITION if the database was migrated by a newer build.
// `connection_broken` is set when the connection must be discarded.
absl::Status ApplyPostgresMigrations(pqxx::connection& conn, bool* connection_broken);

// Where a table lives on Citus.
enum class CitusPlacement {
  kReference,    // replicated to every node
  kDistributed,  // by tenant_id, co-located with tenant_seq
};
struct CitusTable {
  const char* name;
  CitusPlacement placement;
};
// Every table the migrations create that Citus distributes, in the order
// they are distributed (tenants first: the others refer to it).
const std::vector<CitusTable>& CitusTables();

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_POSTGRES_SCHEMA_H_
