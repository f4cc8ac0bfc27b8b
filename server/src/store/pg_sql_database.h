// PgSqlDatabase: the PostgreSQL adapter of SqlDatabase (sql_session.h) over
// a PgPool. Statements are prepared on each connection under their names on
// first use; parameters travel in text format (integers in decimal,
// booleans as t/f, blobs as bytea hex `\x..`), PostgreSQL parses each as
// the type its context gives it. Thread-safe; the pool must outlive it.
#ifndef CRMSYNC_SERVER_STORE_PG_SQL_DATABASE_H_
#define CRMSYNC_SERVER_STORE_PG_SQL_DATABASE_H_

#include "store/pg_pool.h"
#include "store/sql_session.h"

namespace crmsync::server {

class PgSqlDatabase final : public SqlDatabase {
 public:
  explicit PgSqlDatabase(PgPool* pool) : pool_(pool) {}
  using SqlDatabase::Run;
  absl::Status Run(const char* what, const std::function<absl::Status(SqlSession&)>& work,
                   Durability durability) override;

 private:
  PgPool* pool_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_PG_SQL_DATABASE_H_
