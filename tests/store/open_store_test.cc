// OpenStore: the --store value selects and opens the implementation.
#include "pg_cluster.h"
#include "store_fixture.h"

namespace crmsync::server {
namespace {

TEST(OpenStoreTest, SqliteSpecOpensASqliteStore) {
  auto loc = StoreLocation::Create(Backend::kSqlite, "open");
  ASSERT_TRUE(loc.ok());
  auto store = OpenStore("sqlite:" + (*loc)->target());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->Kind(), "sqlite");
  EXPECT_TRUE((*store)->Migrate().ok());
}

TEST(OpenStoreTest, PostgresSpecOpensAPostgresStore) {
  auto loc = StoreLocation::Create(Backend::kPostgres, "open");
  ASSERT_TRUE(loc.ok()) << loc.status();
  auto store = OpenStore("postgres:" + (*loc)->target());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->Kind(), "postgres");
  EXPECT_TRUE((*store)->Migrate().ok());
}

TEST(OpenStoreTest, BadSpecsAreErrors) {
  EXPECT_EQ(OpenStore("mysql:db").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("no-colon").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("sqlite::memory:").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("postgres:host=127.0.0.1 port=1 connect_timeout=2").status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace crmsync::server
