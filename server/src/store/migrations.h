// The schema migrations of both stores (store/migrations.cc): one table,
// one entry per version with the DDL of each dialect.
#ifndef CRMSYNC_SERVER_STORE_MIGRATIONS_H_
#define CRMSYNC_SERVER_STORE_MIGRATIONS_H_

#include <string>
#include <string_view>
#include <vector>

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

// The statements of a migration's SQL text, each without its `;`, in order;
// pieces holding only comments and blanks are dropped. Quotes ('', ""),
// dollar quotes ($$, $tag$) and comments (--, /* */) are honoured, so a
// `;` inside them does not end a statement. PostgreSQL migrations run one
// statement at a time: Citus sends a distributed table's DDL to the workers
// as the statement's text, and refuses text holding several statements.
std::vector<std::string> SplitSqlStatements(std::string_view sql);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_MIGRATIONS_H_
