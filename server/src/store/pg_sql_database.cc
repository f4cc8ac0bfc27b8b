#include "store/pg_sql_database.h"

#include "store/postgres_sql.h"

#include <pqxx/binarystring>
#include <pqxx/prepared_statement>
#include <pqxx/result>

namespace crmsync::server {

namespace {

// bytea's text input form: \x and the bytes in hex.
std::string HexBytea(const std::string& bytes) {
  std::string out = "\\x";
  pg_sql::AppendHex(bytes, &out);
  return out;
}

std::vector<std::string> TextParams(const std::vector<SqlParam>& params) {
  std::vector<std::string> out;
  out.reserve(params.size());
  for (const SqlParam& p : params) {
    switch (p.type()) {
      case SqlParam::Type::kInt: out.push_back(std::to_string(p.int_value())); break;
      case SqlParam::Type::kBool: out.push_back(p.int_value() != 0 ? "t" : "f"); break;
      case SqlParam::Type::kText: out.push_back(p.bytes()); break;
      case SqlParam::Type::kBlob: out.push_back(HexBytea(p.bytes())); break;
    }
  }
  return out;
}

class PgRow final : public SqlRow {
 public:
  explicit PgRow(const pqxx::row& row) : row_(row) {}
  int64_t Int(int column) const override { return row_[column].as<int64_t>(); }
  std::string Text(int column) const override { return row_[column].as<std::string>(); }
  std::string Blob(int column) const override { return pqxx::binarystring(row_[column]).str(); }
  bool Bool(int column) const override { return row_[column].as<bool>(); }
  bool IsNull(int column) const override { return row_[column].is_null(); }

 private:
  const pqxx::row& row_;
};

class PgSession final : public SqlSession {
 public:
  explicit PgSession(pqxx::transaction_base& tx) : tx_(tx) {}

  absl::StatusOr<int64_t> Exec(const SqlStatement& statement,
                               const std::vector<SqlParam>& params) override {
    pqxx::result r = Execute(statement, params);
    return static_cast<int64_t>(r.affected_rows());
  }

  absl::Status Query(const SqlStatement& statement, const std::vector<SqlParam>& params,
                     const std::function<absl::Status(const SqlRow&)>& on_row) override {
    pqxx::result r = Execute(statement, params);
    for (const pqxx::row& row : r) {
      if (absl::Status s = on_row(PgRow(row)); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  // Throws libpqxx exceptions; PgPool::RunAutocommit turns them into statuses.
  pqxx::result Execute(const SqlStatement& statement, const std::vector<SqlParam>& params) {
    // Registers the statement on this connection (a no-op once it is, as the
    // definition never changes); PostgreSQL prepares it on first execution.
    tx_.conn().prepare(statement.name, statement.sql);
    const std::vector<std::string> text = TextParams(params);
    return tx_.exec_prepared(statement.name, pqxx::prepare::make_dynamic_params(text));
  }

  pqxx::transaction_base& tx_;
};

}  // namespace

absl::Status PgSqlDatabase::Run(const char* what,
                                const std::function<absl::Status(SqlSession&)>& work,
                                Durability durability) {
  auto in_session = [&](pqxx::transaction_base& tx) {
    PgSession session(tx);
    return work(session);
  };
  if (durability == Durability::kRelaxed) return pool_->RunRelaxedCommit(what, in_session);
  return pool_->RunAutocommit(what, in_session);
}

}  // namespace crmsync::server
