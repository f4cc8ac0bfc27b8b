// The prepared statements of PostgresStore: names and SQL. Every
// connection of the pool prepares them (lazily, on first use, by libpqxx).
// Parameterised SQL only.
#ifndef CRMSYNC_SERVER_STORE_POSTGRES_SQL_H_
#define CRMSYNC_SERVER_STORE_POSTGRES_SQL_H_

#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/binarystring>
#include <pqxx/connection>

namespace crmsync::server::pg_sql {

// Write transactions.
inline constexpr char kSeqEnsure[] = "seq_ensure";
inline constexpr char kSeqLock[] = "seq_lock";
inline constexpr char kSeqStore[] = "seq_store";
inline constexpr char kRecordGet[] = "record_get";
inline constexpr char kRecordPut[] = "record_put";
inline constexpr char kScopeHistoryPut[] = "scope_history_put";
inline constexpr char kAppliedGet[] = "applied_get";
inline constexpr char kAppliedPut[] = "applied_put";
// Batches (array parameters, see the *Array helpers below).
inline constexpr char kRecordGetMany[] = "record_get_many";
inline constexpr char kAppliedGetMany[] = "applied_get_many";
inline constexpr char kRecordPutMany[] = "record_put_many";
inline constexpr char kRecordInsertMany[] = "record_insert_many";
inline constexpr char kScopeHistoryPutMany[] = "scope_history_put_many";
inline constexpr char kAppliedPutMany[] = "applied_put_many";
inline constexpr char kFieldHistoryPutMany[] = "field_history_put_many";
inline constexpr char kFieldHistoryRowsOf[] = "field_history_rows_of";
inline constexpr char kFieldHistoryDeleteRows[] = "field_history_delete_rows";
inline constexpr char kClaimAdd[] = "claim_add";
inline constexpr char kClaimGet[] = "claim_get";
inline constexpr char kClaimList[] = "claim_list";
inline constexpr char kClaimDeleteMany[] = "claim_delete_many";
inline constexpr char kAppliedFloorRaise[] = "applied_floor_raise";
inline constexpr char kAppliedFloorForget[] = "applied_floor_forget";
inline constexpr char kIndexFindKeys[] = "index_find_keys";
inline constexpr char kIndexFindGeoCells[] = "index_find_geo_cells";
inline constexpr char kIndexFindExpiries[] = "index_find_expiries";
inline constexpr char kIndexRowsOf[] = "index_rows_of";
inline constexpr char kIndexDeleteRows[] = "index_delete_rows";
inline constexpr char kIndexPrefetch[] = "index_prefetch";
inline constexpr char kIndexInsertMany[] = "index_insert_many";
inline constexpr char kPruneRecords[] = "prune_records";
inline constexpr char kPruneScopeHistory[] = "prune_scope_history";
inline constexpr char kPruneMark[] = "prune_mark";
// Change feed.
inline constexpr char kReadSince[] = "read_since";
inline constexpr char kReadTypeSince[] = "read_type_since";
// The same for the types with an index of their own (migration 7):
// coupons, conflicts and stores, the type a constant in the statement.
inline constexpr char kReadCouponsSince[] = "read_coupons_since";
inline constexpr char kReadConflictsSince[] = "read_conflicts_since";
inline constexpr char kReadStoresSince[] = "read_stores_since";
inline constexpr char kReadDuplicatesSince[] = "read_duplicates_since";
inline constexpr char kScopesDuring[] = "scopes_during";
inline constexpr char kNewHistory[] = "new_history";
inline constexpr char kSeqRead[] = "seq_read";

// PostgreSQL array literals, passed as the value of one `$n::type[]`
// parameter (never spliced into SQL). Every element is double-quoted with
// `"` and `\` escaped, so any text survives verbatim.
std::string TextArray(const std::vector<std::string>& values);
std::string IntArray(const std::vector<int64_t>& values);
// Appends `bytes` as lower-case hex digits to `out`.
void AppendHex(const std::string& bytes, std::string* out);

// The same in PostgreSQL's binary array format (what array_send writes),
// sent as a binary parameter: nothing to escape or encode here, nothing to
// parse there, bytes as they are. The element type must be the one the
// statement casts the parameter to: Int4s for `int[]`, Int8s for
// `bigint[]`, Bools for `boolean[]`, Texts for `text[]`, Byteas for
// `bytea[]` (the server refuses another one).
pqxx::binarystring Int4s(const std::vector<int64_t>& values);
pqxx::binarystring Int8s(const std::vector<int64_t>& values);
pqxx::binarystring Bools(const std::vector<bool>& values);
pqxx::binarystring Texts(const std::vector<std::string>& values);
pqxx::binarystring Byteas(const std::vector<std::string>& values);

// Registers every statement above on `conn` (conn.prepare). May throw.
void PrepareAll(pqxx::connection& conn);

}  // namespace crmsync::server::pg_sql

#endif  // CRMSYNC_SERVER_STORE_POSTGRES_SQL_H_
