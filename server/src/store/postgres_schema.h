// Versioned schema of the PostgreSQL store.
//
// Migrations are numbered from 1 and never edited once released; a schema
// change is a new migration. ApplyPostgresMigrations runs in one
// transaction that first takes a transaction-scoped advisory lock
// (pg_advisory_xact_lock), so server instances starting together apply each
// migration exactly once: the others wait, then find it recorded in
// schema_migrations. The lock is released by COMMIT/ROLLBACK, also when the
// connection dies, so a crashed instance never leaves it held.
#ifndef CRMSYNC_SERVER_STORE_POSTGRES_SCHEMA_H_
#define CRMSYNC_SERVER_STORE_POSTGRES_SCHEMA_H_

#include <pqxx/connection>

#include "absl/status/status.h"

namespace crmsync::server {

// Highest migration number this build knows.
int LatestPostgresSchemaVersion();

// Brings the database to the newest schema. Never throws. Fails with
// FAILED_PRECONDITION if the database was migrated by a newer build.
// `connection_broken` is set when the connection must be discarded.
absl::Status ApplyPostgresMigrations(pqxx::connection& conn, bool* connection_broken);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_POSTGRES_SCHEMA_H_
