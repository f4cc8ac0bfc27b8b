#include "store/sqlite_schema.h"

#include <string>

#include "store/migrations.h"

namespace crmsync::server {

int LatestSqliteSchemaVersion() { return LatestSchemaVersion(); }

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
    for (const Migration* m = MigrationsBegin(); m != MigrationsEnd(); ++m) {
      if (m->version <= current) continue;
      if (auto s = db.Exec(m->sqlite); !s.ok()) return s;
      auto record = db.Prepare("INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)");
      if (!record.ok()) return record.status();
      record->Bind(1, int64_t{m->version}).Bind(2, std::string(m->name));
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
