// A small SQL session abstraction, so the store roles that are plain CRUD
// (directory, credentials, audit trail: sql_roles.h) are written once for
// both databases. The change log does not use it (see change_log.h).
//
// Statements are written in the SQL both databases accept, with PostgreSQL's
// `$1..$n` placeholders; the adapter (SqliteSqlDatabase, PgSqlDatabase) owns
// what differs between dialects:
//  * placeholders: `$n` becomes SQLite's `?n`;
//  * parameter types: integers, text, blobs (BLOB / bytea) and booleans
//    (0/1 INTEGER / boolean) are bound as each database wants them;
//  * result columns: read back with the same accessors (SqlRow);
//  * errors: the driver's error becomes the store's status codes
//    (ALREADY_EXISTS for a duplicate key, UNAVAILABLE for a lost or busy
//    database, INTERNAL otherwise), the driver's text as internal detail.
// Portable SQL therefore avoids dialect functions (max/greatest) and writes
// booleans as TRUE/FALSE; a parameter whose type PostgreSQL cannot infer
// from its context is cast with CAST($n AS BIGINT) / CAST($n AS TEXT).
#ifndef CRMSYNC_SERVER_STORE_SQL_SESSION_H_
#define CRMSYNC_SERVER_STORE_SQL_SESSION_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace crmsync::server {

// Bytes for a BLOB / bytea column (a plain std::string binds as text).
struct SqlBlob {
  std::string bytes;
};

// One statement parameter.
class SqlParam {
 public:
  enum class Type { kInt, kText, kBlob, kBool };

  SqlParam(int64_t value) : type_(Type::kInt), int_(value) {}  // NOLINT: implicit on purpose
  SqlParam(int value) : type_(Type::kInt), int_(value) {}      // NOLINT
  SqlParam(std::string value) : type_(Type::kText), bytes_(std::move(value)) {}  // NOLINT
  SqlParam(const char* value) : type_(Type::kText), bytes_(value) {}             // NOLINT
  SqlParam(SqlBlob blob) : type_(Type::kBlob), bytes_(std::move(blob.bytes)) {}  // NOLINT
  static SqlParam Bool(bool value) {
    SqlParam p(int64_t{value ? 1 : 0});
    p.type_ = Type::kBool;
    return p;
  }

  Type type() const { return type_; }
  // kInt and kBool (0 or 1).
  int64_t int_value() const { return int_; }
  // kText and kBlob.
  const std::string& bytes() const { return bytes_; }

 private:
  Type type_;
  int64_t int_ = 0;
  std::string bytes_;
};

// A named statement: `name` identifies it (PostgreSQL prepares it under
// that name on each connection), `sql` is portable SQL with $n placeholders.
struct SqlStatement {
  const char* name;
  const char* sql;
};

// One result row; columns are 0-based. Valid only inside the row callback.
class SqlRow {
 public:
  virtual ~SqlRow() = default;
  virtual int64_t Int(int column) const = 0;
  virtual std::string Text(int column) const = 0;
  virtual std::string Blob(int column) const = 0;
  virtual bool Bool(int column) const = 0;
  virtual bool IsNull(int column) const = 0;
};

// Statements on one connection, in autocommit mode. Not thread-safe; valid
// only inside SqlDatabase::Run.
class SqlSession {
 public:
  virtual ~SqlSession() = default;
  // Runs a statement without result rows; returns the rows it changed.
  virtual absl::StatusOr<int64_t> Exec(const SqlStatement& statement,
                                       const std::vector<SqlParam>& params) = 0;
  // Runs a query and hands each row to `on_row`; the first non-OK status
  // from `on_row` stops and is returned.
  virtual absl::Status Query(const SqlStatement& statement, const std::vector<SqlParam>& params,
                             const std::function<absl::Status(const SqlRow&)>& on_row) = 0;
};

// When a write's commit is on disk.
enum class Durability {
  // Before Run returns.
  kDurable,
  // A moment later: the commit does not wait for the disk (SQLite:
  // synchronous=NORMAL for it; PostgreSQL: synchronous_commit=off in its
  // transaction). A crash may lose the last such commits but never corrupts
  // them, and the next durable commit makes them durable too. Only for
  // bookkeeping whose readers take it as a lower bound (a device's last
  // contact and cursor): it costs no disk flush per RPC.
  kRelaxed,
};

// A database that lends sessions. Thread-safe.
class SqlDatabase {
 public:
  virtual ~SqlDatabase() = default;
  // Runs `work` on one pooled connection. `work` must be idempotent (one
  // statement, or reads): if the connection turns out to be lost the adapter
  // may run it once more on a fresh one. `what` names the work in errors.
  // With kRelaxed, `work` runs in one transaction whose commit is relaxed.
  virtual absl::Status Run(const char* what, const std::function<absl::Status(SqlSession&)>& work,
                           Durability durability) = 0;
  absl::Status Run(const char* what, const std::function<absl::Status(SqlSession&)>& work) {
    return Run(what, work, Durability::kDurable);
  }
};

// Runs one query and returns its first row read by `read` (nullopt if none).
template <typename Row, typename ReadFn>
absl::StatusOr<std::optional<Row>> SqlQueryOne(SqlDatabase& db, const char* what,
                                               const SqlStatement& statement,
                                               const std::vector<SqlParam>& params, ReadFn read) {
  std::optional<Row> out;
  absl::Status status = db.Run(what, [&](SqlSession& session) {
    out.reset();
    return session.Query(statement, params, [&](const SqlRow& row) -> absl::Status {
      if (out.has_value()) return absl::OkStatus();
      absl::StatusOr<Row> value = read(row);
      if (!value.ok()) return value.status();
      out = std::move(*value);
      return absl::OkStatus();
    });
  });
  if (!status.ok()) return status;
  return out;
}

// Runs one query and returns every row read by `read`.
template <typename Row, typename ReadFn>
absl::StatusOr<std::vector<Row>> SqlQueryAll(SqlDatabase& db, const char* what,
                                             const SqlStatement& statement,
                                             const std::vector<SqlParam>& params, ReadFn read) {
  std::vector<Row> out;
  absl::Status status = db.Run(what, [&](SqlSession& session) {
    out.clear();
    return session.Query(statement, params, [&](const SqlRow& row) -> absl::Status {
      absl::StatusOr<Row> value = read(row);
      if (!value.ok()) return value.status();
      out.push_back(std::move(*value));
      return absl::OkStatus();
    });
  });
  if (!status.ok()) return status;
  return out;
}

// Runs one statement and returns the rows it changed.
inline absl::StatusOr<int64_t> SqlExec(SqlDatabase& db, const char* what,
                                       const SqlStatement& statement,
                                       const std::vector<SqlParam>& params,
                                       Durability durability = Durability::kDurable) {
  int64_t changed = 0;
  absl::Status status = db.Run(
      what,
      [&](SqlSession& session) -> absl::Status {
        absl::StatusOr<int64_t> n = session.Exec(statement, params);
        if (!n.ok()) return n.status();
        changed = *n;
        return absl::OkStatus();
      },
      durability);
  if (!status.ok()) return status;
  return changed;
}

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_SQL_SESSION_H_
