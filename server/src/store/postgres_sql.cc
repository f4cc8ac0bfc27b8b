#include "store/postgres_sql.h"

namespace crmsync::server::pg_sql {
namespace {

// The hash index of record_index (migration 14) is on this expression: a
// lookup names it exactly, for the planner to use the index. `$1` is the
// tenant, `$2` the kind, `q.key` the key looked up.
#define CRMSYNC_INDEX_SLOT_MATCH                                                         \
  "(hashtextextended(tenant_id, kind) # key) = (hashtextextended($1, $2::int) # q.key) " \
  "AND tenant_id = $1 AND kind = $2::int AND key = q.key"

// Records of the types `$2` with a key of the constant kind KIND in one of
// the ranges [`$3`[i], `$4`[i]], each once, in version order.
#define CRMSYNC_INDEX_FIND_RANGES(KIND)                                                          \
  "SELECT r.entity_type, r.record_id, r.state FROM (SELECT DISTINCT t.entity_type, i.record_id " \
  "FROM unnest($2::int[]) AS t(entity_type) CROSS JOIN unnest($3::bigint[], $4::bigint[]) AS "   \
  "q(lo, hi) CROSS JOIN LATERAL (SELECT record_id FROM record_index WHERE tenant_id = $1 AND "   \
  "kind = " KIND                                                                                 \
  " AND entity_type = t.entity_type AND key BETWEEN q.lo AND q.hi OFFSET 0) i) k "               \
  "CROSS JOIN LATERAL (SELECT entity_type, record_id, state, version FROM records WHERE "        \
  "tenant_id = $1 AND entity_type = k.entity_type AND record_id = k.record_id OFFSET 0) r "      \
  "ORDER BY r.version"

struct Statement {
  const char* name;
  const char* sql;
};

constexpr Statement kStatements[] = {
    // The tenant's sequence row is created on its first write; the row lock
    // taken by kSeqLock is held until COMMIT/ROLLBACK.
    {kSeqEnsure,
     "INSERT INTO tenant_seq (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO NOTHING"},
    {kSeqLock, "SELECT latest_seq FROM tenant_seq WHERE tenant_id = $1 FOR UPDATE"},
    // Sequences are counted in memory by the transaction holding the lock
    // and the last one written back once, before COMMIT.
    {kSeqStore, "UPDATE tenant_seq SET latest_seq = $2 WHERE tenant_id = $1"},
    {kRecordGet,
     "SELECT state FROM records WHERE tenant_id = $1 AND entity_type = $2 AND record_id = $3"},
    {kRecordPut,
     "INSERT INTO records (tenant_id, entity_type, record_id, version, created_version, deleted, "
     "owner_user_id, team_id, scope_changed_version, state) "
     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
     "ON CONFLICT (tenant_id, entity_type, record_id) DO UPDATE SET "
     "version = excluded.version, "
     "created_version = CASE WHEN $11::bigint > 0 THEN $11::bigint "
     "ELSE records.created_version END, "
     "deleted = excluded.deleted, owner_user_id = excluded.owner_user_id, "
     "team_id = excluded.team_id, "
     "scope_changed_version = greatest(records.scope_changed_version, "
     "excluded.scope_changed_version), "
     "state = excluded.state"},
    {kScopeHistoryPut,
     "INSERT INTO scope_history (tenant_id, entity_type, record_id, version, scope) "
     "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"},
    {kAppliedGet,
     "SELECT payload_hash, result FROM applied_mutations "
     "WHERE tenant_id = $1 AND device_id = $2 AND client_seq = $3"},
    {kAppliedPut,
     "INSERT INTO applied_mutations (tenant_id, device_id, client_seq, payload_hash, result) "
     "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"},
    // Batches. Keys and values arrive as array parameters and are joined
    // with unnest, so one statement serves any number of rows. The write
    // path's arrays travel in binary (pg_sql::Int4s ...): each parameter's
    // element type must match its cast.
    // One primary-key probe per key (LATERAL ... LIMIT 1 keeps the planner
    // from turning a generic plan into a scan of the whole tenant).
    {kRecordGetMany,
     "SELECT k.entity_type, k.record_id, r.state "
     "FROM unnest($2::int[], $3::text[]) AS k(entity_type, record_id) "
     "CROSS JOIN LATERAL (SELECT state FROM records WHERE tenant_id = $1 "
     "AND entity_type = k.entity_type AND record_id = k.record_id LIMIT 1) r"},
    {kAppliedGetMany,
     "SELECT k.client_seq, a.payload_hash, a.result FROM unnest($3::bigint[]) AS k(client_seq) "
     "CROSS JOIN LATERAL (SELECT payload_hash, result FROM applied_mutations "
     "WHERE tenant_id = $1 AND device_id = $2 AND client_seq = k.client_seq LIMIT 1) a"},
    // Rows the transaction knows to be new (prefetched or read as absent).
    {kRecordInsertMany,
     "INSERT INTO records (tenant_id, entity_type, record_id, version, created_version, deleted, "
     "owner_user_id, team_id, scope_changed_version, state) "
     "SELECT $1, u.entity_type, u.record_id, u.version, u.created_version, u.deleted, "
     "u.owner_user_id, u.team_id, u.scope_changed_version, u.state "
     "FROM unnest($2::int[], $3::text[], $4::bigint[], $5::bigint[], $6::boolean[], $7::text[], "
     "$8::text[], $9::bigint[], $10::bytea[]) AS u(entity_type, record_id, version, "
     "created_version, deleted, owner_user_id, team_id, scope_changed_version, state)"},
    // The rows of one batch have distinct keys. Existing rows are updated
    // as kRecordPut does ($11: created_version if > 0), the others inserted.
    // No concurrent writer can insert the same keys: every record write of
    // the tenant holds its tenant_seq row lock.
    {kRecordPutMany,
     "WITH u AS (SELECT * FROM unnest($2::int[], $3::text[], $4::bigint[], $5::bigint[], "
     "$6::boolean[], $7::text[], $8::text[], $9::bigint[], $10::bytea[], $11::bigint[]) "
     "AS u(entity_type, record_id, version, created_version, deleted, owner_user_id, team_id, "
     "scope_changed_version, state, set_created)), "
     "upd AS (UPDATE records r SET version = u.version, "
     "created_version = CASE WHEN u.set_created > 0 THEN u.set_created "
     "ELSE r.created_version END, "
     "deleted = u.deleted, owner_user_id = u.owner_user_id, team_id = u.team_id, "
     "scope_changed_version = greatest(r.scope_changed_version, u.scope_changed_version), "
     "state = u.state FROM u "
     "WHERE r.tenant_id = $1 AND r.entity_type = u.entity_type AND r.record_id = u.record_id "
     "RETURNING r.entity_type, r.record_id) "
     "INSERT INTO records (tenant_id, entity_type, record_id, version, created_version, deleted, "
     "owner_user_id, team_id, scope_changed_version, state) "
     "SELECT $1, u.entity_type, u.record_id, u.version, u.created_version, u.deleted, "
     "u.owner_user_id, u.team_id, u.scope_changed_version, u.state FROM u "
     "WHERE NOT EXISTS (SELECT 1 FROM upd "
     "WHERE upd.entity_type = u.entity_type AND upd.record_id = u.record_id)"},
    // Rows are unique per key within a batch (PgWriteTx keeps the last).
    {kFieldHistoryPutMany,
     "INSERT INTO field_history (tenant_id, entity_type, record_id, path, version, entry) "
     "SELECT $1, u.entity_type, u.record_id, u.path, u.version, u.entry "
     "FROM unnest($2::int[], $3::text[], $4::text[], $5::bigint[], $6::bytea[]) "
     "AS u(entity_type, record_id, path, version, entry) "
     "ON CONFLICT (tenant_id, entity_type, record_id, path, version) "
     "DO UPDATE SET entry = EXCLUDED.entry"},
    // Rows found one record at a time, then deleted by row address, like
    // the record index's (below).
    {kFieldHistoryRowsOf,
     "SELECT f.ctid FROM unnest($2::int[], $3::text[]) AS u(entity_type, record_id) CROSS JOIN "
     "LATERAL (SELECT ctid FROM field_history WHERE tenant_id = $1 AND entity_type = "
     "u.entity_type AND record_id = u.record_id OFFSET 0) f"},
    {kFieldHistoryDeleteRows,
     "DELETE FROM field_history WHERE tenant_id = $1 AND ctid = ANY($2::tid[])"},
    {kScopeHistoryPutMany,
     "INSERT INTO scope_history (tenant_id, entity_type, record_id, version, scope) "
     "SELECT $1, u.entity_type, u.record_id, u.version, u.scope "
     "FROM unnest($2::int[], $3::text[], $4::bigint[], $5::bytea[]) "
     "AS u(entity_type, record_id, version, scope) ON CONFLICT DO NOTHING"},
    // No ON CONFLICT: a duplicate here is an error that fails the
    // transaction (PgWriteTx reports duplicates it knows of before).
    {kAppliedPutMany,
     "INSERT INTO applied_mutations (tenant_id, device_id, client_seq, payload_hash, result) "
     "SELECT $1, u.device_id, u.client_seq, u.payload_hash, u.result "
     "FROM unnest($2::text[], $3::bigint[], $4::bytea[], $5::bytea[]) "
     "AS u(device_id, client_seq, payload_hash, result)"},
    {kClaimAdd,
     "INSERT INTO claims (tenant_id, claim_key, value) VALUES ($1, $2, $3) "
     "ON CONFLICT (tenant_id, claim_key) DO UPDATE SET value = claims.value + excluded.value "
     "RETURNING value"},
    {kClaimGet, "SELECT value FROM claims WHERE tenant_id = $1 AND claim_key = $2"},
    // Bytewise key order whatever the database's collation (as SQLite).
    {kClaimList,
     "SELECT claim_key, value FROM claims WHERE tenant_id = $1 "
     "AND left(claim_key, length($2::text)) = $2::text AND claim_key COLLATE \"C\" > $3::text "
     "ORDER BY claim_key COLLATE \"C\" LIMIT $4::bigint"},
    {kClaimDeleteMany, "DELETE FROM claims WHERE tenant_id = $1 AND claim_key = ANY($2::text[])"},
    // One round trip: raise the floor if `$3` is above it, delete the rows
    // between the old floor and the raised one, answer the floor in effect,
    // how many rows went and the device's highest client_seq before the
    // delete (NULL: none; one descent of the key from its end: what is
    // above it is known absent without a lookup). Without a raise nothing
    // is written. (Rows at
    // or below the old floor went when it was raised. Bounded below, the
    // delete does not walk the index entries of every row deleted before
    // and not vacuumed yet: a device that pushes steadily, an import above
    // all, would make each raise slower than the last.)
    {kAppliedFloorRaise,
     "WITH o AS (SELECT floor_seq FROM applied_floors WHERE tenant_id = $1 AND device_id = $2), "
     "f AS (INSERT INTO applied_floors (tenant_id, device_id, floor_seq) "
     "SELECT $1, $2, $3::bigint WHERE $3::bigint > 0 "
     "ON CONFLICT (tenant_id, device_id) DO UPDATE SET floor_seq = excluded.floor_seq "
     "WHERE applied_floors.floor_seq < excluded.floor_seq RETURNING floor_seq), "
     "d AS (DELETE FROM applied_mutations WHERE tenant_id = $1 AND device_id = $2 "
     "AND client_seq > coalesce((SELECT floor_seq FROM o), 0) "
     "AND client_seq <= (SELECT floor_seq FROM f) RETURNING 1) "
     "SELECT coalesce((SELECT floor_seq FROM f), (SELECT floor_seq FROM o), 0), "
     "(SELECT count(*) FROM d), (SELECT max(client_seq) FROM applied_mutations "
     "WHERE tenant_id = $1 AND device_id = $2)"},
    // The same with the device's highest applied client_seq as `$3`.
    {kAppliedFloorForget,
     "WITH o AS (SELECT floor_seq FROM applied_floors WHERE tenant_id = $1 AND device_id = $2), "
     "h AS (SELECT max(client_seq) AS seq FROM applied_mutations "
     "WHERE tenant_id = $1 AND device_id = $2), "
     "f AS (INSERT INTO applied_floors (tenant_id, device_id, floor_seq) "
     "SELECT $1, $2, h.seq FROM h WHERE h.seq IS NOT NULL "
     "ON CONFLICT (tenant_id, device_id) DO UPDATE SET floor_seq = excluded.floor_seq "
     "WHERE applied_floors.floor_seq < excluded.floor_seq RETURNING floor_seq), "
     "d AS (DELETE FROM applied_mutations WHERE tenant_id = $1 AND device_id = $2 "
     "AND client_seq > coalesce((SELECT floor_seq FROM o), 0) "
     "AND client_seq <= (SELECT floor_seq FROM f) RETURNING 1) "
     "SELECT coalesce((SELECT floor_seq FROM f), (SELECT floor_seq FROM o), 0), "
     "(SELECT count(*) FROM d), (SELECT seq FROM h)"},
    // Single keys of any kind, through the hash index (migration 14): one
    // probe per key for all the types, then one lookup per record. OFFSET 0
    // keeps each LATERAL subquery a parameterised scan (the planner cannot
    // flatten it into a join it would plan badly while the tables have no
    // statistics yet).
    {kIndexFindKeys,
     "SELECT r.entity_type, r.record_id, r.state FROM (SELECT DISTINCT i.entity_type, i.record_id "
     "FROM unnest($4::bigint[]) AS q(key) CROSS JOIN LATERAL (SELECT entity_type, record_id FROM "
     "record_index WHERE " CRMSYNC_INDEX_SLOT_MATCH
     " AND entity_type = ANY($3::int[]) OFFSET 0) i) k "
     "CROSS JOIN LATERAL (SELECT entity_type, record_id, state, version FROM records WHERE "
     "tenant_id = $1 AND entity_type = k.entity_type AND record_id = k.record_id OFFSET 0) r "
     "ORDER BY r.version"},
    // Ranges of geo cells and of expiry times: one range scan of the
    // partial B-tree record_index_ranges per type and range. The kind is a
    // constant so the planner can prove the index's predicate.
    {kIndexFindGeoCells, CRMSYNC_INDEX_FIND_RANGES("1")},
    {kIndexFindExpiries, CRMSYNC_INDEX_FIND_RANGES("2")},
    // Every record under single keys, with the key and the record's state
    // (NULL: no such record). One probe of the hash index per key, for all
    // the types.
    {kIndexPrefetch,
     "SELECT i.entity_type, q.key, i.record_id, r.state FROM unnest($4::bigint[]) AS q(key) "
     "CROSS JOIN LATERAL (SELECT entity_type, record_id FROM record_index "
     "WHERE " CRMSYNC_INDEX_SLOT_MATCH
     " AND entity_type = ANY($3::int[]) OFFSET 0) i LEFT JOIN LATERAL "
     "(SELECT state FROM records WHERE tenant_id = $1 AND entity_type = i.entity_type AND "
     "record_id = i.record_id OFFSET 0) r ON true"},
    // The keys a write transaction buffered: the records' old keys of each
    // kind go, then the new ones (unique per record) are added; no conflict
    // is possible, as the transaction holds the tenant's lock.
    // The old keys are found one record at a time (a join of the whole
    // list would be planned as a scan of the table), then deleted by row
    // address in a second statement. In one statement (ctid = ANY(ARRAY(
    // subquery))) the generic plan read every index row of the tenant into
    // a bitmap to delete a few: a cost growing with the tenant, paid by
    // every batch. A parameter array is planned as a TID scan. The tenant
    // condition lets Citus route both to the tenant's shard, where the row
    // addresses mean something (and where a DELETE ... USING unnest(), IN
    // or EXISTS becomes a statement on every shard from its sixth run on).
    // The kind is compared outside the subquery (OFFSET 0 keeps it there):
    // with `kind = u.kind` inside, the primary key of the time (tenant_id,
    // kind, ...; migration 14 replaced it) offered a prefix of two
    // equalities, and PostgreSQL took it, reading every key of the kind,
    // whenever the statistics lagged behind a table filling fast (380 ms a
    // statement in an import). With the tenant alone nothing competes with
    // record_index_by_record.
    {kIndexRowsOf,
     "SELECT i.ctid FROM unnest($2::int[], $3::text[], $4::int[]) AS u(entity_type, record_id, "
     "kind) CROSS JOIN LATERAL (SELECT ctid, kind FROM record_index WHERE record_id = u.record_id "
     "AND tenant_id = $1 AND entity_type = u.entity_type OFFSET 0) i WHERE i.kind = u.kind"},
    {kIndexDeleteRows, "DELETE FROM record_index WHERE tenant_id = $1 AND ctid = ANY($2::tid[])"},
    {kIndexInsertMany,
     "INSERT INTO record_index (tenant_id, kind, entity_type, key, record_id) SELECT $1, u.kind, "
     "u.entity_type, u.key, u.record_id FROM unnest($2::int[], $3::int[], $4::bigint[], "
     "$5::text[]) AS u(kind, entity_type, key, record_id)"},
    {kPruneRecords, "DELETE FROM records WHERE tenant_id = $1 AND deleted AND version <= $2"},
    {kPruneScopeHistory, "DELETE FROM scope_history WHERE tenant_id = $1 AND version <= $2"},
    {kPruneMark,
     "UPDATE tenant_seq SET pruned_through = greatest(pruned_through, $2) WHERE tenant_id = $1"},

    {kReadSince,
     "SELECT state, scope_changed_version FROM records WHERE tenant_id = $1 AND version > $2 "
     "ORDER BY version LIMIT $3"},  // unique per tenant: an index range scan
    // Other types: the feed index, filtered.
    {kReadTypeSince,
     "SELECT state, scope_changed_version FROM records WHERE tenant_id = $1 AND entity_type = $2 "
     "AND version > $3 ORDER BY version LIMIT $4"},
    // The partial index records_by_type (16, 19, 20) serves these: the type
    // is a constant so the planner can prove its predicate.
    {kReadCouponsSince,
     "SELECT state, scope_changed_version FROM records WHERE tenant_id = $1 AND entity_type = 16 "
     "AND version > $2 ORDER BY version LIMIT $3"},
    {kReadConflictsSince,
     "SELECT state, scope_changed_version FROM records WHERE tenant_id = $1 AND entity_type = 19 "
     "AND version > $2 ORDER BY version LIMIT $3"},
    {kReadStoresSince,
     "SELECT state, scope_changed_version FROM records WHERE tenant_id = $1 AND entity_type = 20 "
     "AND version > $2 ORDER BY version LIMIT $3"},
    // records_possible_duplicates (migration 10).
    {kReadDuplicatesSince,
     "SELECT state, scope_changed_version FROM records WHERE tenant_id = $1 AND entity_type = 21 "
     "AND version > $2 ORDER BY version LIMIT $3"},
    // One statement, so the record and its history come from one snapshot.
    {kScopesDuring,
     "SELECT r.created_version, r.state, h.version, h.scope FROM records r "
     "LEFT JOIN scope_history h ON h.tenant_id = r.tenant_id "
     "  AND h.entity_type = r.entity_type AND h.record_id = r.record_id AND h.version > $4 "
     "WHERE r.tenant_id = $1 AND r.entity_type = $2 AND r.record_id = $3 "
     "ORDER BY h.version"},
    {kSeqRead,
     "SELECT latest_seq, pruned_through, history_id FROM tenant_seq WHERE tenant_id = $1"},
    // The id is drawn by the caller: Citus refuses volatile functions in an
    // UPDATE of a distributed table.
    {kNewHistory, "UPDATE tenant_seq SET history_id = $2 WHERE tenant_id = $1"},

};

#undef CRMSYNC_INDEX_SLOT_MATCH
#undef CRMSYNC_INDEX_FIND_RANGES

template <typename T, typename Append>
std::string ArrayLiteral(const std::vector<T>& values, Append append) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    append(values[i], &out);
  }
  out += '}';
  return out;
}

}  // namespace

std::string TextArray(const std::vector<std::string>& values) {
  return ArrayLiteral(values, [](const std::string& v, std::string* out) {
    out->reserve(out->size() + v.size() + 2);
    *out += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') *out += '\\';
      *out += c;
    }
    *out += '"';
  });
}

std::string IntArray(const std::vector<int64_t>& values) {
  return ArrayLiteral(values, [](int64_t v, std::string* out) { *out += std::to_string(v); });
}

void AppendHex(const std::string& bytes, std::string* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const size_t start = out->size();
  out->resize(start + 2 * bytes.size());
  char* at = out->data() + start;
  for (unsigned char c : bytes) {
    *at++ = kDigits[c >> 4];
    *at++ = kDigits[c & 0xf];
  }
}

namespace {

// Type oids of the array elements (pg_type.h; fixed in every release).
constexpr uint32_t kBoolOid = 16;
constexpr uint32_t kByteaOid = 17;
constexpr uint32_t kInt8Oid = 20;
constexpr uint32_t kInt4Oid = 23;
constexpr uint32_t kTextOid = 25;

void PutBE(uint64_t v, int bytes, std::string* out) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// The header of a one-dimension array of `n` elements (none null); an
// empty array has no dimension.
std::string ArrayHeader(uint32_t element_oid, size_t n, size_t payload) {
  std::string out;
  out.reserve(20 + payload);
  PutBE(n == 0 ? 0 : 1, 4, &out);  // dimensions
  PutBE(0, 4, &out);               // flags: no nulls
  PutBE(element_oid, 4, &out);
  if (n > 0) {
    PutBE(n, 4, &out);  // length
    PutBE(1, 4, &out);  // lower bound
  }
  return out;
}

// Fixed-size elements: a length word, then the value, big-endian.
template <typename T>
pqxx::binarystring FixedArray(uint32_t oid, int bytes, const std::vector<T>& values) {
  std::string out = ArrayHeader(oid, values.size(), values.size() * (4 + bytes));
  for (const T& v : values) {
    PutBE(static_cast<uint32_t>(bytes), 4, &out);
    PutBE(static_cast<uint64_t>(v), bytes, &out);
  }
  return pqxx::binarystring(out);
}

pqxx::binarystring VariableArray(uint32_t oid, const std::vector<std::string>& values) {
  size_t payload = 0;
  for (const std::string& v : values) payload += 4 + v.size();
  std::string out = ArrayHeader(oid, values.size(), payload);
  for (const std::string& v : values) {
    PutBE(static_cast<uint32_t>(v.size()), 4, &out);
    out += v;
  }
  return pqxx::binarystring(out);
}

}  // namespace

pqxx::binarystring Int4s(const std::vector<int64_t>& values) {
  return FixedArray(kInt4Oid, 4, values);
}

pqxx::binarystring Int8s(const std::vector<int64_t>& values) {
  return FixedArray(kInt8Oid, 8, values);
}

pqxx::binarystring Bools(const std::vector<bool>& values) {
  return FixedArray(kBoolOid, 1, values);
}

pqxx::binarystring Texts(const std::vector<std::string>& values) {
  return VariableArray(kTextOid, values);
}

pqxx::binarystring Byteas(const std::vector<std::string>& values) {
  return VariableArray(kByteaOid, values);
}

void PrepareAll(pqxx::connection& conn) {
  for (const Statement& s : kStatements) conn.prepare(s.name, s.sql);
}

}  // namespace crmsync::server::pg_sql
