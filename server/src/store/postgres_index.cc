// The record index (IndexKind) on PostgreSQL: SetIndexKeys and FindIndexed.
#include <algorithm>

#include <pqxx/binarystring>
#include <pqxx/result>

#include "store/pg_pool.h"
#include "store/postgres_change_log.h"
#include "store/postgres_sql.h"
#include "store/postgres_write_tx.h"
#include "store/store_codec.h"

namespace crmsync::server {

namespace codec = store_codec;

absl::StatusOr<std::vector<PgIndexedRow>> PgFindIndexedRows(
    pqxx::transaction_base& tx, const std::string& tenant_id, IndexKind kind,
    const std::vector<v1::EntityType>& types, const std::vector<KeyRange>& ranges) {
  std::vector<PgIndexedRow> out;
  if (ranges.empty() || types.empty()) return out;
  std::vector<int64_t> type_numbers;
  for (v1::EntityType type : types) type_numbers.push_back(static_cast<int64_t>(type));
  pqxx::result r;
  if (IndexKindHasRanges(kind)) {
    // The B-tree of geo cells and expiry times, one statement per kind.
    std::vector<int64_t> lo, hi;
    for (const KeyRange& range : ranges) {
      lo.push_back(range.lo);
      hi.push_back(range.hi);
    }
    r = tx.exec_prepared(
        kind == IndexKind::kGeoCell ? pg_sql::kIndexFindGeoCells : pg_sql::kIndexFindExpiries,
        tenant_id, pg_sql::IntArray(type_numbers), pg_sql::IntArray(lo), pg_sql::IntArray(hi));
  } else {
    // Single keys (CheckIndexQuery), through the hash index.
    std::vector<int64_t> keys;
    for (const KeyRange& range : ranges) keys.push_back(range.lo);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    r = tx.exec_prepared(pg_sql::kIndexFindKeys, tenant_id, static_cast<int>(kind),
                         pg_sql::IntArray(type_numbers), pg_sql::IntArray(keys));
  }
  out.reserve(r.size());
  for (const pqxx::row& row : r) {
    out.push_back(
        PgIndexedRow{row[0].as<int>(), row[1].as<std::string>(), pqxx::binarystring(row[2]).str()});
  }
  return out;
}

absl::StatusOr<std::vector<v1::RecordState>> PgFindIndexed(pqxx::transaction_base& tx,
                                                           const std::string& tenant_id,
                                                           IndexKind kind, v1::EntityType type,
                                                           const std::vector<KeyRange>& ranges,
                                                           int limit) {
  auto rows = PgFindIndexedRows(tx, tenant_id, kind, {type}, ranges);
  if (!rows.ok()) return rows.status();
  std::vector<v1::RecordState> out;
  out.reserve(rows->size());
  for (const PgIndexedRow& row : *rows) {
    v1::RecordState state;
    if (auto s = codec::DecodeState(row.state, &state); !s.ok()) return s;
    out.push_back(std::move(state));
  }
  codec::SortByVersion(&out, limit);
  return out;
}

absl::StatusOr<std::vector<v1::RecordState>> PostgresChangeLog::DoFindIndexed(
    const std::string& tenant_id, IndexKind kind, v1::EntityType type,
    const std::vector<KeyRange>& ranges, int limit) {
  std::vector<v1::RecordState> out;
  absl::Status status =
      pool_->RunAutocommit("reading the record index", [&](pqxx::transaction_base& tx) {
        auto found = PgFindIndexed(tx, tenant_id, kind, type, ranges, limit);
        if (!found.ok()) return found.status();
        out = std::move(*found);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return out;
}

}  // namespace crmsync::server
