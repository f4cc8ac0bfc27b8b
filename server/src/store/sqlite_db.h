// Thin RAII layer over the SQLite C API used by SqliteStore.
//
//  * SqliteDb owns one sqlite3* connection and a cache of prepared
//    statements keyed by their SQL text. A SqliteDb is used by one thread at
//    a time (SqliteStore hands connections out from a pool); it is not
//    thread-safe itself.
//  * SqliteStmt is a borrowed, reset-on-destruction handle to a cached
//    statement. It must not outlive its SqliteDb, and only one SqliteStmt per
//    SQL text may be alive at a time on one connection.
//  * Every SQLite error becomes an absl::Status carrying SQLite's message:
//    SQLITE_BUSY/SQLITE_LOCKED -> UNAVAILABLE, SQLITE_CONSTRAINT ->
//    ALREADY_EXISTS (unique/primary key) or FAILED_PRECONDITION (other
//    constraints), SQLITE_CORRUPT/NOTADB -> DATA_LOSS, the rest -> INTERNAL.
#ifndef CRMSYNC_SERVER_STORE_SQLITE_DB_H_
#define CRMSYNC_SERVER_STORE_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace crmsync::server {

// Converts a SQLite result code (and the connection's last message, if `db`
// is given) into a status. `context` says what was being done.
absl::Status SqliteError(int rc, sqlite3* db, const std::string& context);

class SqliteStmt {
 public:
  SqliteStmt(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  SqliteStmt(SqliteStmt&& other) noexcept : stmt_(other.stmt_), db_(other.db_) {
    other.stmt_ = nullptr;
  }
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;
  SqliteStmt& operator=(SqliteStmt&&) = delete;
  // Resets the statement and clears its bindings so the cache can reuse it.
  ~SqliteStmt();

  // Binding, 1-based like SQLite. Text and blobs are copied (SQLITE_TRANSIENT).
  SqliteStmt& Bind(int index, int64_t value);
  SqliteStmt& Bind(int index, const std::string& value);  // TEXT
  SqliteStmt& BindBlob(int index, const std::string& value);
  SqliteStmt& BindNull(int index);

  // Advances: true when a row is available, false when done. Bind errors are
  // reported here too.
  absl::StatusOr<bool> Step();
  // Steps to completion, expecting no rows.
  absl::Status Run();
  // Makes the statement runnable again (bindings are kept until rebound).
  void Reset();

  int64_t ColumnInt(int index) const;
  std::string ColumnText(int index) const;
  std::string ColumnBlob(int index) const;
  // The blob in place: valid until the next Step, Reset or the statement's end.
  absl::string_view ColumnBlobView(int index) const;
  bool ColumnIsNull(int index) const;

 private:
  sqlite3_stmt* stmt_;
  sqlite3* db_;
  int bind_error_ = SQLITE_OK;
};

class SqliteDb {
 public:
  // Opens (creating if asked) the database file and applies the connection
  // settings: WAL, synchronous=FULL, foreign keys, busy timeout.
  static absl::StatusOr<std::unique_ptr<SqliteDb>> Open(const std::string& path, bool create,
                                                        int busy_timeout_ms);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs one or more statements without parameters or results.
  absl::Status Exec(const std::string& sql);
  // A prepared statement for `sql`, compiled on first use and cached.
  absl::StatusOr<SqliteStmt> Prepare(const std::string& sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes() const;
  // True while a transaction is open on this connection.
  bool InTransaction() const;

  sqlite3* raw() const { return db_; }

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}

  struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  sqlite3* db_;
  std::unordered_map<std::string, std::unique_ptr<sqlite3_stmt, StmtDeleter>> cache_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_SQLITE_DB_H_
