// The record index (IndexKind) on SQLite: SetIndexKeys and FindIndexed.
#include <unordered_set>

#include "store/sqlite_change_log.h"
#include "store/sqlite_write_tx.h"
#include "store/store_codec.h"

namespace crmsync::server {

namespace codec = store_codec;

absl::StatusOr<std::vector<v1::RecordState>> SqliteFindIndexed(SqliteDb& db,
                                                               const std::string& tenant_id,
                                                               IndexKind kind, v1::EntityType type,
                                                               const std::vector<KeyRange>& ranges,
                                                               int limit) {
  std::vector<v1::RecordState> out;
  if (ranges.empty()) return out;
  // One statement: the ranges as a VALUES table walked by the primary key
  // of the index (both bounds of each range used), records fetched by id.
  std::string sql =
      "SELECT r.state FROM records r WHERE r.tenant_id = ?1 AND r.entity_type = ?3 AND "
      "r.record_id IN (WITH q(lo, hi) AS (VALUES ";
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (i > 0) sql += ", ";
    sql += "(?" + std::to_string(4 + 2 * i) + ", ?" + std::to_string(5 + 2 * i) + ")";
  }
  sql +=
      ") SELECT i.record_id FROM q CROSS JOIN record_index i ON i.tenant_id = ?1 AND "
      "i.kind = ?2 AND i.entity_type = ?3 AND i.key BETWEEN q.lo AND q.hi)";
  auto stmt = db.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant_id).Bind(2, int64_t{static_cast<int>(kind)}).Bind(3, int64_t{type});
  for (size_t i = 0; i < ranges.size(); ++i) {
    stmt->Bind(static_cast<int>(4 + 2 * i), ranges[i].lo)
        .Bind(static_cast<int>(5 + 2 * i), ranges[i].hi);
  }
  std::unordered_set<std::string> seen;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    v1::RecordState state;
    if (auto s = codec::DecodeState(stmt->ColumnBlob(0), &state); !s.ok()) return s;
    if (!seen.insert(state.ref().id()).second) continue;
    out.push_back(std::move(state));
  }
  codec::SortByVersion(&out, limit);
  return out;
}

absl::Status SqliteWriteTx::DoSetIndexKeys(const v1::RecordRef& ref, IndexKind kind,
                                           const std::vector<int64_t>& keys) {
  if (!failure_.ok()) return failure_;
  auto del = db_.Prepare(
      "DELETE FROM record_index WHERE tenant_id = ?1 AND entity_type = ?2 AND record_id = ?3 "
      "AND kind = ?4");
  if (!del.ok()) return Note(del.status());
  del->Bind(1, tenant_id_).Bind(2, int64_t{ref.entity_type()}).Bind(3, ref.id());
  del->Bind(4, int64_t{static_cast<int>(kind)});
  if (auto s = del->Run(); !s.ok()) return Note(s);
  if (keys.empty()) return absl::OkStatus();
  auto ins = db_.Prepare(
      "INSERT OR IGNORE INTO record_index (tenant_id, kind, entity_type, key, record_id) "
      "VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!ins.ok()) return Note(ins.status());
  for (int64_t key : keys) {
    ins->Reset();
    ins->Bind(1, tenant_id_).Bind(2, int64_t{static_cast<int>(kind)});
    ins->Bind(3, int64_t{ref.entity_type()}).Bind(4, key).Bind(5, ref.id());
    if (auto s = ins->Run(); !s.ok()) return Note(s);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::RecordState>> SqliteWriteTx::DoFindIndexed(
    IndexKind kind, v1::EntityType type, const std::vector<KeyRange>& ranges, int limit) {
  if (!failure_.ok()) return failure_;
  auto found = SqliteFindIndexed(db_, tenant_id_, kind, type, ranges, limit);
  if (!found.ok() && found.status().code() != absl::StatusCode::kInvalidArgument) {
    return Note(found.status());
  }
  return found;
}

absl::StatusOr<std::vector<v1::RecordState>> SqliteChangeLog::DoFindIndexed(
    const std::string& tenant_id, IndexKind kind, v1::EntityType type,
    const std::vector<KeyRange>& ranges, int limit) {
  auto db = pool_->Acquire();
  if (!db.ok()) return db.status();
  return SqliteFindIndexed(**db, tenant_id, kind, type, ranges, limit);
}

}  // namespace crmsync::server
