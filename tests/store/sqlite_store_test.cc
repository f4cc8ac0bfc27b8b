// SQLite-specific behaviour of SqliteStore (the shared behaviour is in the
// conformance suites).
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "store/sql_session.h"
#include "store/sqlite_pool.h"
#include "store/sqlite_schema.h"
#include "store/sqlite_sql_database.h"
#include "store/sqlite_store.h"
#include "store_fixture.h"

namespace crmsync::server {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loc = StoreLocation::Create(Backend::kSqlite, "sqlite");
    ASSERT_TRUE(loc.ok());
    location_ = std::move(*loc);
  }
  std::string Pragma(const std::string& name) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(location_->target().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    std::string value;
    if (sqlite3_prepare_v2(db, ("PRAGMA " + name).c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }
  std::unique_ptr<StoreLocation> location_;
};

TEST_F(SqliteStoreTest, UsesWalAndRecordsSchemaVersion) {
  auto store = SqliteStore::Open(location_->target());
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Migrate().ok());
  EXPECT_EQ(Pragma("journal_mode"), "wal");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(location_->target().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*), max(version) FROM schema_migrations", -1,
                               &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  // Every migration, numbered 1..latest.
  EXPECT_EQ(sqlite3_column_int(stmt, 0), LatestSqliteSchemaVersion());
  EXPECT_EQ(sqlite3_column_int(stmt, 1), LatestSqliteSchemaVersion());
  EXPECT_GE(LatestSqliteSchemaVersion(), 4);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

// A relaxed run writes with synchronous=NORMAL and hands the connection
// back at FULL, whether its work succeeded or not.
TEST_F(SqliteStoreTest, RelaxedRunRestoresFullSynchronousOnItsConnection) {
  SqlitePool::Options options;
  options.max_connections = 2;
  auto pool = SqlitePool::Open(location_->target(), options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  SqliteSqlDatabase db(pool->get());
  const SqlStatement kSynchronous{"synchronous", "PRAGMA synchronous"};
  auto synchronous = [&](SqlSession& session, int64_t* out) {
    return session.Query(kSynchronous, {}, [&](const SqlRow& row) {
      *out = row.Int(0);
      return absl::OkStatus();
    });
  };
  const SqlStatement kCreate{"create", "CREATE TABLE IF NOT EXISTS relaxed (v INTEGER)"};
  ASSERT_TRUE(SqlExec(db, "creating", kCreate, {}).ok());
  for (bool fail : {false, true}) {
    int64_t inside = -1;
    absl::Status status = db.Run(
        "writing",
        [&](SqlSession& session) -> absl::Status {
          if (auto s = synchronous(session, &inside); !s.ok()) return s;
          if (fail) return absl::InternalError("work failed");
          return session.Exec({"insert", "INSERT INTO relaxed VALUES (1)"}, {}).status();
        },
        Durability::kRelaxed);
    EXPECT_EQ(status.ok(), !fail);
    EXPECT_EQ(inside, 1);  // NORMAL
    // Both connections of the pool (whichever the relaxed run used) are FULL.
    int64_t first = -1, second = -1;
    ASSERT_TRUE(db.Run("checking", [&](SqlSession& a) {
                    if (auto s = synchronous(a, &first); !s.ok()) return s;
                    return db.Run("checking",
                                  [&](SqlSession& b) { return synchronous(b, &second); });
                  }).ok());
    EXPECT_EQ(first, 2);
    EXPECT_EQ(second, 2);
  }
}

TEST_F(SqliteStoreTest, RefusesInMemoryAndUnopenablePaths) {
  EXPECT_EQ(SqliteStore::Open(":memory:").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SqliteStore::Open("").status().code(), absl::StatusCode::kInvalidArgument);
  auto missing_dir = SqliteStore::Open("/nonexistent-dir/for/sure/crm.db");
  EXPECT_EQ(missing_dir.status().code(), absl::StatusCode::kUnavailable) << missing_dir.status();
}

TEST_F(SqliteStoreTest, GarbageFileGivesAnErrorNotACrash) {
  {
    std::ofstream garbage(location_->target(), std::ios::binary);
    garbage << std::string(8192, '\x5a');
  }
  auto store = SqliteStore::Open(location_->target());
  absl::Status status = store.ok() ? (*store)->Migrate() : store.status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  auto store = SqliteStore::Open(location_->target());
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Migrate().ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(location_->target().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_migrations (version, name) VALUES (999, 'x')",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ((*store)->Migrate().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SqliteStoreTest, WriteInsideWriteIsRefusedInsteadOfDeadlocking) {
  auto store = SqliteStore::Open(location_->target());
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Migrate().ok());
  absl::Status inner;
  absl::Status outer = (*store)->changes().Write("t", [&](WriteTx&) {
    inner = (*store)->changes().Write("t", [](WriteTx&) { return absl::OkStatus(); });
    return absl::OkStatus();
  });
  EXPECT_TRUE(outer.ok()) << outer;
  EXPECT_EQ(inner.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SqliteStoreTest, UnmigratedDatabaseGivesErrors) {
  auto store = SqliteStore::Open(location_->target());
  ASSERT_TRUE(store.ok());
  EXPECT_FALSE((*store)->changes().LatestSeq("t").ok());
  EXPECT_FALSE(
      (*store)->changes().Write("t", [](WriteTx& tx) { return tx.NextSeq().status(); }).ok());
}

}  // namespace
}  // namespace crmsync::server
