// A thin wrapper over one sqlite3 connection: statements, bindings and
// errors converted to absl::Status. The same source builds against SQLite
// and SQLCipher (see client-sdk/CMakeLists.txt); only the keying differs.
//
// Not thread-safe: the owner (Database) serialises access.
#ifndef CRMSYNC_CLIENT_SRC_SQLITE_DB_H_
#define CRMSYNC_CLIENT_SRC_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace crmsync::client::internal {

// True when this build encrypts (links SQLCipher).
bool EncryptionSupported();

class SqliteDb;

// A prepared statement. Destroying it hands it back to the SqliteDb that
// prepared it (reset, bindings cleared) for the next Prepare of the same
// SQL; it must not outlive that SqliteDb.
class Statement {
 public:
  Statement(SqliteDb* owner, sqlite3* db, sqlite3_stmt* stmt, std::string sql)
      : owner_(owner), db_(db), stmt_(stmt), sql_(std::move(sql)) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept;

  // Bind by 1-based index. Text and blobs are copied.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, double value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& BindNull(int index);
  // Binds NULL when `text` is empty.
  Statement& BindTextOrNull(int index, std::string_view text);

  // Advances: true with a row, false when done; errors in status().
  bool Step();
  // Runs to completion; returns the first error.
  absl::Status Run();
  absl::Status status() const { return status_; }

  int64_t Int(int column) const;
  double Double(int column) const;
  std::string Text(int column) const;
  std::string Blob(int column) const;
  bool IsNull(int column) const;

 private:
  SqliteDb* owner_;
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  std::string sql_;
  absl::Status status_;
};

class SqliteDb {
 public:
  // Opens (creating if needed) `path`. With a non-empty `key` the file is
  // keyed with SQLCipher (fails with FAILED_PRECONDITION in a build without
  // encryption); a wrong key or an encrypted file opened without key fails
  // with PERMISSION_DENIED.
  static absl::StatusOr<std::unique_ptr<SqliteDb>> Open(const std::string& path,
                                                        const std::string& key);
  ~SqliteDb();

  absl::Status Exec(std::string_view sql);
  // Reuses a statement of the same SQL that was prepared before and is no
  // longer in use (a bootstrap writes each row with the same few
  // statements: compiling them again per row was a fifth of its time).
  absl::StatusOr<Statement> Prepare(std::string_view sql);
  int64_t LastInsertRowId() const;
  int Changes() const;
  absl::Status Error(std::string_view what) const;

 private:
  friend class Statement;
  // Statements kept for reuse, at most one per SQL text and kMaxIdle in all.
  static constexpr size_t kMaxIdle = 64;

  explicit SqliteDb(sqlite3* db) : db_(db) {}
  // Takes a statement back from a Statement being destroyed.
  void Recycle(std::string sql, sqlite3_stmt* stmt);

  sqlite3* db_;
  absl::Mutex idle_mu_;
  std::unordered_map<std::string, sqlite3_stmt*> idle_ ABSL_GUARDED_BY(idle_mu_);
};

// RAII transaction: BEGIN IMMEDIATE, ROLLBACK unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(SqliteDb* db);
  ~Transaction();
  absl::Status status() const { return begin_; }
  absl::Status Commit();

 private:
  SqliteDb* db_;
  absl::Status begin_;
  bool done_ = false;
};

}  // namespace crmsync::client::internal

#endif  // CRMSYNC_CLIENT_SRC_SQLITE_DB_H_
