#include "tables.h"

#include "crmsync/sync/geo.h"

#include "crmsync/sync/change.h"
#include "record_index.h"

namespace crmsync::client::internal {
namespace {

absl::StatusOr<v1::RecordState> ParseState(const std::string& bytes) {
  v1::RecordState state;
  if (!state.ParseFromString(bytes)) return absl::DataLossError("corrupt record blob");
  return state;
}

void BindOptionalInt(Statement* st, int i, const std::optional<int64_t>& v) {
  if (v) {
    st->Bind(i, *v);
  } else {
    st->BindNull(i);
  }
}
void BindOptionalDouble(Statement* st, int i, const std::optional<double>& v) {
  if (v) {
    st->Bind(i, *v);
  } else {
    st->BindNull(i);
  }
}

absl::StatusOr<std::optional<int64_t>> RowId(SqliteDb* db, const v1::RecordRef& ref) {
  auto st = db->Prepare("SELECT rowid FROM records WHERE entity_type=?1 AND id=?2");
  if (!st.ok()) return st.status();
  st->Bind(1, static_cast<int64_t>(ref.entity_type())).Bind(2, ref.id());
  if (st->Step()) return std::optional<int64_t>(st->Int(0));
  if (!st->status().ok()) return st->status();
  return std::optional<int64_t>();
}

}  // namespace

absl::StatusOr<std::optional<RecordRow>> LoadRow(SqliteDb* db, const v1::RecordRef& ref) {
  auto st =
      db->Prepare("SELECT server_state, local_state FROM records WHERE entity_type=?1 AND id=?2");
  if (!st.ok()) return st.status();
  st->Bind(1, static_cast<int64_t>(ref.entity_type())).Bind(2, ref.id());
  if (!st->Step()) {
    if (!st->status().ok()) return st->status();
    return std::optional<RecordRow>();
  }
  RecordRow row;
  if (!st->IsNull(0)) {
    auto s = ParseState(st->Blob(0));
    if (!s.ok()) return s.status();
    row.server = *std::move(s);
  }
  if (!st->IsNull(1)) {
    auto s = ParseState(st->Blob(1));
    if (!s.ok()) return s.status();
    row.local = *std::move(s);
  }
  return std::optional<RecordRow>(std::move(row));
}

absl::Status WriteRow(SqliteDb* db, const v1::RecordRef& ref, const RecordRow& row) {
  auto rowid = RowId(db, ref);
  if (!rowid.ok()) return rowid.status();
  if (*rowid) {
    auto del = db->Prepare("DELETE FROM record_text WHERE docid=?1");
    if (!del.ok()) return del.status();
    if (absl::Status s = del->Bind(1, **rowid).Run(); !s.ok()) return s;
    auto cells = db->Prepare("DELETE FROM geo_cells WHERE record=?1");
    if (!cells.ok()) return cells.status();
    if (absl::Status s = cells->Bind(1, **rowid).Run(); !s.ok()) return s;
  }
  if (!row.server && !row.local) {
    if (!*rowid) return absl::OkStatus();
    auto del = db->Prepare("DELETE FROM records WHERE rowid=?1");
    if (!del.ok()) return del.status();
    return del->Bind(1, **rowid).Run();
  }
  const bool visible = row.local && !row.local->deleted();
  RecordIndex ix = visible ? IndexOf(*row.local) : RecordIndex{};
  auto st = db->Prepare(
      *rowid ? "UPDATE records SET server_state=?3, local_state=?4, owner=?5, status=?6, "
               "name=?7, parent_id=?8, starts_at=?9, ends_at=?10, lat=?11, lon=?12, "
               "radius_m=?13, changed_ms=?14 WHERE entity_type=?1 AND id=?2"
             : "INSERT INTO records(entity_type, id, server_state, local_state, owner, status, "
               "name, parent_id, starts_at, ends_at, lat, lon, radius_m, changed_ms) "
               "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)");
  if (!st.ok()) return st.status();
  st->Bind(1, static_cast<int64_t>(ref.entity_type())).Bind(2, ref.id());
  if (row.server) {
    st->BindBlob(3, row.server->SerializeAsString());
  } else {
    st->BindNull(3);
  }
  if (visible) {
    st->BindBlob(4, row.local->SerializeAsString());
  } else {
    st->BindNull(4);
  }
  st->BindTextOrNull(5, ix.owner).Bind(6, ix.status).BindTextOrNull(7, ix.name);
  st->BindTextOrNull(8, ix.parent_id);
  BindOptionalInt(&*st, 9, ix.starts_at);
  BindOptionalInt(&*st, 10, ix.ends_at);
  BindOptionalDouble(&*st, 11, ix.lat);
  BindOptionalDouble(&*st, 12, ix.lon);
  st->Bind(13, ix.radius_m);
  if (visible) {
    st->Bind(14, ix.changed_ms);
  } else {
    st->BindNull(14);
  }
  if (absl::Status s = st->Run(); !s.ok()) return s;
  if (!visible) return absl::OkStatus();
  const int64_t id = *rowid ? **rowid : db->LastInsertRowId();
  if (absl::Status s = WriteGeoCells(db, id, *row.local); !s.ok()) return s;
  if (ix.text.empty()) return absl::OkStatus();
  auto fts = db->Prepare("INSERT INTO record_text(docid, body) VALUES(?1, ?2)");
  if (!fts.ok()) return fts.status();
  return fts->Bind(1, id).Bind(2, ix.text).Run();
}

absl::Status WriteGeoCells(SqliteDb* db, int64_t rowid, const v1::RecordState& visible) {
  if (!visible.data().has_coupon() || !visible.data().coupon().has_geofence()) {
    return absl::OkStatus();
  }
  for (sync::geo::CellId cell : sync::geo::CoverGeofence(visible.data().coupon().geofence())) {
    auto ins = db->Prepare("INSERT OR IGNORE INTO geo_cells(cell, record) VALUES(?1, ?2)");
    if (!ins.ok()) return ins.status();
    if (absl::Status s = ins->Bind(1, int64_t{cell}).Bind(2, rowid).Run(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::RecordState>> RebaseRow(
    SqliteDb* db, const v1::RecordRef& ref, const std::optional<v1::RecordState>& server) {
  auto pending = LoadOutboxFor(db, ref);
  if (!pending.ok()) return pending.status();
  std::optional<v1::RecordState> local;
  if (server && !server->deleted()) local = *server;
  for (const v1::Mutation& m : *pending) {
    v1::RecordState next = local ? *local : v1::RecordState();
    if (next.deleted() && m.operation() != v1::OPERATION_DELETE) continue;
    // A pending edit that no longer applies (e.g. the record is gone on the
    // server) stays queued; the server's answer decides its fate.
    if (!sync::ApplyMutationLocally(&next, m).ok()) continue;
    local = std::move(next);
  }
  if (local && local->deleted()) local.reset();
  RecordRow row{server, local};
  if (absl::Status s = WriteRow(db, ref, row); !s.ok()) return s;
  return local;
}

absl::StatusOr<std::vector<v1::RecordState>> CollectStates(Statement* stmt) {
  std::vector<v1::RecordState> out;
  while (stmt->Step()) {
    auto s = ParseState(stmt->Blob(0));
    if (!s.ok()) return s.status();
    out.push_back(*std::move(s));
  }
  if (!stmt->status().ok()) return stmt->status();
  return out;
}

absl::StatusOr<std::optional<std::string>> GetState(SqliteDb* db, const std::string& key) {
  auto st = db->Prepare("SELECT value FROM sync_state WHERE key=?1");
  if (!st.ok()) return st.status();
  st->Bind(1, key);
  if (st->Step()) return std::optional<std::string>(st->Blob(0));
  if (!st->status().ok()) return st->status();
  return std::optional<std::string>();
}

absl::Status SetState(SqliteDb* db, const std::string& key, const std::string& value) {
  auto st = db->Prepare("INSERT OR REPLACE INTO sync_state(key, value) VALUES(?1, ?2)");
  if (!st.ok()) return st.status();
  return st->Bind(1, key).BindBlob(2, value).Run();
}

absl::Status AppendOutbox(SqliteDb* db, const v1::Mutation& m) {
  auto st = db->Prepare(
      "INSERT INTO outbox(client_seq, entity_type, record_id, mutation) VALUES(?1,?2,?3,?4)");
  if (!st.ok()) return st.status();
  st->Bind(1, m.client_seq())
      .Bind(2, static_cast<int64_t>(m.record().entity_type()))
      .Bind(3, m.record().id())
      .BindBlob(4, m.SerializeAsString());
  return st->Run();
}

absl::StatusOr<std::vector<PendingMutation>> LoadOutbox(SqliteDb* db, int limit) {
  auto st = db->Prepare("SELECT client_seq, mutation FROM outbox ORDER BY client_seq LIMIT ?1");
  if (!st.ok()) return st.status();
  st->Bind(1, static_cast<int64_t>(limit > 0 ? limit : -1));
  std::vector<PendingMutation> out;
  while (st->Step()) {
    PendingMutation p;
    p.client_seq = st->Int(0);
    if (!p.mutation.ParseFromString(st->Blob(1))) return absl::DataLossError("corrupt outbox");
    out.push_back(std::move(p));
  }
  if (!st->status().ok()) return st->status();
  return out;
}

absl::StatusOr<std::vector<v1::Mutation>> LoadOutboxFor(SqliteDb* db, const v1::RecordRef& ref) {
  auto st = db->Prepare(
      "SELECT mutation FROM outbox WHERE entity_type=?1 AND record_id=?2 ORDER BY client_seq");
  if (!st.ok()) return st.status();
  st->Bind(1, static_cast<int64_t>(ref.entity_type())).Bind(2, ref.id());
  std::vector<v1::Mutation> out;
  while (st->Step()) {
    v1::Mutation m;
    if (!m.ParseFromString(st->Blob(0))) return absl::DataLossError("corrupt outbox");
    out.push_back(std::move(m));
  }
  if (!st->status().ok()) return st->status();
  return out;
}

absl::Status RemoveOutbox(SqliteDb* db, int64_t client_seq) {
  auto st = db->Prepare("DELETE FROM outbox WHERE client_seq=?1");
  if (!st.ok()) return st.status();
  return st->Bind(1, client_seq).Run();
}

absl::StatusOr<int64_t> CountOutbox(SqliteDb* db) {
  auto st = db->Prepare("SELECT count(*) FROM outbox");
  if (!st.ok()) return st.status();
  if (!st->Step()) return st->status().ok() ? absl::InternalError("no count") : st->status();
  return st->Int(0);
}

absl::Status AddNotice(SqliteDb* db, const Notice& n) {
  auto st = db->Prepare(
      "INSERT INTO notices(kind, entity_type, record_id, client_seq, message, at_ms) "
      "VALUES(?1,?2,?3,?4,?5,?6)");
  if (!st.ok()) return st.status();
  st->Bind(1, n.kind)
      .Bind(2, static_cast<int64_t>(n.record.entity_type()))
      .Bind(3, n.record.id())
      .Bind(4, n.client_seq)
      .Bind(5, n.message)
      .Bind(6, n.at_ms);
  if (absl::Status s = st->Run(); !s.ok()) return s;
  const int64_t notice_id = db->LastInsertRowId();
  for (const std::string& conflict_id : n.conflict_ids) {
    auto link =
        db->Prepare("INSERT OR IGNORE INTO notice_conflicts(conflict_id, notice_id) VALUES(?1,?2)");
    if (!link.ok()) return link.status();
    link->Bind(1, conflict_id).Bind(2, notice_id);
    if (absl::Status s = link->Run(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status SettleConflictNotices(SqliteDb* db, const std::string& conflict_id) {
  auto linked = db->Prepare("SELECT notice_id FROM notice_conflicts WHERE conflict_id=?1");
  if (!linked.ok()) return linked.status();
  linked->Bind(1, conflict_id);
  std::vector<int64_t> notices;
  while (linked->Step()) notices.push_back(linked->Int(0));
  if (!linked->status().ok()) return linked->status();
  if (notices.empty()) return absl::OkStatus();
  auto unlink = db->Prepare("DELETE FROM notice_conflicts WHERE conflict_id=?1");
  if (!unlink.ok()) return unlink.status();
  unlink->Bind(1, conflict_id);
  if (absl::Status s = unlink->Run(); !s.ok()) return s;
  for (int64_t id : notices) {
    // Only once no other open conflict of the same edit remains.
    auto drop = db->Prepare(
        "DELETE FROM notices WHERE id=?1 AND NOT EXISTS "
        "(SELECT 1 FROM notice_conflicts WHERE notice_id=?1)");
    if (!drop.ok()) return drop.status();
    drop->Bind(1, id);
    if (absl::Status s = drop->Run(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace crmsync::client::internal
