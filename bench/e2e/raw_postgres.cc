#include "raw_postgres.h"

#include <pqxx/pqxx>

#include <chrono>
#include <vector>

#include "leads.h"
#include "line_protocol.h"

namespace crmsync::bench::e2e {
namespace {

constexpr char kTenant[] = "t-bench";

// One row of the baseline, built as a server would build it from the
// request it received (inside the timed loop).
struct RawRow {
  std::string id;
  int entity_type = 0;
  int64_t version = 0;
  std::string state;
};

RawRow MakeRow(int64_t index) {
  v1::Mutation m = LeadCreate("raw", index, "u-bench-raw", "team-bench", "raw", index + 1, 0);
  v1::RecordState state;
  *state.mutable_ref() = m.record();
  *state.mutable_data() = m.values();
  state.set_version(index + 1);
  return {m.record().id(), static_cast<int>(m.record().entity_type()), index + 1,
          state.SerializeAsString()};
}

void CreateTable(pqxx::connection& conn, const std::string& table) {
  pqxx::work tx(conn);
  tx.exec0("CREATE TABLE " + table +
           " (tenant_id text, entity_type int, record_id text, version bigint, state bytea, "
           "PRIMARY KEY (tenant_id, entity_type, record_id))");
  tx.commit();
}

std::string OnConflict() {
  return " ON CONFLICT (tenant_id, entity_type, record_id) DO UPDATE SET version = "
         "EXCLUDED.version, state = EXCLUDED.state";
}

// "INSERT ... VALUES ($1, $n+1, ...), ..." for `rows` rows, with the
// parameters grouped by column.
std::string MultiRowInsert(const std::string& table, int rows) {
  std::string sql = "INSERT INTO " + table + " VALUES ";
  for (int r = 0; r < rows; ++r) {
    if (r > 0) sql += ", ";
    sql += "(";
    for (int c = 0; c < 5; ++c) {
      if (c > 0) sql += ", ";
      sql += "$" + std::to_string(c * rows + r + 1);
    }
    sql += ")";
  }
  return sql + OnConflict();
}

nlohmann::json Figures(int64_t records, int batch, double seconds) {
  return {{"rows", records},
          {"batch", batch},
          {"seconds", seconds},
          {"per_second", static_cast<double>(records) / seconds}};
}

double PerRow(pqxx::connection& conn, int64_t records, int batch) {
  CreateTable(conn, "raw_leads_per_row");
  conn.prepare("upsert_row",
               "INSERT INTO raw_leads_per_row VALUES ($1, $2, $3, $4, $5)" + OnConflict());
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < records; i += batch) {
    pqxx::work tx(conn);
    for (int64_t j = i; j < std::min(records, i + batch); ++j) {
      RawRow row = MakeRow(j);
      pqxx::binarystring blob(row.state.data(), row.state.size());
      tx.exec_prepared("upsert_row", kTenant, row.entity_type, row.id, row.version, blob);
    }
    tx.commit();
  }
  return Seconds(start, std::chrono::steady_clock::now());
}

double MultiRow(pqxx::connection& conn, int64_t records, int batch) {
  CreateTable(conn, "raw_leads_multi_row");
  conn.prepare("upsert_batch", MultiRowInsert("raw_leads_multi_row", batch));
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < records; i += batch) {
    const int n = static_cast<int>(std::min<int64_t>(batch, records - i));
    std::vector<std::string> tenants(n, kTenant), ids;
    std::vector<int> types;
    std::vector<int64_t> versions;
    std::vector<pqxx::binarystring> states;
    std::vector<RawRow> rows;
    for (int j = 0; j < n; ++j) rows.push_back(MakeRow(i + j));
    for (const RawRow& r : rows) {
      ids.push_back(r.id);
      types.push_back(r.entity_type);
      versions.push_back(r.version);
      states.emplace_back(r.state.data(), r.state.size());
    }
    pqxx::work tx(conn);
    auto params = [&] {
      return std::make_tuple(
          pqxx::prepare::make_dynamic_params(tenants), pqxx::prepare::make_dynamic_params(types),
          pqxx::prepare::make_dynamic_params(ids), pqxx::prepare::make_dynamic_params(versions),
          pqxx::prepare::make_dynamic_params(states));
    };
    if (n == batch) {
      std::apply([&](auto&&... p) { tx.exec_prepared("upsert_batch", p...); }, params());
    } else {
      std::apply(
          [&](auto&&... p) { tx.exec_params(MultiRowInsert("raw_leads_multi_row", n), p...); },
          params());
    }
    tx.commit();
  }
  return Seconds(start, std::chrono::steady_clock::now());
}

}  // namespace

absl::StatusOr<nlohmann::json> RawUpsertBaseline(const std::string& conninfo, int64_t records,
                                                 int batch) {
  try {
    pqxx::connection conn(conninfo);
    const double per_row = PerRow(conn, records, batch);
    const double multi_row = MultiRow(conn, records, batch);
    nlohmann::json out = {{"per_row", Figures(records, batch, per_row)},
                          {"multi_row", Figures(records, batch, multi_row)}};
    out["rows"] = records;
    out["seconds"] = multi_row;
    out["per_second"] = out["multi_row"]["per_second"];
    return out;
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("raw libpqxx upsert: ") + e.what());
  }
}

}  // namespace crmsync::bench::e2e
