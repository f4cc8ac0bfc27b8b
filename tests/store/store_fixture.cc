#include "store_fixture.h"

#include <stdlib.h>

#include <filesystem>

#include "pg_cluster.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace crmsync::server {

namespace {
// Registered before main() runs; starts a cluster only if a Postgres test
// asks for one, and stops it after the last test.
[[maybe_unused]] ::testing::Environment* const kPgEnvironment =
    ::testing::AddGlobalTestEnvironment(testing::PgClusterEnvironment::Instance());
}  // namespace

absl::StatusOr<std::unique_ptr<StoreLocation>> StoreLocation::Create(Backend backend,
                                                                     const std::string& name) {
  std::unique_ptr<StoreLocation> loc(new StoreLocation());
  loc->backend_ = backend;
  if (backend == Backend::kSqlite) {
    std::string templ = (std::filesystem::temp_directory_path() / "crmsync-store-XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr) return absl::InternalError("mkdtemp failed");
    loc->dir_ = templ;
    loc->target_ = templ + "/crm.db";
    return loc;
  }
  auto cluster = testing::PgClusterEnvironment::Instance()->Cluster();
  if (!cluster.ok()) return cluster.status();
  auto conninfo = (*cluster)->NewSchema(name);
  if (!conninfo.ok()) return conninfo.status();
  loc->target_ = *conninfo;
  return loc;
}

StoreLocation::~StoreLocation() {
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

absl::StatusOr<std::unique_ptr<Store>> StoreLocation::Open() const {
  if (backend_ == Backend::kSqlite) {
    auto store = SqliteStore::Open(target_);
    if (!store.ok()) return store.status();
    return std::unique_ptr<Store>(std::move(*store));
  }
  auto store = PostgresStore::Open(target_);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(*store));
}

void StoreTest::SetUp() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto location = StoreLocation::Create(GetParam(), info->name());
  ASSERT_TRUE(location.ok()) << location.status();
  location_ = std::move(*location);
  auto store = location_->Open();
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = std::move(*store);
  ASSERT_TRUE(store_->Migrate().ok());
}

void StoreTest::TearDown() {
  store_.reset();
  location_.reset();
}

v1::RecordRef AccountRef(const std::string& id) {
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_ACCOUNT);
  ref.set_id(id);
  return ref;
}

v1::RecordState AccountState(const std::string& id, int64_t version, const std::string& owner) {
  v1::RecordState s;
  *s.mutable_ref() = AccountRef(id);
  s.set_version(version);
  s.set_created_version(version);
  s.mutable_data()->mutable_account()->set_id(id);
  s.mutable_data()->mutable_account()->set_name("Account " + id);
  s.mutable_data()->mutable_account()->set_owner_user_id(owner);
  s.mutable_scope()->set_owner_user_id(owner);
  s.mutable_scope()->set_team_id("team-1");
  return s;
}

int64_t StoreTest::PutAccount(const std::string& tenant, const std::string& id,
                              const std::string& owner, bool deleted) {
  int64_t version = 0;
  absl::Status s = store().changes().Write(tenant, [&](WriteTx& tx) -> absl::Status {
    auto current = tx.GetRecord(AccountRef(id));
    if (!current.ok()) return current.status();
    auto seq = tx.NextSeq();
    if (!seq.ok()) return seq.status();
    v1::RecordState state = AccountState(id, *seq, owner);
    state.set_deleted(deleted);
    const v1::ScopeKeys* previous = nullptr;
    if (current->has_value()) {
      state.set_created_version((*current)->created_version());
      if ((*current)->scope().owner_user_id() != owner) previous = &(*current)->scope();
    }
    version = *seq;
    return tx.PutRecord(state, previous);
  });
  EXPECT_TRUE(s.ok()) << s;
  return version;
}

std::vector<int64_t> StoreTest::FeedVersions(const std::string& tenant, int page) {
  std::vector<int64_t> versions;
  int64_t cursor = 0;
  while (true) {
    auto rows = store().changes().ReadSince(tenant, cursor, page);
    EXPECT_TRUE(rows.ok()) << rows.status();
    if (!rows.ok() || rows->empty()) break;
    for (const RecordRow& row : *rows) versions.push_back(row.state.version());
    cursor = rows->back().state.version();
  }
  return versions;
}

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

}  // namespace crmsync::server
