#include "store/sqlite_store.h"

#include <fcntl.h>
#include <unistd.h>

#include "store/sqlite_schema.h"
#include "store/store_codec.h"

namespace crmsync::server {

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               Options options) {
  if (path.empty() || path == ":memory:" || path.rfind("file::memory:", 0) == 0) {
    return absl::InvalidArgumentError("sqlite store needs a file path, got '" + path + "'");
  }
  // A new store file is the owner's only (it holds password hashes and
  // customer data); SQLite gives its -wal and -shm files the same mode. Only
  // when the file is missing: closing a descriptor of a file this process
  // has open in SQLite would drop SQLite's locks on it.
  if (::access(path.c_str(), F_OK) != 0) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
  auto pool = SqlitePool::Open(path, options);
  if (!pool.ok()) return pool.status();
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(*pool)));
}

absl::Status SqliteStore::Migrate() {
  auto db = pool_->Acquire();
  if (!db.ok()) return db.status();
  absl::Status status;
  for (int attempt = 0; attempt < store_codec::kMaxWriteAttempts; ++attempt) {
    status = ApplySqliteMigrations(**db);
    if (!absl::IsUnavailable(status)) break;
  }
  return status;
}

absl::StatusOr<int> SqliteStore::SchemaVersion() {
  auto db = pool_->Acquire();
  if (!db.ok()) return db.status();
  auto exists = (*db)->Prepare(
      "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
  if (!exists.ok()) return exists.status();
  if (auto row = exists->Step(); !row.ok()) return row.status();
  if (exists->ColumnInt(0) == 0) return 0;
  auto max = (*db)->Prepare("SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!max.ok()) return max.status();
  if (auto row = max->Step(); !row.ok()) return row.status();
  return static_cast<int>(max->ColumnInt(0));
}

}  // namespace crmsync::server
