// PgPool: bounded size, blocking acquire with timeout, broken connections
// replaced.
#include <thread>

#include <pqxx/nontransaction>

#include "store/pg_pool.h"
#include "store_fixture.h"

namespace crmsync::server {
namespace {

class PgPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loc = StoreLocation::Create(Backend::kPostgres, "pool");
    ASSERT_TRUE(loc.ok()) << loc.status();
    location_ = std::move(*loc);
  }
  std::unique_ptr<PgPool> MakePool(int size, int timeout_ms) {
    PgPool::Options options;
    options.conninfo = location_->target();
    options.max_size = size;
    options.acquire_timeout = std::chrono::milliseconds(timeout_ms);
    auto pool = PgPool::Create(options);
    EXPECT_TRUE(pool.ok()) << pool.status();
    return pool.ok() ? std::move(*pool) : nullptr;
  }
  std::unique_ptr<StoreLocation> location_;
};

TEST_F(PgPoolTest, AcquireTimesOutWhenExhaustedAndResumesWhenReleased) {
  auto pool = MakePool(2, 100);
  ASSERT_NE(pool, nullptr);
  auto a = pool->Acquire();
  auto b = pool->Acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(pool->open_connections(), 2);
  auto c = pool->Acquire();
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  { auto released = std::move(*a); }
  auto d = pool->Acquire();
  EXPECT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(pool->open_connections(), 2);
}

TEST_F(PgPoolTest, BlockedAcquireIsWokenByARelease) {
  auto pool = MakePool(1, 10000);
  ASSERT_NE(pool, nullptr);
  auto held = std::make_unique<PgPool::Lease>(std::move(*pool->Acquire()));
  std::thread releaser([&] { held.reset(); });
  auto next = pool->Acquire();
  releaser.join();
  EXPECT_TRUE(next.ok()) << next.status();
}

TEST_F(PgPoolTest, BrokenLeaseIsDroppedAndReplaced) {
  auto pool = MakePool(1, 1000);
  ASSERT_NE(pool, nullptr);
  {
    auto lease = pool->Acquire();
    ASSERT_TRUE(lease.ok());
    lease->MarkBroken();
  }
  EXPECT_EQ(pool->open_connections(), 0);
  auto fresh = pool->Acquire();
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_TRUE(fresh->conn().is_open());
  EXPECT_EQ(pool->open_connections(), 1);
}

// A relaxed commit turns synchronous_commit off for its own transaction
// only: the connection goes back to the pool as it came, commits what `fn`
// wrote when it succeeds and rolls it back when it fails.
TEST_F(PgPoolTest, RelaxedCommitIsScopedToItsTransaction) {
  auto pool = MakePool(1, 1000);
  ASSERT_NE(pool, nullptr);
  auto setting = [&](pqxx::transaction_base& tx) {
    return tx.exec1("SHOW synchronous_commit")[0].as<std::string>();
  };
  ASSERT_TRUE(pool->RunAutocommit("creating",
                                  [&](pqxx::transaction_base& tx) {
                                    tx.exec0("CREATE TABLE relaxed (v INT)");
                                    return absl::OkStatus();
                                  })
                  .ok());
  std::string inside;
  ASSERT_TRUE(pool->RunRelaxedCommit("writing",
                                     [&](pqxx::transaction_base& tx) {
                                       inside = setting(tx);
                                       tx.exec0("INSERT INTO relaxed VALUES (1)");
                                       return absl::OkStatus();
                                     })
                  .ok());
  EXPECT_EQ(inside, "off");
  absl::Status failed = pool->RunRelaxedCommit("failing", [&](pqxx::transaction_base& tx) {
    tx.exec0("INSERT INTO relaxed VALUES (2)");
    return absl::FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(failed.code(), absl::StatusCode::kFailedPrecondition);
  std::string after;
  int64_t rows = -1;
  ASSERT_TRUE(
      pool->RunAutocommit(
              "reading",
              [&](pqxx::transaction_base& tx) {
                after = setting(tx);  // the pool has one connection: the same one
                rows = tx.exec1("SELECT count(*) FROM relaxed WHERE v = 1")[0].as<int64_t>() +
                       10 * tx.exec1("SELECT count(*) FROM relaxed WHERE v = 2")[0].as<int64_t>();
                return absl::OkStatus();
              })
          .ok());
  EXPECT_EQ(after, "on");
  EXPECT_EQ(rows, 1);  // the first committed, the second rolled back
}

TEST_F(PgPoolTest, UnreachableServerIsUnavailable) {
  PgPool::Options options;
  options.conninfo = "host=127.0.0.1 port=1 user=x dbname=x connect_timeout=2";
  auto pool = PgPool::Create(options);
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kUnavailable) << pool.status();
}

}  // namespace
}  // namespace crmsync::server
