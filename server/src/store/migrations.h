// The schema migrations of both stores (store/migrations.cc): one table,
// one entry per version with the DDL of each dialect.
#ifndef CRMSYNC_SERVER_STORE_MIGRATIONS_H_
#define CRMSYNC_SERVER_STORE_MIGRATIONS_H_

namespace crmsync::server {

struct Migration {
  int version;
  const char* name;
  const char* sqlite;    // run inside BEGIN IMMEDIATE
  const char* postgres;  // run inside one transaction holding the migration lock
};

// The migrations in version order (1, 2, ...).
const Migration* MigrationsBegin();
const Migration* MigrationsEnd();
// The version a fully migrated store of this build has.
int LatestSchemaVersion();

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_MIGRATIONS_H_
