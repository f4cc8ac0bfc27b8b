// PostgresStore: pool set-up, write transactions and the change feed. The
// directory tables are in postgres_directory.cc.
#include "store/postgres_store.h"

#include <algorithm>
#include <thread>

#include <pqxx/binarystring>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "store/pg_errors.h"
#include "store/pg_pool.h"
#include "store/postgres_schema.h"
#include "store/postgres_sql.h"
#include "store/postgres_write_tx.h"
#include "store/store_codec.h"

namespace crmsync::server {

namespace codec = store_codec;

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& conninfo,
                                                                   Options options) {
  if (options.pool_size < 2) options.pool_size = 2;
  PgPool::Options pool_options;
  pool_options.conninfo = conninfo;
  pool_options.max_size = options.pool_size;
  pool_options.acquire_timeout = options.acquire_timeout;
  pool_options.on_connect = [](pqxx::connection& conn) { pg_sql::PrepareAll(conn); };
  auto pool = PgPool::Create(std::move(pool_options));
  if (!pool.ok()) return pool.status();
  return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(*pool), options));
}

PostgresStore::PostgresStore(std::unique_ptr<PgPool> pool, Options options)
    : pool_(std::move(pool)), options_(options), max_writers_(std::max(1, options.pool_size / 2)) {}

PostgresStore::~PostgresStore() = default;

absl::Status PostgresStore::Migrate() {
  auto lease = pool_->Acquire();
  if (!lease.ok()) return lease.status();
  bool broken = false;
  absl::Status status = ApplyPostgresMigrations(lease->conn(), &broken);
  if (broken) lease->MarkBroken();
  return status;
}

absl::Status PostgresStore::Run(const char* what,
                                const std::function<absl::Status(pqxx::transaction_base&)>& fn) {
  absl::Status status;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto lease = pool_->Acquire();
    if (!lease.ok()) return lease.status();
    try {
      pqxx::nontransaction tx(lease->conn());
      return fn(tx);
    } catch (...) {
      PgError error = ClassifyPgError(std::current_exception(), what);
      status = error.status;
      if (!error.connection_broken) return status;
      lease->MarkBroken();
      // Each unit of work here is one idempotent statement: safe to send
      // again on a fresh connection (a pooled one may have been cut).
      if (!error.retryable) return status;
    }
  }
  return status;
}

absl::Status PostgresStore::RunWrite(const std::string& tenant_id, const WriteBody& body) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  {
    std::unique_lock<std::mutex> lock(writers_mu_);
    if (!writers_cv_.wait_for(lock, options_.acquire_timeout,
                              [&] { return writers_ < max_writers_; })) {
      return absl::UnavailableError("too many write transactions in flight");
    }
    ++writers_;
  }
  struct SlotRelease {
    PostgresStore* store;
    ~SlotRelease() {
      std::lock_guard<std::mutex> lock(store->writers_mu_);
      --store->writers_;
      store->writers_cv_.notify_one();
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

absl::Status PostgresStore::Write(const std::string& tenant_id,
                                  const std::function<absl::Status(WriteTx&)>& fn) {
  return RunWrite(tenant_id, [&](pqxx::transaction_base& work, int64_t latest, PgError* failure) {
    PgWriteTx tx(work, tenant_id, latest);
    absl::Status status = fn(tx);
    // Buffered rows and the sequence are written before COMMIT.
    if (status.ok()) status = tx.Finish();
    *failure = tx.failure();
    return status;
  });
}

absl::StatusOr<int64_t> PostgresStore::Prune(const std::string& tenant_id, int64_t horizon) {
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

absl::StatusOr<std::vector<RecordRow>> PostgresStore::ReadSince(const std::string& tenant_id,
                                                                int64_t after_version, int limit) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (limit <= 0) return absl::InvalidArgumentError("ReadSince limit must be positive");
  if (after_version < 0) return absl::InvalidArgumentError("ReadSince version must not be negative");
  std::vector<RecordRow> rows;
  absl::Status status = Run("reading the change feed", [&](pqxx::transaction_base& tx) {
    rows.clear();
    pqxx::result r = tx.exec_prepared(pg_sql::kReadSince, tenant_id, after_version, limit);
    rows.reserve(r.size());
    for (const pqxx::row& row : r) {
      RecordRow out;
      if (auto s = codec::Decode(pqxx::binarystring(row[0]).str(), &out.state, "record");
          !s.ok()) {
        return s;
      }
      out.scope_changed_version = row[1].as<int64_t>();
      rows.push_back(std::move(out));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return rows;
}

absl::StatusOr<std::optional<v1::RecordState>> PostgresStore::GetRecord(
    const std::string& tenant_id, const v1::RecordRef& ref) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckRef(ref); !s.ok()) return s;
  std::optional<v1::RecordState> out;
  absl::Status status = Run("reading a record", [&](pqxx::transaction_base& tx) {
    out.reset();
    pqxx::result r = tx.exec_prepared(pg_sql::kRecordGet, tenant_id,
                                      static_cast<int>(ref.entity_type()), ref.id());
    if (r.empty()) return absl::OkStatus();
    out.emplace();
    return codec::Decode(pqxx::binarystring(r[0][0]).str(), &*out, "record");
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<v1::ScopeKeys>> PostgresStore::ScopesDuring(
    const std::string& tenant_id, const v1::RecordRef& ref, int64_t from, int64_t to) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckRef(ref); !s.ok()) return s;
  if (from > to) return absl::InvalidArgumentError("scope window ends before it starts");
  std::vector<v1::ScopeKeys> out;
  absl::Status status = Run("reading scope history", [&](pqxx::transaction_base& tx) {
    out.clear();
    pqxx::result r = tx.exec_prepared(pg_sql::kScopesDuring, tenant_id,
                                      static_cast<int>(ref.entity_type()), ref.id(), from);
    if (r.empty()) return absl::OkStatus();
    codec::ScopesDuringBuilder builder(from, to);
    for (const auto& row : r) {
      if (row[2].is_null()) break;
      auto wanted =
          builder.AddHistory(row[2].as<int64_t>(), pqxx::binarystring(row[3]).str());
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

absl::StatusOr<int64_t> PostgresStore::LatestSeq(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  int64_t value = 0;
  absl::Status status = Run("reading the latest sequence", [&](pqxx::transaction_base& tx) {
    pqxx::result r = tx.exec_prepared(pg_sql::kSeqRead, tenant_id);
    value = r.empty() ? 0 : r[0][0].as<int64_t>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return value;
}

absl::StatusOr<FeedState> PostgresStore::GetFeedState(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  FeedState feed;
  absl::Status status = Run("reading the feed state", [&](pqxx::transaction_base& tx) {
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

absl::Status PostgresStore::StartNewHistory(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  return Run("starting a new change history", [&](pqxx::transaction_base& tx) {
    tx.exec_prepared(pg_sql::kNewHistory, tenant_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> PostgresStore::PrunedThrough(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  int64_t value = 0;
  absl::Status status = Run("reading the pruning horizon", [&](pqxx::transaction_base& tx) {
    pqxx::result r = tx.exec_prepared(pg_sql::kSeqRead, tenant_id);
    value = r.empty() ? 0 : r[0][1].as<int64_t>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return value;
}

}  // namespace crmsync::server
