#include "sqlite_db.h"

#include <utility>

namespace crmsync::client::internal {

bool EncryptionSupported() { return CRMSYNC_CLIENT_ENCRYPTION != 0; }

namespace {

absl::Status FromCode(int rc, std::string_view what, sqlite3* db) {
  std::string msg(what);
  msg += ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return absl::UnavailableError(msg);
    case SQLITE_NOTADB: return absl::PermissionDeniedError(msg);
    case SQLITE_CONSTRAINT: return absl::AlreadyExistsError(msg);
    case SQLITE_FULL: return absl::ResourceExhaustedError(msg);
    case SQLITE_CANTOPEN: return absl::NotFoundError(msg);
    default: return absl::InternalError(msg);
  }
}

}  // namespace

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (owner_ != nullptr) {
    owner_->Recycle(std::move(sql_), stmt_);
  } else {
    sqlite3_finalize(stmt_);
  }
}

Statement::Statement(Statement&& other) noexcept
    : owner_(other.owner_),
      db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      sql_(std::move(other.sql_)),
      status_(std::move(other.status_)) {}

Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}
Statement& Statement::Bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}
Statement& Statement::Bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::BindBlob(int index, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}
Statement& Statement::BindTextOrNull(int index, std::string_view text) {
  return text.empty() ? BindNull(index) : Bind(index, text);
}

bool Statement::Step() {
  if (!status_.ok()) return false;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) status_ = FromCode(rc, "sqlite step", db_);
  return false;
}

absl::Status Statement::Run() {
  while (Step()) {
  }
  return status_;
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::Double(int column) const { return sqlite3_column_double(stmt_, column); }
std::string Statement::Text(int column) const {
  const auto* p = sqlite3_column_text(stmt_, column);
  return p == nullptr ? std::string()
                      : std::string(reinterpret_cast<const char*>(p),
                                    static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}
std::string Statement::Blob(int column) const {
  const void* p = sqlite3_column_blob(stmt_, column);
  return p == nullptr ? std::string()
                      : std::string(static_cast<const char*>(p),
                                    static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}
bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

absl::StatusOr<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path,
                                                         const std::string& key) {
  if (!key.empty() && !EncryptionSupported()) {
    return absl::FailedPreconditionError(
        "this build of the client library has no encryption (crmsync_client_plain); "
        "link crmsync_client to open an encrypted store");
  }
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status s = FromCode(rc, "cannot open " + path, raw);
    sqlite3_close(raw);
    return s;
  }
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw));
  sqlite3_busy_timeout(raw, 5000);
#if CRMSYNC_CLIENT_ENCRYPTION
  if (!key.empty()) {
    if (sqlite3_key(raw, key.data(), static_cast<int>(key.size())) != SQLITE_OK) {
      return db->Error("cannot key the store");
    }
  }
#endif
  // The first read proves the key (or the absence of encryption).
  if (absl::Status s = db->Exec("SELECT count(*) FROM sqlite_master"); !s.ok()) {
    return absl::PermissionDeniedError(
        "cannot read the local store " + path +
        " (wrong key, missing key, or not a crmsync store): " + std::string(s.message()));
  }
  return db;
}

SqliteDb::~SqliteDb() {
  {
    absl::MutexLock lock(&idle_mu_);
    for (auto& [sql, stmt] : idle_) sqlite3_finalize(stmt);
    idle_.clear();
  }
  sqlite3_close(db_);
}

void SqliteDb::Recycle(std::string sql, sqlite3_stmt* stmt) {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  {
    absl::MutexLock lock(&idle_mu_);
    if (idle_.size() < kMaxIdle && idle_.emplace(std::move(sql), stmt).second) return;
  }
  sqlite3_finalize(stmt);  // another of the same SQL is kept already
}

absl::Status SqliteDb::Exec(std::string_view sql) {
  std::string copy(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, copy.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return FromCode(rc, "sqlite: " + msg + " in `" + copy.substr(0, 60) + "`", nullptr);
}

absl::StatusOr<Statement> SqliteDb::Prepare(std::string_view sql) {
  std::string text(sql);
  {
    absl::MutexLock lock(&idle_mu_);
    if (auto it = idle_.find(text); it != idle_.end()) {
      sqlite3_stmt* kept = it->second;
      idle_.erase(it);
      return Statement(this, db_, kept, std::move(text));
    }
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return FromCode(rc, "sqlite prepare `" + std::string(sql) + "`", db_);
  return Statement(this, db_, stmt, std::move(text));
}

int64_t SqliteDb::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
int SqliteDb::Changes() const { return sqlite3_changes(db_); }
absl::Status SqliteDb::Error(std::string_view what) const {
  return FromCode(sqlite3_errcode(db_), what, db_);
}

Transaction::Transaction(SqliteDb* db) : db_(db), begin_(db->Exec("BEGIN IMMEDIATE")) {}

Transaction::~Transaction() {
  if (begin_.ok() && !done_) (void)db_->Exec("ROLLBACK");
}

absl::Status Transaction::Commit() {
  if (!begin_.ok()) return begin_;
  absl::Status s = db_->Exec("COMMIT");
  if (s.ok()) done_ = true;
  return s;
}

}  // namespace crmsync::client::internal
