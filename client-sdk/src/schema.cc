// Schema creation; SQL limited to what SQLCipher 3.4's SQLite 3.15 core
// supports (no UPSERT, no RETURNING, FTS4 not FTS5).
#include "tables.h"

namespace crmsync::client::internal {

namespace {

absl::Status CreateTables(SqliteDb* db) {
  return db->Exec(R"sql(
    CREATE TABLE IF NOT EXISTS records(
      entity_type INTEGER NOT NULL,
      id TEXT NOT NULL,
      server_state BLOB,
      local_state BLOB,
      owner TEXT,
      status INTEGER,
      name TEXT,
      parent_id TEXT,
      starts_at INTEGER,
      ends_at INTEGER,
      lat REAL,
      lon REAL,
      radius_m REAL,
      changed_ms INTEGER,
      PRIMARY KEY(entity_type, id));
    CREATE INDEX IF NOT EXISTS records_owner ON records(entity_type, owner, status);
    CREATE INDEX IF NOT EXISTS records_parent ON records(entity_type, parent_id);
    CREATE INDEX IF NOT EXISTS records_time ON records(entity_type, starts_at);
    CREATE INDEX IF NOT EXISTS records_geo ON records(entity_type, lat, lon);
    CREATE INDEX IF NOT EXISTS records_radius ON records(entity_type, radius_m);
    CREATE INDEX IF NOT EXISTS records_changed ON records(changed_ms);
    CREATE VIRTUAL TABLE IF NOT EXISTS record_text USING fts4(body);
    CREATE TABLE IF NOT EXISTS outbox(
      client_seq INTEGER PRIMARY KEY,
      entity_type INTEGER NOT NULL,
      record_id TEXT NOT NULL,
      mutation BLOB NOT NULL);
    CREATE INDEX IF NOT EXISTS outbox_record ON outbox(entity_type, record_id);
    CREATE TABLE IF NOT EXISTS recovery(
      entity_type INTEGER NOT NULL, id TEXT NOT NULL, state BLOB NOT NULL,
      PRIMARY KEY(entity_type, id));
    CREATE TABLE IF NOT EXISTS reset_stale(
      entity_type INTEGER NOT NULL,
      id TEXT NOT NULL,
      PRIMARY KEY(entity_type, id));
    CREATE TABLE IF NOT EXISTS sync_state(key TEXT PRIMARY KEY, value BLOB);
    CREATE TABLE IF NOT EXISTS notices(
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      kind TEXT NOT NULL,
      entity_type INTEGER,
      record_id TEXT,
      client_seq INTEGER,
      message TEXT,
      at_ms INTEGER);
    CREATE TABLE IF NOT EXISTS notice_conflicts(
      conflict_id TEXT NOT NULL,
      notice_id INTEGER NOT NULL,
      PRIMARY KEY(conflict_id, notice_id));
  )sql");
}

// Geo cells of coupon geofences (sync/geo.h), keyed by the records rowid;
// filled for coupons held before the table existed.
absl::Status CreateGeoCells(SqliteDb* db) {
  auto exists = db->Prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name='geo_cells'");
  if (!exists.ok()) return exists.status();
  const bool had = exists->Step();
  if (!exists->status().ok()) return exists->status();
  if (had) return absl::OkStatus();
  if (absl::Status s = db->Exec(R"sql(
    CREATE TABLE geo_cells(
      cell INTEGER NOT NULL,
      record INTEGER NOT NULL,
      PRIMARY KEY(cell, record)) WITHOUT ROWID;
    CREATE INDEX geo_cells_record ON geo_cells(record);
  )sql");
      !s.ok()) {
    return s;
  }
  auto coupons = db->Prepare(
      "SELECT rowid, local_state FROM records WHERE entity_type=?1 AND local_state IS NOT NULL");
  if (!coupons.ok()) return coupons.status();
  coupons->Bind(1, static_cast<int64_t>(v1::ENTITY_TYPE_COUPON));
  while (coupons->Step()) {
    v1::RecordState state;
    if (!state.ParseFromString(coupons->Blob(1))) return absl::DataLossError("corrupt record blob");
    if (absl::Status s = WriteGeoCells(db, coupons->Int(0), state); !s.ok()) return s;
  }
  return coupons->status();
}

// records.changed_ms (Database::ChangedSince), added in local schema 2:
// added and filled from the stored states when a store of schema 1 opens.
absl::Status AddChangedColumn(SqliteDb* db) {
  auto cols = db->Prepare("PRAGMA table_info(records)");
  if (!cols.ok()) return cols.status();
  bool table = false, has = false;
  while (cols->Step()) {
    table = true;
    has = has || cols->Text(1) == "changed_ms";
  }
  if (!cols->status().ok()) return cols->status();
  if (!table || has) return absl::OkStatus();  // a new store, or done
  // One transaction: a crash leaves the store as it was.
  Transaction tx(db);
  if (!tx.status().ok()) return tx.status();
  if (absl::Status s = db->Exec("ALTER TABLE records ADD COLUMN changed_ms INTEGER"); !s.ok()) {
    return s;
  }
  auto rows = db->Prepare("SELECT rowid, local_state FROM records WHERE local_state IS NOT NULL");
  if (!rows.ok()) return rows.status();
  while (rows->Step()) {
    v1::RecordState state;
    if (!state.ParseFromString(rows->Blob(1))) return absl::DataLossError("corrupt record blob");
    auto set = db->Prepare("UPDATE records SET changed_ms=?2 WHERE rowid=?1");
    if (!set.ok()) return set.status();
    if (absl::Status s = set->Bind(1, rows->Int(0)).Bind(2, state.hlc().wall_time_ms()).Run();
        !s.ok()) {
      return s;
    }
  }
  if (!rows->status().ok()) return rows->status();
  return tx.Commit();
}

}  // namespace

absl::Status CreateSchema(SqliteDb* db) {
  if (absl::Status s = db->Exec("PRAGMA journal_mode=WAL"); !s.ok()) return s;
  // FULL: a commit is on disk when it returns (the outbox promise).
  if (absl::Status s = db->Exec("PRAGMA synchronous=FULL"); !s.ok()) return s;
  // Deleted content is overwritten with zeros, so an erased person's values
  // do not linger in free pages of the file.
  if (absl::Status s = db->Exec("PRAGMA secure_delete=ON"); !s.ok()) return s;
  if (absl::Status s = AddChangedColumn(db); !s.ok()) return s;
  if (absl::Status s = CreateTables(db); !s.ok()) return s;
  return CreateGeoCells(db);
}

}  // namespace crmsync::client::internal
