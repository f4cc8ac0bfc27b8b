// PostgresChangeLog: write transactions and the change feed on PostgreSQL.
// The record index is in postgres_index.cc, the transaction's operations in
// postgres_write_tx.cc.
#include "store/postgres_change_log.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <thread>

#include <pqxx/binarystring>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "absl/time/time.h"
#include "store/pg_errors.h"
#include "store/pg_pool.h"
#include "store/postgres_sql.h"
#include "store/postgres_write_tx.h"
#include "store/sql_field_history.h"
#include "store/sql_roles.h"
#include "store/store_codec.h"

namespace crmsync::server {

namespace codec = store_codec;

PostgresChangeLog::PostgresChangeLog(PgPool* pool, SqlDatabase* sql,
                                     std::chrono::milliseconds writer_wait)
    : pool_(pool),
      sql_(sql),
      writer_wait_(writer_wait),
      max_writers_(std::max(1, pool->max_size() / 2)) {}

absl::Status PostgresChangeLog::RunWrite(const std::string& tenant_id, const WriteBody& body) {
  {
    absl::MutexLock lock(&writers_mu_);
    if (!writers_mu_.AwaitWithTimeout(absl::Condition(this, &PostgresChangeLog::WriterSlotFree),
                                      absl::FromChrono(writer_wait_))) {
      return absl::UnavailableError("too many write transactions in flight");
    }
    ++writers_;
  }
  struct SlotRelease {
    PostgresChangeLog* store;
    ~SlotRelease() {
      absl::MutexLock lock(&store->writers_mu_);
      --store->writers_;
    }
  } slot_release{this};

  absl::Status status;
  for (int attempt = 0; attempt < codec::kMaxWriteAttempts; ++attempt) {
    if (attempt > 0) {
      // Brief, growing pause before re-running a transaction that lost a
      // serialization race or its connection.
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(1 << attempt, 50)));
    }
    auto lease = pool_->Acquire();
    if (!lease.ok()) return lease.status();
    PgError failure;
    try {
      pqxx::work work(lease->conn(), "write");
      // The per-tenant write lock, held until COMMIT or ROLLBACK.
      work.exec_prepared0(pg_sql::kSeqEnsure, tenant_id);
      const int64_t latest = work.exec_prepared1(pg_sql::kSeqLock, tenant_id)[0].as<int64_t>();
      status = body(work, latest, &failure);
      if (status.ok() && failure.status.ok()) {
        work.commit();
        return absl::OkStatus();
      }
      // A database error poisons the transaction even if the body went on.
      if (status.ok()) status = failure.status;
    } catch (...) {
      failure = ClassifyPgError(std::current_exception(), "write transaction");
      status = failure.status;
    }
    if (failure.connection_broken) lease->MarkBroken();
    if (!failure.retryable) return status;
  }
  return status;
}

absl::Status PostgresChangeLog::DoWrite(const std::string& tenant_id,
                                        const std::function<absl::Status(WriteTx&)>& fn) {
  absl::Status status =
      RunWrite(tenant_id, [&](pqxx::transaction_base& work, int64_t latest, PgError* failure) {
        PgWriteTx tx(work, tenant_id, latest);
        absl::Status status = fn(tx);
        // Buffered rows and the sequence are written before COMMIT.
        if (status.ok()) status = tx.Finish();
        *failure = tx.failure();
        return status;
      });
  if (status.ok()) EnsureIndexStatistics();
  return status;
}

void PostgresChangeLog::EnsureIndexStatistics() {
  if (index_stats_seen_.load(std::memory_order_relaxed)) return;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  int64_t due = next_index_stats_check_ms_.load(std::memory_order_relaxed);
  // One writer checks; the others go on.
  if (now_ms < due || !next_index_stats_check_ms_.compare_exchange_strong(due, now_ms + 1000)) {
    return;
  }
  pool_
      ->RunAutocommit(
          "analysing the record index",
          [&](pqxx::transaction_base& tx) {
            // Under Citus the coordinator's table is empty (its shards are on the
            // workers, analysed there by autovacuum): never big enough here.
            const pqxx::row row = tx.exec_params1(
                "SELECT EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = current_schema() "
                "AND tablename = 'record_index_by_key'), "
                "pg_relation_size('record_index') >= $1::bigint * "
                "current_setting('block_size')::bigint",
                kIndexStatsMinPages);
            if (row[0].as<bool>()) {
              index_stats_seen_.store(true, std::memory_order_relaxed);
            } else if (row[1].as<bool>()) {
              tx.exec0("ANALYZE record_index");
              index_stats_seen_.store(true, std::memory_order_relaxed);
            }
            return absl::OkStatus();
          })
      .IgnoreError();  // retried at the next check
}

absl::StatusOr<int64_t> PostgresChangeLog::DoPrune(const std::string& tenant_id, int64_t horizon) {
  int64_t removed = 0;
  absl::Status status =
      RunWrite(tenant_id, [&](pqxx::transaction_base& work, int64_t latest, PgError* failure) {
        PgWriteTx tx(work, tenant_id, latest);
        auto n = tx.Prune(horizon);
        *failure = tx.failure();
        if (!n.ok()) return n.status();
        removed = *n;
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return removed;
}

namespace {

// The constants of the statements read_*_since and of migration 7.
static_assert(v1::ENTITY_TYPE_COUPON == 16 && v1::ENTITY_TYPE_CONFLICT == 19 &&
                  v1::ENTITY_TYPE_STORE == 20 && v1::ENTITY_TYPE_POSSIBLE_DUPLICATE == 21,
              "records_by_type (PostgreSQL) names coupons, conflicts and stores by number");

// Feed rows (state, scope_changed_version) as RecordRows.
absl::Status DecodeRows(const pqxx::result& r, std::vector<RecordRow>* rows) {
  rows->clear();
  rows->reserve(r.size());
  for (const pqxx::row& row : r) {
    RecordRow& out = rows->emplace_back();
    const pqxx::binarystring state(row[0]);
    if (auto s = codec::DecodeState(absl::string_view(state.get(), state.size()), &out.state);
        !s.ok()) {
      return s;
    }
    out.scope_changed_version = row[1].as<int64_t>();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<RecordRow>> PostgresChangeLog::DoReadSince(const std::string& tenant_id,
                                                                      int64_t after_version,
                                                                      int limit) {
  std::vector<RecordRow> rows;
  absl::Status status =
      pool_->RunAutocommit("reading the change feed", [&](pqxx::transaction_base& tx) {
        return DecodeRows(tx.exec_prepared(pg_sql::kReadSince, tenant_id, after_version, limit),
                          &rows);
      });
  if (!status.ok()) return status;
  return rows;
}

absl::StatusOr<std::vector<RecordRow>> PostgresChangeLog::DoReadTypeSince(
    const std::string& tenant_id, v1::EntityType type, int64_t after_version, int limit) {
  std::vector<RecordRow> rows;
  absl::Status status =
      pool_->RunAutocommit("reading records of one type", [&](pqxx::transaction_base& tx) {
        const char* indexed = type == v1::ENTITY_TYPE_COUPON     ? pg_sql::kReadCouponsSince
                              : type == v1::ENTITY_TYPE_CONFLICT ? pg_sql::kReadConflictsSince
                              : type == v1::ENTITY_TYPE_STORE    ? pg_sql::kReadStoresSince
                              : type == v1::ENTITY_TYPE_POSSIBLE_DUPLICATE
                                  ? pg_sql::kReadDuplicatesSince
                                  : nullptr;
        if (indexed != nullptr) {
          return DecodeRows(tx.exec_prepared(indexed, tenant_id, after_version, limit), &rows);
        }
        return DecodeRows(tx.exec_prepared(pg_sql::kReadTypeSince, tenant_id,
                                           static_cast<int>(type), after_version, limit),
                          &rows);
      });
  if (!status.ok()) return status;
  return rows;
}

absl::StatusOr<std::vector<ArenaRecordRow>> PostgresChangeLog::DoReadSinceOn(
    const std::string& tenant_id, int64_t after_version, int limit,
    google::protobuf::Arena* arena) {
  std::vector<ArenaRecordRow> rows;
  absl::Status status =
      pool_->RunAutocommit("reading the change feed", [&](pqxx::transaction_base& tx) {
        rows.clear();  // a retry on a fresh connection starts over (the arena keeps the rest)
        pqxx::result r = tx.exec_prepared(pg_sql::kReadSince, tenant_id, after_version, limit);
        rows.reserve(r.size());
        for (const pqxx::row& row : r) {
          auto* message = google::protobuf::Arena::CreateMessage<v1::RecordState>(arena);
          rows.push_back({message, row[1].as<int64_t>()});
          const pqxx::binarystring state(row[0]);
          if (auto s = codec::DecodeState(absl::string_view(state.get(), state.size()), message);
              !s.ok()) {
            return s;
          }
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return rows;
}

absl::StatusOr<std::optional<v1::RecordState>> PostgresChangeLog::DoGetRecord(
    const std::string& tenant_id, const v1::RecordRef& ref) {
  std::optional<v1::RecordState> out;
  absl::Status status = pool_->RunAutocommit("reading a record", [&](pqxx::transaction_base& tx) {
    out.reset();
    pqxx::result r = tx.exec_prepared(pg_sql::kRecordGet, tenant_id,
                                      static_cast<int>(ref.entity_type()), ref.id());
    if (r.empty()) return absl::OkStatus();
    out.emplace();
    return codec::DecodeState(pqxx::binarystring(r[0][0]).str(), &*out);
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<v1::ScopeKeys>> PostgresChangeLog::DoScopesDuring(
    const std::string& tenant_id, const v1::RecordRef& ref, int64_t from, int64_t to) {
  std::vector<v1::ScopeKeys> out;
  absl::Status status =
      pool_->RunAutocommit("reading scope history", [&](pqxx::transaction_base& tx) {
        out.clear();
        pqxx::result r = tx.exec_prepared(pg_sql::kScopesDuring, tenant_id,
                                          static_cast<int>(ref.entity_type()), ref.id(), from);
        if (r.empty()) return absl::OkStatus();
        codec::ScopesDuringBuilder builder(from, to);
        for (const auto& row : r) {
          if (row[2].is_null()) break;
          auto wanted = builder.AddHistory(row[2].as<int64_t>(), pqxx::binarystring(row[3]).str());
          if (!wanted.ok()) return wanted.status();
          if (!*wanted) break;
        }
        auto scopes = builder.Finish(r[0][0].as<int64_t>(), pqxx::binarystring(r[0][1]).str());
        if (!scopes.ok()) return scopes.status();
        out = std::move(*scopes);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<int64_t> PostgresChangeLog::DoLatestSeq(const std::string& tenant_id) {
  int64_t value = 0;
  absl::Status status =
      pool_->RunAutocommit("reading the latest sequence", [&](pqxx::transaction_base& tx) {
        pqxx::result r = tx.exec_prepared(pg_sql::kSeqRead, tenant_id);
        value = r.empty() ? 0 : r[0][0].as<int64_t>();
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return value;
}

absl::StatusOr<FeedState> PostgresChangeLog::DoGetFeedState(const std::string& tenant_id) {
  FeedState feed;
  absl::Status status =
      pool_->RunAutocommit("reading the feed state", [&](pqxx::transaction_base& tx) {
        pqxx::result r = tx.exec_prepared(pg_sql::kSeqRead, tenant_id);
        feed = FeedState();
        if (r.empty()) return absl::OkStatus();
        feed.latest_seq = r[0][0].as<int64_t>();
        feed.pruned_through = r[0][1].as<int64_t>();
        feed.history_id = r[0][2].as<std::string>();
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return feed;
}

namespace {

// 16 hex digits from the system's random source, like the migration's
// default for a tenant's first history.
std::string NewHistoryId() {
  std::random_device random;
  char out[17];
  std::snprintf(out, sizeof(out), "%08x%08x", static_cast<unsigned>(random()),
                static_cast<unsigned>(random()));
  return std::string(out, 16);
}

}  // namespace

absl::Status PostgresChangeLog::DoStartNewHistory(const std::string& tenant_id) {
  return pool_->RunAutocommit("starting a new change history", [&](pqxx::transaction_base& tx) {
    tx.exec_prepared(pg_sql::kNewHistory, tenant_id, NewHistoryId());
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> PostgresChangeLog::DoPrunedThrough(const std::string& tenant_id) {
  int64_t value = 0;
  absl::Status status =
      pool_->RunAutocommit("reading the pruning horizon", [&](pqxx::transaction_base& tx) {
        pqxx::result r = tx.exec_prepared(pg_sql::kSeqRead, tenant_id);
        value = r.empty() ? 0 : r[0][1].as<int64_t>();
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return value;
}

absl::StatusOr<int64_t> PostgresChangeLog::DoScrubAppliedResults(const std::string& tenant_id,
                                                                 const v1::RecordRef& ref) {
  return SqlScrubAppliedResults(*sql_, tenant_id, ref);
}

absl::StatusOr<std::vector<std::string>> PostgresChangeLog::DoReadFieldHistory(
    const std::string& tenant_id, const v1::RecordRef& ref, const std::string& path, int limit) {
  return SqlReadFieldHistory(*sql_, tenant_id, ref, path, limit);
}

absl::StatusOr<int64_t> PostgresChangeLog::DoTrimFieldHistory(const std::string& tenant_id,
                                                              int depth) {
  return SqlTrimFieldHistory(*sql_, tenant_id, depth);
}

}  // namespace crmsync::server
