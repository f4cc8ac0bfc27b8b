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

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace crmsync::client::internal {

// True when this build encrypts (links SQLCipher).
bool EncryptionSupported();

class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
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
  sqlite3* db_;
  sqlite3_stmt* stmt_;
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
  absl::StatusOr<Statement> Prepare(std::string_view sql);
  int64_t LastInsertRowId() const;
  int Changes() const;
  absl::Status Error(std::string_view what) const;

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_;
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
