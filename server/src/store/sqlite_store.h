// SqliteStore: the embedded store, one SQLite file (WAL mode) holding every
// role: the change log (SqliteChangeLog) and the SQL-written directory,
// credentials and audit trail, all on one connection pool.
#ifndef CRMSYNC_SERVER_STORE_SQLITE_STORE_H_
#define CRMSYNC_SERVER_STORE_SQLITE_STORE_H_

#include <memory>
#include <string>

#include "store/sql_roles.h"
#include "store/sqlite_change_log.h"
#include "store/sqlite_pool.h"
#include "store/sqlite_sql_database.h"
#include "store/store.h"

namespace crmsync::server {

class SqliteStore final : public Store {
 public:
  using Options = SqlitePool::Options;

  // Opens (creating if needed, mode 0600) the database file at `path`. Does
  // not migrate. ":memory:" is refused: each pooled connection would see
  // its own empty database.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           Options options);
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path) {
    return Open(path, Options());
  }

  std::string Kind() const override { return "sqlite"; }
  absl::Status Migrate() override;
  absl::StatusOr<int> SchemaVersion() override;
  ChangeLog& changes() override { return changes_; }
  Directory& directory() override { return directory_; }
  Credentials& credentials() override { return credentials_; }
  AuditTrail& audit() override { return audit_; }
  PoolStats Pool() override {
    const int idle = pool_->idle_connections();
    return {pool_->max_connections(), pool_->open_connections() - idle, idle};
  }

 private:
  explicit SqliteStore(std::unique_ptr<SqlitePool> pool)
      : pool_(std::move(pool)),
        sql_(pool_.get()),
        changes_(pool_.get(), &sql_),
        directory_(&sql_),
        credentials_(&sql_),
        audit_(&sql_) {}

  std::unique_ptr<SqlitePool> pool_;
  SqliteSqlDatabase sql_;
  SqliteChangeLog changes_;
  SqlDirectory directory_;
  SqlCredentials credentials_;
  SqlAuditTrail audit_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_SQLITE_STORE_H_
