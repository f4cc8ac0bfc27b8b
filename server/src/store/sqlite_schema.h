// Versioned schema of the SQLite store.
//
// Migrations are numbered from 1 and never edited once released; a change
// to the schema is a new migration. ApplySqliteMigrations records each
// applied migration in schema_migrations, inside the same transaction as
// its DDL, under BEGIN IMMEDIATE (which serialises processes sharing the
// file), so running it again or from several processes at once is safe.
#ifndef CRMSYNC_SERVER_STORE_SQLITE_SCHEMA_H_
#define CRMSYNC_SERVER_STORE_SQLITE_SCHEMA_H_

#include "absl/status/status.h"
#include "store/sqlite_db.h"

namespace crmsync::server {

// Highest migration number this build knows.
int LatestSqliteSchemaVersion();

// Brings the database on `db` to the newest schema. Fails with
// FAILED_PRECONDITION if the file was migrated by a newer build.
absl::Status ApplySqliteMigrations(SqliteDb& db);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_SQLITE_SCHEMA_H_
