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

}  // namespace crmsync::server
