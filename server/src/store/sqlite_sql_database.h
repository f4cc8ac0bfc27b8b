// SqliteSqlDatabase: the SQLite adapter of SqlDatabase (sql_session.h) over
// a SqlitePool. `$n` placeholders become `?n`; statements are compiled once
// per connection (SqliteDb's cache); booleans bind as 0/1. Thread-safe; the
// pool must outlive it.
#ifndef CRMSYNC_SERVER_STORE_SQLITE_SQL_DATABASE_H_
#define CRMSYNC_SERVER_STORE_SQLITE_SQL_DATABASE_H_

#include "store/sql_session.h"
#include "store/sqlite_pool.h"

namespace crmsync::server {

class SqliteSqlDatabase final : public SqlDatabase {
 public:
  explicit SqliteSqlDatabase(SqlitePool* pool) : pool_(pool) {}
  using SqlDatabase::Run;
  absl::Status Run(const char* what, const std::function<absl::Status(SqlSession&)>& work,
                   Durability durability) override;

 private:
  SqlitePool* pool_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_SQLITE_SQL_DATABASE_H_
