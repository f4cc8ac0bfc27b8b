#include "store/postgres_schema.h"

#include <string>

#include <pqxx/transaction>

#include "store/migrations.h"
#include "store/pg_errors.h"

namespace crmsync::server {
namespace {

// Key of the advisory lock that serialises migrations ("crmsync" in ASCII).
constexpr long long kMigrationLockKey = 0x63726d73796e63LL;

}  // namespace

int LatestPostgresSchemaVersion() { return LatestSchemaVersion(); }

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
    const int current =
        tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0].as<int>();
    if (current > LatestPostgresSchemaVersion()) {
      return absl::FailedPreconditionError(
          "the database schema is at version " + std::to_string(current) +
          ", newer than this build knows (" + std::to_string(LatestPostgresSchemaVersion()) +
          "): upgrade crm-syncd");
    }
    for (const Migration* m = MigrationsBegin(); m != MigrationsEnd(); ++m) {
      if (m->version <= current) continue;
      tx.exec(m->postgres, "migration " + std::to_string(m->version));
      tx.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m->version,
                      std::string(m->name));
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
