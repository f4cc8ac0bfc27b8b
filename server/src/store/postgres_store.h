// PostgresStore: the production store, one PostgreSQL database holding every
// role: the change log (PostgresChangeLog) and the SQL-written directory,
// credentials and audit trail, all on one bounded connection pool.
//
// Several crm-syncd instances may share the database; they cooperate only
// through it. Migrate() applies versioned migrations under an advisory lock
// (postgres_schema.h).
#ifndef CRMSYNC_SERVER_STORE_POSTGRES_STORE_H_
#define CRMSYNC_SERVER_STORE_POSTGRES_STORE_H_

#include <chrono>
#include <memory>
#include <string>

#include "store/pg_pool.h"
#include "store/pg_sql_database.h"
#include "store/postgres_change_log.h"
#include "store/sql_roles.h"
#include "store/store.h"

namespace crmsync::server {

class PostgresStore final : public Store {
 public:
  struct Options {
    // Connections in the pool (>= 2).
    int pool_size = 8;
    // How long a call waits for a free connection before UNAVAILABLE.
    std::chrono::milliseconds acquire_timeout{10000};
  };

  // Connects (one connection, to fail early on a bad URI or an unreachable
  // server: UNAVAILABLE). Does not migrate.
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(const std::string& conninfo,
                                                             Options options);
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(const std::string& conninfo) {
    return Open(conninfo, Options());
  }

  std::string Kind() const override { return "postgres"; }
  absl::Status Migrate() override;
  absl::StatusOr<int> SchemaVersion() override;
  ChangeLog& changes() override { return changes_; }
  Directory& directory() override { return directory_; }
  Credentials& credentials() override { return credentials_; }
  AuditTrail& audit() override { return audit_; }
  PoolStats Pool() override {
    const int idle = pool_->idle_connections();
    return {pool_->max_size(), pool_->open_connections() - idle, idle};
  }

 private:
  PostgresStore(std::unique_ptr<PgPool> pool, Options options)
      : pool_(std::move(pool)),
        sql_(pool_.get()),
        changes_(pool_.get(), &sql_, options.acquire_timeout),
        directory_(&sql_),
        credentials_(&sql_),
        audit_(&sql_) {}

  std::unique_ptr<PgPool> pool_;
  PgSqlDatabase sql_;
  PostgresChangeLog changes_;
  SqlDirectory directory_;
  SqlCredentials credentials_;
  SqlAuditTrail audit_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_POSTGRES_STORE_H_
