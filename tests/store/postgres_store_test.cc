// PostgreSQL-specific behaviour of PostgresStore and PgPool (the shared
// behaviour is in the conformance suites).
#include <atomic>
#include <thread>

#include <pqxx/binarystring>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "absl/strings/match.h"
#include "pg_cluster.h"
#include "store/postgres_schema.h"
#include "store/postgres_sql.h"
#include "store/postgres_store.h"
#include "store/sqlite_schema.h"
#include "store_fixture.h"

namespace crmsync::server {
namespace {

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loc = StoreLocation::Create(Backend::kPostgres, "pg");
    ASSERT_TRUE(loc.ok()) << loc.status();
    location_ = std::move(*loc);
    auto store = PostgresStore::Open(location_->target());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->Migrate().ok());
  }

  // Ends every other session of the test role, as a server restart or a
  // network cut would: pooled connections break.
  int KillOtherSessions() {
    pqxx::connection conn(location_->target());
    pqxx::nontransaction tx(conn);
    pqxx::result r = tx.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE usename = current_user AND pid <> pg_backend_pid()");
    return static_cast<int>(r.size());
  }

  std::unique_ptr<StoreLocation> location_;
  std::unique_ptr<PostgresStore> store_;
};

// The plans of the record index's statements while the table's statistics
// lag behind it (a tenant loading data faster than autovacuum analyses):
// generic plans, as a pooled connection uses from a statement's sixth run.
// Each must use the index that serves it: lookups by single keys the hash
// index, a record's own keys the index by record, ranges of geo cells and
// expiry times their partial B-tree.
TEST_F(PostgresStoreTest, RecordIndexStatementsUseTheirIndexWithStaleStatistics) {
  pqxx::connection conn(location_->target());
  pg_sql::PrepareAll(conn);
  pqxx::work tx(conn);
  tx.exec0(
      "INSERT INTO record_index (tenant_id, kind, entity_type, key, record_id) "
      "SELECT 't-plan', 1 + g % 5, 10 + g % 3, g * 7919, 'r-' || (g / 3) "
      "FROM generate_series(1, 60000) AS g");
  tx.exec0("SET LOCAL plan_cache_mode = force_generic_plan");
  // libpqxx prepares a statement on its first run.
  tx.exec_prepared(pg_sql::kIndexRowsOf, "t-plan", pg_sql::Int4s({12}), pg_sql::Texts({"r-7"}),
                   pg_sql::Int4s({3}));
  tx.exec_prepared(pg_sql::kIndexPrefetch, "t-plan", 3, pg_sql::Int4s({10, 12}),
                   pg_sql::Int8s({7919, 15838}));
  tx.exec_prepared(pg_sql::kIndexFindKeys, "t-plan", 4, pg_sql::Int4s({10}), pg_sql::Int8s({7919}));
  tx.exec_prepared(pg_sql::kIndexFindGeoCells, "t-plan", pg_sql::Int4s({10}), pg_sql::Int8s({0}),
                   pg_sql::Int8s({100000}));
  tx.exec_prepared(pg_sql::kIndexFindExpiries, "t-plan", pg_sql::Int4s({10}), pg_sql::Int8s({0}),
                   pg_sql::Int8s({100000}));
  auto plan = [&](const std::string& execute) {
    std::string text;
    const pqxx::result r = tx.exec("EXPLAIN " + execute);
    for (pqxx::result::size_type i = 0; i < r.size(); ++i) {
      text += r[i][0].c_str() + std::string("\n");
    }
    return text;
  };
  const std::string rows_of =
      plan("EXECUTE index_rows_of('t-plan', '{12}'::int[], '{r-7}'::text[], '{3}'::int[])");
  EXPECT_NE(rows_of.find("record_index_by_record"), std::string::npos) << rows_of;
  for (const std::string& by_key :
       {plan("EXECUTE index_prefetch('t-plan', 3, '{10,12}'::int[], '{7919,15838}'::bigint[])"),
        plan("EXECUTE index_find_keys('t-plan', 4, '{10}'::int[], '{7919}'::bigint[])")}) {
    EXPECT_NE(by_key.find("record_index_by_key"), std::string::npos) << by_key;
    EXPECT_EQ(by_key.find("Seq Scan on record_index"), std::string::npos) << by_key;
  }
  for (const std::string& ranges :
       {plan("EXECUTE index_find_geo_cells('t-plan', '{10}'::int[], '{0}'::bigint[], "
             "'{100000}'::bigint[])"),
        plan("EXECUTE index_find_expiries('t-plan', '{10}'::int[], '{0}'::bigint[], "
             "'{100000}'::bigint[])")}) {
    EXPECT_NE(ranges.find("record_index_ranges"), std::string::npos) << ranges;
  }
}

// A record index without statistics is analysed after a write once it
// holds enough rows to matter, and not before: autovacuum is off for the
// table here, so only the store can have analysed it.
class PostgresIndexStatisticsTest : public PostgresStoreTest {
 protected:
  void SetUp() override {
    PostgresStoreTest::SetUp();
    if (HasFatalFailure()) return;
    pqxx::connection conn(location_->target());
    pqxx::nontransaction tx(conn);
    tx.exec0("ALTER TABLE record_index SET (autovacuum_enabled = off)");
  }
  bool IndexHasStatistics() {
    pqxx::connection conn(location_->target());
    pqxx::nontransaction tx(conn);
    return tx
        .exec1(
            "SELECT EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = current_schema() "
            "AND tablename = 'record_index_by_key')")[0]
        .as<bool>();
  }
  absl::Status WriteKeys(int first, int count) {
    return store_->changes().Write("t-stats", [&](WriteTx& tx) {
      for (int i = first; i < first + count; ++i) {
        v1::RecordRef ref;
        ref.set_entity_type(v1::ENTITY_TYPE_LEAD);
        ref.set_id("lead-" + std::to_string(i));
        if (auto s = tx.SetIndexKeys(ref, IndexKind::kDuplicateKey, {i * 3, i * 3 + 1, i * 3 + 2});
            !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    });
  }
};

TEST_F(PostgresIndexStatisticsTest, ASmallIndexIsLeftToAutovacuum) {
  ASSERT_TRUE(WriteKeys(0, 20).ok());
  EXPECT_FALSE(IndexHasStatistics());
}

TEST_F(PostgresIndexStatisticsTest, AnIndexFilledByAWriteIsAnalysedAfterIt) {
  ASSERT_TRUE(WriteKeys(0, 2000).ok());
  EXPECT_TRUE(IndexHasStatistics());
}

TEST_F(PostgresStoreTest, BrokenPooledConnectionsAreReplaced) {
  ASSERT_TRUE(store_->directory().PutTenant({"t", "acme", "Acme"}).ok());
  ASSERT_GT(KillOtherSessions(), 0);
  // Reads retry once on a fresh connection.
  auto tenant = store_->directory().GetTenantBySlug("acme");
  ASSERT_TRUE(tenant.ok()) << tenant.status();
  EXPECT_TRUE(tenant->has_value());
  // Writes re-run the transaction on a fresh connection.
  ASSERT_GT(KillOtherSessions(), 0);
  absl::Status s = store_->changes().Write("t", [](WriteTx& tx) { return tx.NextSeq().status(); });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(*store_->changes().LatestSeq("t"), 1);
}

TEST_F(PostgresStoreTest, UnreachableServerIsUnavailable) {
  auto store = PostgresStore::Open("host=127.0.0.1 port=1 user=x dbname=x connect_timeout=2");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
}

TEST_F(PostgresStoreTest, MalformedConnectionStringIsAnError) {
  auto store = PostgresStore::Open("this is not = a 'valid conninfo");
  EXPECT_FALSE(store.ok());
}

TEST_F(PostgresStoreTest, SchemaMigrationsAreRecorded) {
  pqxx::connection conn(location_->target());
  pqxx::nontransaction tx(conn);
  pqxx::row row = tx.exec1("SELECT count(*), max(version) FROM schema_migrations");
  // Every migration, numbered 1..latest, as many as SQLite has.
  EXPECT_EQ(LatestPostgresSchemaVersion(), LatestSqliteSchemaVersion());
  EXPECT_EQ(row[0].as<int>(), LatestSqliteSchemaVersion());
  EXPECT_EQ(row[1].as<int>(), LatestSqliteSchemaVersion());
  tx.exec0("INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')");
  EXPECT_EQ(store_->Migrate().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(PostgresStoreTest, UnmigratedSchemaGivesErrors) {
  auto fresh = StoreLocation::Create(Backend::kPostgres, "unmigrated");
  ASSERT_TRUE(fresh.ok());
  auto store = PostgresStore::Open((*fresh)->target());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->changes().LatestSeq("t").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(
      (*store)->changes().Write("t", [](WriteTx& tx) { return tx.NextSeq().status(); }).ok());
}

TEST_F(PostgresStoreTest, TheWriteLockSerialisesWritersOfOneTenantOnly) {
  // While one transaction of tenant t holds its lock, another tenant's
  // write commits, and a reader sees none of t's uncommitted changes.
  std::atomic<bool> inside{false};
  std::atomic<bool> release{false};
  std::thread holder([&] {
    absl::Status s = store_->changes().Write("t", [&](WriteTx& tx) -> absl::Status {
      auto seq = tx.NextSeq();
      if (!seq.ok()) return seq.status();
      auto st = tx.PutRecord(AccountState("held", *seq, "alice"), nullptr);
      inside = true;
      while (!release) std::this_thread::yield();
      return st;
    });
    EXPECT_TRUE(s.ok()) << s;
  });
  while (!inside) std::this_thread::yield();
  absl::Status other =
      store_->changes().Write("u", [](WriteTx& tx) { return tx.NextSeq().status(); });
  EXPECT_TRUE(other.ok()) << other;
  EXPECT_EQ(*store_->changes().LatestSeq("t"), 0);
  EXPECT_TRUE(store_->changes().ReadSince("t", 0, 10)->empty());
  release = true;
  holder.join();
  EXPECT_EQ(*store_->changes().LatestSeq("t"), 1);
  EXPECT_EQ(store_->changes().ReadSince("t", 0, 10)->size(), 1u);
}

// A database error in rows written on the helper thread (here: a record
// the transaction read as absent, inserted meanwhile by someone ignoring
// the tenant lock) fails the whole transaction with that error, and
// nothing of it is committed; the store goes on working.
TEST_F(PostgresStoreTest, AnErrorInAnEarlyFlushFailsTheWholeTransaction) {
  constexpr int kMany = 1200;  // several early flushes
  auto sneak_in = [&](const std::string& id) {
    pqxx::connection conn(location_->target());
    pqxx::work w(conn);
    w.exec_params(
        "INSERT INTO records (tenant_id, entity_type, record_id, version, created_version, "
        "deleted, owner_user_id, team_id, state) VALUES ('t', $1, $2, 999, 999, false, '', '', "
        "'')",
        static_cast<int>(v1::ENTITY_TYPE_ACCOUNT), id);
    w.commit();
  };
  absl::Status s = store_->changes().Write("t", [&](WriteTx& tx) -> absl::Status {
    auto absent = tx.GetRecord(AccountRef("acc-5"));
    if (!absent.ok()) return absent.status();
    EXPECT_FALSE(absent->has_value());
    sneak_in("acc-5");
    for (int i = 0; i < kMany; ++i) {
      auto seq = tx.NextSeq();
      if (!seq.ok()) return seq.status();
      if (auto st = tx.PutRecord(AccountState("acc-" + std::to_string(i), *seq, "bob"), nullptr);
          !st.ok()) {
        return st;  // the error, once the helper thread's flush is joined
      }
    }
    return absl::OkStatus();
  });
  // Citus reports a worker's unique violation in an INSERT ... SELECT as
  // SQLSTATE XX000 (INTERNAL), with the worker's message. Either way it is
  // that error, not the aborted transaction's next statement failing.
  EXPECT_TRUE(s.code() == absl::StatusCode::kAlreadyExists ||
              (s.code() == absl::StatusCode::kInternal &&
               absl::StrContains(s.ToString(), "duplicate key value violates unique constraint")))
      << s;
  EXPECT_EQ(*store_->changes().LatestSeq("t"), 0);
  EXPECT_FALSE(store_->changes().GetRecord("t", AccountRef("acc-4"))->has_value());
  EXPECT_FALSE(store_->changes().GetRecord("t", AccountRef("acc-1000"))->has_value());
  absl::Status after = store_->changes().Write("t", [](WriteTx& tx) -> absl::Status {
    auto seq = tx.NextSeq();
    if (!seq.ok()) return seq.status();
    return tx.PutRecord(AccountState("acc-6", *seq, "bob"), nullptr);
  });
  EXPECT_TRUE(after.ok()) << after;
  EXPECT_EQ(*store_->changes().LatestSeq("t"), 1);
}

// The write path's binary array parameters arrive as the values sent:
// empty arrays, extremes, text with quotes, backslashes, commas, braces
// and non-ASCII letters, bytes with zeros; and an element type other than
// the cast's is refused, not misread.
TEST_F(PostgresStoreTest, BinaryArrayParametersArriveAsSent) {
  pqxx::connection conn(location_->target());
  conn.prepare("echo",
               "SELECT (SELECT array_agg(x ORDER BY o)::text FROM unnest($1::int[]) WITH "
               "ORDINALITY u(x, o)), "
               "(SELECT array_agg(x ORDER BY o)::text FROM unnest($2::bigint[]) WITH "
               "ORDINALITY u(x, o)), "
               "(SELECT array_agg(x ORDER BY o)::text FROM unnest($3::boolean[]) WITH "
               "ORDINALITY u(x, o)), "
               "(SELECT string_agg(x, '|' ORDER BY o) FROM unnest($4::text[]) WITH "
               "ORDINALITY u(x, o)), "
               "(SELECT string_agg(encode(x, 'hex'), '|' ORDER BY o) FROM unnest($5::bytea[]) "
               "WITH ORDINALITY u(x, o)), cardinality($4::text[]), cardinality($5::bytea[])");
  pqxx::nontransaction tx(conn);
  const std::vector<std::string> texts = {"plain", "", "a \"quoted\", {braced} \\ one",
                                          "Zoë Ñúñez"};
  const std::vector<std::string> bytes = {std::string("\0\x01\xff", 3), "", "AB"};
  pqxx::row r = tx.exec_prepared1("echo", pg_sql::Int4s({0, -1, 2147483647, -2147483648LL}),
                                  pg_sql::Int8s({0, -1, INT64_MAX, INT64_MIN}),
                                  pg_sql::Bools({true, false, true}), pg_sql::Texts(texts),
                                  pg_sql::Byteas(bytes));
  EXPECT_EQ(r[0].as<std::string>(), "{0,-1,2147483647,-2147483648}");
  EXPECT_EQ(r[1].as<std::string>(), "{0,-1,9223372036854775807,-9223372036854775808}");
  EXPECT_EQ(r[2].as<std::string>(), "{t,f,t}");
  EXPECT_EQ(r[3].as<std::string>(), "plain||a \"quoted\", {braced} \\ one|Zoë Ñúñez");
  EXPECT_EQ(r[4].as<std::string>(), "0001ff||4142");
  EXPECT_EQ(r[5].as<int>(), 4);
  EXPECT_EQ(r[6].as<int>(), 3);

  pqxx::row empty = tx.exec_prepared1("echo", pg_sql::Int4s({}), pg_sql::Int8s({}),
                                      pg_sql::Bools({}), pg_sql::Texts({}), pg_sql::Byteas({}));
  EXPECT_TRUE(empty[0].is_null());
  EXPECT_EQ(empty[5].as<int>(), 0);

  // int8 elements for an int[] parameter.
  EXPECT_THROW(tx.exec_prepared1("echo", pg_sql::Int8s({1}), pg_sql::Int8s({}), pg_sql::Bools({}),
                                 pg_sql::Texts({}), pg_sql::Byteas({})),
               pqxx::sql_error);
}

}  // namespace
}  // namespace crmsync::server
