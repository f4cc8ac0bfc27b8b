#include "store/postgres_store.h"

#include "store/postgres_schema.h"
#include "store/postgres_sql.h"

namespace crmsync::server {

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& conninfo,
                                                                   Options options) {
  if (options.pool_size < 2) options.pool_size = 2;
  PgPool::Options pool_options;
  pool_options.conninfo = conninfo;
  pool_options.max_size = options.pool_size;
  pool_options.acquire_timeout = options.acquire_timeout;
  pool_options.on_connect = [](pqxx::connection& conn) { pg_sql::PrepareAll(conn); };
  auto pool = PgPool::Create(std::move(pool_options));
  if (!pool.ok()) return pool.status();
  return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(*pool), options));
}

absl::Status PostgresStore::Migrate() {
  auto lease = pool_->Acquire();
  if (!lease.ok()) return lease.status();
  bool broken = false;
  absl::Status status = ApplyPostgresMigrations(lease->conn(), &broken);
  if (broken) lease->MarkBroken();
  return status;
}

absl::StatusOr<int> PostgresStore::SchemaVersion() {
  int version = 0;
  absl::Status status = pool_->RunAutocommit("reading the schema version", [&](auto& tx) {
    // Two statements: PostgreSQL resolves every table a statement names
    // before running it, so a never-migrated store is asked first.
    version = 0;
    if (tx.exec1("SELECT to_regclass('schema_migrations') IS NULL")[0].template as<bool>()) {
      return absl::OkStatus();
    }
    version =
        tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0].template as<int>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return version;
}

}  // namespace crmsync::server
