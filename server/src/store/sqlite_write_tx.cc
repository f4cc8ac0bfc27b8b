#include "store/sqlite_write_tx.h"

#include <algorithm>

#include "store/store_codec.h"

namespace crmsync::server {

namespace codec = store_codec;

absl::Status SqliteWriteTx::Note(absl::Status status) {
  if (!status.ok() && failure_.ok()) failure_ = status;
  return status;
}

absl::StatusOr<int64_t> SqliteWriteTx::DoNextSeq() {
  if (!failure_.ok()) return failure_;
  if (last_seq_ == 0) {
    auto stmt = db_.Prepare("SELECT latest_seq FROM tenant_seq WHERE tenant_id = ?1");
    if (!stmt.ok()) return Note(stmt.status());
    stmt->Bind(1, tenant_id_);
    auto row = stmt->Step();
    if (!row.ok()) return Note(row.status());
    if (!*row) return absl::InternalError("tenant sequence row missing inside a write transaction");
    first_seq_ = stmt->ColumnInt(0) + 1;
    last_seq_ = first_seq_;
    return last_seq_;
  }
  return ++last_seq_;
}

absl::Status SqliteWriteTx::Finish() {
  if (!failure_.ok()) return failure_;
  if (last_seq_ == 0) return absl::OkStatus();
  auto stmt = db_.Prepare("UPDATE tenant_seq SET latest_seq = ?2 WHERE tenant_id = ?1");
  if (!stmt.ok()) return Note(stmt.status());
  stmt->Bind(1, tenant_id_).Bind(2, last_seq_);
  return Note(stmt->Run());
}

absl::Status SqliteWriteTx::DoPrefetch(const std::vector<v1::RecordRef>& refs,
                                       const std::string& device_id,
                                       const std::vector<int64_t>& client_seqs) {
  (void)refs;
  (void)device_id;
  (void)client_seqs;
  return failure_;
}

absl::StatusOr<std::optional<v1::RecordState>> SqliteWriteTx::DoGetRecord(
    const v1::RecordRef& ref) {
  if (!failure_.ok()) return failure_;
  auto stmt = db_.Prepare(
      "SELECT state FROM records WHERE tenant_id = ?1 AND entity_type = ?2 AND record_id = ?3");
  if (!stmt.ok()) return Note(stmt.status());
  stmt->Bind(1, tenant_id_).Bind(2, int64_t{ref.entity_type()}).Bind(3, ref.id());
  auto row = stmt->Step();
  if (!row.ok()) return Note(row.status());
  if (!*row) return std::optional<v1::RecordState>();
  v1::RecordState state;
  if (auto s = codec::DecodeState(stmt->ColumnBlob(0), &state); !s.ok()) return s;
  return std::optional<v1::RecordState>(std::move(state));
}

absl::Status SqliteWriteTx::DoPutRecord(const v1::RecordState& state,
                                        const v1::ScopeKeys* previous_scope) {
  if (!failure_.ok()) return failure_;
  if (first_seq_ == 0 || state.version() < first_seq_ || state.version() > last_seq_) {
    return absl::InvalidArgumentError("record version " + std::to_string(state.version()) +
                                      " was not allocated by NextSeq in this transaction");
  }
  const int64_t type = state.ref().entity_type();
  if (previous_scope != nullptr) {
    // The first previous scope recorded for a version is the one before it.
    auto hist = db_.Prepare(
        "INSERT INTO scope_history (tenant_id, entity_type, record_id, version, scope) "
        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING");
    if (!hist.ok()) return Note(hist.status());
    hist->Bind(1, tenant_id_).Bind(2, type).Bind(3, state.ref().id()).Bind(4, state.version());
    hist->BindBlob(5, codec::Encode(*previous_scope));
    if (auto s = hist->Run(); !s.ok()) return Note(s);
  }
  auto stmt = db_.Prepare(
      "INSERT INTO records (tenant_id, entity_type, record_id, version, created_version, deleted, "
      "owner_user_id, team_id, scope_changed_version, state) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
      "ON CONFLICT (tenant_id, entity_type, record_id) DO UPDATE SET "
      "version = excluded.version, "
      "created_version = CASE WHEN ?11 > 0 THEN ?11 ELSE records.created_version END, "
      "deleted = excluded.deleted, owner_user_id = excluded.owner_user_id, "
      "team_id = excluded.team_id, "
      "scope_changed_version = max(records.scope_changed_version, excluded.scope_changed_version), "
      "state = excluded.state");
  if (!stmt.ok()) return Note(stmt.status());
  const int64_t created = state.created_version() > 0 ? state.created_version() : state.version();
  stmt->Bind(1, tenant_id_).Bind(2, type).Bind(3, state.ref().id()).Bind(4, state.version());
  stmt->Bind(5, created).Bind(6, int64_t{state.deleted() ? 1 : 0});
  stmt->Bind(7, state.scope().owner_user_id()).Bind(8, state.scope().team_id());
  stmt->Bind(9, previous_scope != nullptr ? state.version() : int64_t{0});
  stmt->BindBlob(10, codec::EncodeState(state)).Bind(11, state.created_version());
  return Note(stmt->Run());
}

absl::StatusOr<std::optional<AppliedMutation>> SqliteWriteTx::DoGetApplied(
    const std::string& device_id, int64_t client_seq) {
  if (!failure_.ok()) return failure_;
  auto stmt = db_.Prepare(
      "SELECT payload_hash, result FROM applied_mutations "
      "WHERE tenant_id = ?1 AND device_id = ?2 AND client_seq = ?3");
  if (!stmt.ok()) return Note(stmt.status());
  stmt->Bind(1, tenant_id_).Bind(2, device_id).Bind(3, client_seq);
  auto row = stmt->Step();
  if (!row.ok()) return Note(row.status());
  if (!*row) return std::optional<AppliedMutation>();
  AppliedMutation applied;
  applied.device_id = device_id;
  applied.client_seq = client_seq;
  applied.payload_hash = stmt->ColumnBlob(0);
  if (auto s = codec::Decode(stmt->ColumnBlob(1), &applied.result, "mutation result"); !s.ok()) {
    return s;
  }
  return std::optional<AppliedMutation>(std::move(applied));
}

absl::Status SqliteWriteTx::DoPutApplied(const AppliedMutation& applied) {
  if (!failure_.ok()) return failure_;
  auto stmt = db_.Prepare(
      "INSERT INTO applied_mutations (tenant_id, device_id, client_seq, payload_hash, result) "
      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING");
  if (!stmt.ok()) return Note(stmt.status());
  stmt->Bind(1, tenant_id_).Bind(2, applied.device_id).Bind(3, applied.client_seq);
  stmt->BindBlob(4, applied.payload_hash).BindBlob(5, codec::Encode(applied.result));
  if (auto s = stmt->Run(); !s.ok()) return Note(s);
  // A duplicate is reported without poisoning the transaction.
  if (db_.Changes() == 0) {
    return absl::AlreadyExistsError("mutation " + std::to_string(applied.client_seq) +
                                    " of device " + applied.device_id + " is already applied");
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SqliteWriteTx::DoAddToClaim(const std::string& key, int64_t delta) {
  if (!failure_.ok()) return failure_;
  auto stmt = db_.Prepare(
      "INSERT INTO claims (tenant_id, claim_key, value) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (tenant_id, claim_key) DO UPDATE SET value = claims.value + excluded.value "
      "RETURNING value");
  if (!stmt.ok()) return Note(stmt.status());
  stmt->Bind(1, tenant_id_).Bind(2, key).Bind(3, delta);
  auto row = stmt->Step();
  if (!row.ok()) return Note(row.status());
  if (!*row) return absl::InternalError("claim upsert returned no row");
  const int64_t value = stmt->ColumnInt(0);
  if (auto s = stmt->Run(); !s.ok()) return Note(s);
  return value;
}

absl::StatusOr<int64_t> SqliteWriteTx::DoGetClaim(const std::string& key) {
  if (!failure_.ok()) return failure_;
  auto stmt = db_.Prepare("SELECT value FROM claims WHERE tenant_id = ?1 AND claim_key = ?2");
  if (!stmt.ok()) return Note(stmt.status());
  stmt->Bind(1, tenant_id_).Bind(2, key);
  auto row = stmt->Step();
  if (!row.ok()) return Note(row.status());
  return *row ? stmt->ColumnInt(0) : int64_t{0};
}

absl::StatusOr<std::vector<ClaimRow>> SqliteWriteTx::DoListClaims(const std::string& prefix,
                                                                  const std::string& after_key,
                                                                  int limit) {
  if (!failure_.ok()) return failure_;
  // Keys compare bytewise (BINARY collation), as the header promises.
  auto stmt = db_.Prepare(
      "SELECT claim_key, value FROM claims WHERE tenant_id = ?1 "
      "AND substr(claim_key, 1, length(?2)) = ?2 AND claim_key > ?3 "
      "ORDER BY claim_key LIMIT ?4");
  if (!stmt.ok()) return Note(stmt.status());
  stmt->Bind(1, tenant_id_).Bind(2, prefix).Bind(3, after_key).Bind(4, int64_t{limit});
  std::vector<ClaimRow> rows;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return Note(row.status());
    if (!*row) break;
    rows.push_back(ClaimRow{stmt->ColumnText(0), stmt->ColumnInt(1)});
  }
  return rows;
}

absl::StatusOr<int64_t> SqliteWriteTx::DoDeleteClaims(const std::vector<std::string>& keys) {
  if (!failure_.ok()) return failure_;
  int64_t removed = 0;
  for (const std::string& key : keys) {
    auto stmt = db_.Prepare("DELETE FROM claims WHERE tenant_id = ?1 AND claim_key = ?2");
    if (!stmt.ok()) return Note(stmt.status());
    stmt->Bind(1, tenant_id_).Bind(2, key);
    if (auto s = stmt->Run(); !s.ok()) return Note(s);
    removed += db_.Changes();
  }
  return removed;
}

absl::StatusOr<AppliedFloor> SqliteWriteTx::DoRaiseAppliedFloor(const std::string& device_id,
                                                                int64_t through) {
  if (!failure_.ok()) return failure_;
  AppliedFloor result;
  auto floor =
      db_.Prepare("SELECT floor_seq FROM applied_floors WHERE tenant_id = ?1 AND device_id = ?2");
  if (!floor.ok()) return Note(floor.status());
  floor->Bind(1, tenant_id_).Bind(2, device_id);
  auto row = floor->Step();
  if (!row.ok()) return Note(row.status());
  const int64_t old_floor = *row ? floor->ColumnInt(0) : 0;
  if (through == kThroughHighestApplied) {
    auto highest = db_.Prepare(
        "SELECT coalesce(max(client_seq), 0) FROM applied_mutations "
        "WHERE tenant_id = ?1 AND device_id = ?2");
    if (!highest.ok()) return Note(highest.status());
    highest->Bind(1, tenant_id_).Bind(2, device_id);
    auto h = highest->Step();
    if (!h.ok()) return Note(h.status());
    through = *h ? highest->ColumnInt(0) : 0;
  }
  result.floor = std::max(old_floor, through);
  if (result.floor == old_floor) {
    return result;  // rows at or below the floor went when it was raised
  }
  // The floor first: it and the deletion commit together or not at all.
  auto raise = db_.Prepare(
      "INSERT INTO applied_floors (tenant_id, device_id, floor_seq) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (tenant_id, device_id) DO UPDATE SET floor_seq = excluded.floor_seq");
  if (!raise.ok()) return Note(raise.status());
  raise->Bind(1, tenant_id_).Bind(2, device_id).Bind(3, result.floor);
  if (auto s = raise->Run(); !s.ok()) return Note(s);
  auto del = db_.Prepare(
      "DELETE FROM applied_mutations WHERE tenant_id = ?1 AND device_id = ?2 "
      "AND client_seq <= ?3");
  if (!del.ok()) return Note(del.status());
  del->Bind(1, tenant_id_).Bind(2, device_id).Bind(3, result.floor);
  if (auto s = del->Run(); !s.ok()) return Note(s);
  result.rows_removed = db_.Changes();
  return result;
}

absl::StatusOr<int64_t> SqliteWriteTx::Prune(int64_t horizon) {
  if (!failure_.ok()) return failure_;
  auto latest = db_.Prepare("SELECT latest_seq FROM tenant_seq WHERE tenant_id = ?1");
  if (!latest.ok()) return Note(latest.status());
  latest->Bind(1, tenant_id_);
  auto row = latest->Step();
  if (!row.ok()) return Note(row.status());
  const int64_t latest_seq = *row ? latest->ColumnInt(0) : 0;
  if (horizon < 0 || horizon > latest_seq) {
    return absl::InvalidArgumentError("prune horizon " + std::to_string(horizon) +
                                      " is outside [0, latest sequence " +
                                      std::to_string(latest_seq) + "]");
  }
  int64_t removed = 0;
  for (const char* sql :
       {"DELETE FROM records WHERE tenant_id = ?1 AND deleted = 1 AND version <= ?2",
        "DELETE FROM scope_history WHERE tenant_id = ?1 AND version <= ?2",
        "UPDATE tenant_seq SET pruned_through = max(pruned_through, ?2) WHERE tenant_id = ?1"}) {
    auto stmt = db_.Prepare(sql);
    if (!stmt.ok()) return Note(stmt.status());
    stmt->Bind(1, tenant_id_).Bind(2, horizon);
    if (auto s = stmt->Run(); !s.ok()) return Note(s);
    if (std::string(sql).rfind("DELETE", 0) == 0) removed += db_.Changes();
  }
  return removed;
}

absl::Status SqliteWriteTx::DoAddFieldHistory(const v1::RecordRef& ref,
                                              std::vector<FieldHistoryRow> rows) {
  if (!failure_.ok()) return failure_;
  auto stmt = db_.Prepare(
      "INSERT INTO field_history (tenant_id, entity_type, record_id, path, version, entry) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant_id, entity_type, record_id, path, "
      "version) DO UPDATE SET entry = excluded.entry");
  if (!stmt.ok()) return Note(stmt.status());
  for (const FieldHistoryRow& row : rows) {
    stmt->Reset();
    stmt->Bind(1, tenant_id_).Bind(2, static_cast<int64_t>(ref.entity_type())).Bind(3, ref.id());
    stmt->Bind(4, row.path).Bind(5, row.version);
    stmt->BindBlob(6, row.entry);
    if (auto s = stmt->Run(); !s.ok()) return Note(s);
  }
  return absl::OkStatus();
}

absl::Status SqliteWriteTx::DoDropFieldHistory(const v1::RecordRef& ref) {
  if (!failure_.ok()) return failure_;
  auto stmt = db_.Prepare(
      "DELETE FROM field_history WHERE tenant_id = ?1 AND entity_type = ?2 AND record_id = ?3");
  if (!stmt.ok()) return Note(stmt.status());
  stmt->Bind(1, tenant_id_).Bind(2, static_cast<int64_t>(ref.entity_type())).Bind(3, ref.id());
  if (auto s = stmt->Run(); !s.ok()) return Note(s);
  return absl::OkStatus();
}

}  // namespace crmsync::server
