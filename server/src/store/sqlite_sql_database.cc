#include "store/sqlite_sql_database.h"

#include <cctype>

namespace crmsync::server {

namespace {

// `$n` -> `?n` (the SQL holds no other `$`).
std::string SqliteSql(const char* sql) {
  std::string out(sql);
  for (size_t i = 0; i + 1 < out.size(); ++i) {
    if (out[i] == '$' && std::isdigit(static_cast<unsigned char>(out[i + 1]))) out[i] = '?';
  }
  return out;
}

class SqliteRow final : public SqlRow {
 public:
  explicit SqliteRow(const SqliteStmt& stmt) : stmt_(stmt) {}
  int64_t Int(int column) const override { return stmt_.ColumnInt(column); }
  std::string Text(int column) const override { return stmt_.ColumnText(column); }
  std::string Blob(int column) const override { return stmt_.ColumnBlob(column); }
  bool Bool(int column) const override { return stmt_.ColumnInt(column) != 0; }
  bool IsNull(int column) const override { return stmt_.ColumnIsNull(column); }

 private:
  const SqliteStmt& stmt_;
};

class SqliteSession final : public SqlSession {
 public:
  explicit SqliteSession(SqliteDb& db) : db_(db) {}

  absl::StatusOr<int64_t> Exec(const SqlStatement& statement,
                               const std::vector<SqlParam>& params) override {
    auto stmt = Bound(statement, params);
    if (!stmt.ok()) return stmt.status();
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
    return db_.Changes();
  }

  absl::Status Query(const SqlStatement& statement, const std::vector<SqlParam>& params,
                     const std::function<absl::Status(const SqlRow&)>& on_row) override {
    auto stmt = Bound(statement, params);
    if (!stmt.ok()) return stmt.status();
    while (true) {
      auto more = stmt->Step();
      if (!more.ok()) return more.status();
      if (!*more) return absl::OkStatus();
      if (absl::Status s = on_row(SqliteRow(*stmt)); !s.ok()) return s;
    }
  }

 private:
  absl::StatusOr<SqliteStmt> Bound(const SqlStatement& statement,
                                   const std::vector<SqlParam>& params) {
    auto stmt = db_.Prepare(SqliteSql(statement.sql));
    if (!stmt.ok()) return stmt.status();
    for (size_t i = 0; i < params.size(); ++i) {
      const int index = static_cast<int>(i) + 1;
      const SqlParam& p = params[i];
      switch (p.type()) {
        case SqlParam::Type::kInt:
        case SqlParam::Type::kBool: stmt->Bind(index, p.int_value()); break;
        case SqlParam::Type::kText: stmt->Bind(index, p.bytes()); break;
        case SqlParam::Type::kBlob: stmt->BindBlob(index, p.bytes()); break;
      }
    }
    return stmt;
  }

  SqliteDb& db_;
};

}  // namespace

absl::Status SqliteSqlDatabase::Run(const char* what,
                                    const std::function<absl::Status(SqlSession&)>& work,
                                    Durability durability) {
  (void)what;  // SQLite's messages say what failed; nothing is retried here
  auto db = pool_->Acquire();
  if (!db.ok()) return db.status();
  SqliteSession session(**db);
  if (durability == Durability::kDurable) return work(session);
  // In WAL mode, NORMAL appends the commit to the log without syncing it;
  // the next FULL commit's sync covers it. Every connection is FULL
  // otherwise (sqlite_db.cc), so it is set back whatever `work` did.
  if (absl::Status s = (*db)->Exec("PRAGMA synchronous=NORMAL"); !s.ok()) return s;
  absl::Status status = work(session);
  absl::Status restored = (*db)->Exec("PRAGMA synchronous=FULL");
  if (!restored.ok()) {
    db->Discard();
    if (status.ok()) return restored;
  }
  return status;
}

}  // namespace crmsync::server
