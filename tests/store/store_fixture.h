// The fixture of the store conformance suite: every TEST_P runs once per
// store implementation (INSTANTIATE_TEST_SUITE_P Sqlite and Postgres), each
// time on a fresh, migrated database (SQLite: a file in a new temporary
// directory; PostgreSQL: a new schema in the throwaway test cluster, see
// tests/support/pg_cluster.h).
#ifndef CRMSYNC_TESTS_STORE_STORE_FIXTURE_H_
#define CRMSYNC_TESTS_STORE_STORE_FIXTURE_H_

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "store/store.h"

namespace crmsync::server {

enum class Backend { kSqlite, kPostgres };

// Where one test's database lives; opens any number of Store objects on it
// (several server instances sharing one database).
class StoreLocation {
 public:
  static absl::StatusOr<std::unique_ptr<StoreLocation>> Create(Backend backend,
                                                               const std::string& name);
  ~StoreLocation();
  absl::StatusOr<std::unique_ptr<Store>> Open() const;
  Backend backend() const { return backend_; }
  // SQLite: the database file; PostgreSQL: the connection string.
  const std::string& target() const { return target_; }

 private:
  Backend backend_ = Backend::kSqlite;
  std::string dir_;  // SQLite only: removed on destruction
  std::string target_;
};

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  Store& store() { return *store_; }
  StoreLocation& location() { return *location_; }

  // Creates (or replaces) an account record in one write transaction and
  // returns its new version. `previous_scope` is recorded when the owner
  // changes.
  int64_t PutAccount(const std::string& tenant, const std::string& id, const std::string& owner,
                     bool deleted = false);
  // Every version the feed holds for `tenant`, read in pages of `page`.
  std::vector<int64_t> FeedVersions(const std::string& tenant, int page = 1000);

  std::unique_ptr<StoreLocation> location_;
  std::unique_ptr<Store> store_;
};

// Builders.
v1::RecordRef AccountRef(const std::string& id);
v1::RecordState AccountState(const std::string& id, int64_t version, const std::string& owner);

// Printable parameter names: "Sqlite", "Postgres".
std::string BackendName(const ::testing::TestParamInfo<Backend>& info);

#define CRMSYNC_INSTANTIATE_STORE_SUITE(suite)                                                    \
  INSTANTIATE_TEST_SUITE_P(Sqlite, suite, ::testing::Values(::crmsync::server::Backend::kSqlite), \
                           ::crmsync::server::BackendName);                                       \
  INSTANTIATE_TEST_SUITE_P(Postgres, suite,                                                       \
                           ::testing::Values(::crmsync::server::Backend::kPostgres),              \
                           ::crmsync::server::BackendName)

}  // namespace crmsync::server

#endif  // CRMSYNC_TESTS_STORE_STORE_FIXTURE_H_
