// crmsync_client_plain: the same store on plain SQLite (for binaries that
// also hold server code). It works without a key and refuses one.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "crmsync/client/database.h"
#include "crmsync/client/repository.h"
#include "test_util.h"

namespace crmsync::client {
namespace {

v1::Record WrapRecord(const v1::Lead& lead) {
  v1::Record r;
  *r.mutable_lead() = lead;
  return r;
}

TEST(PlainStoreTest, WorksWithoutKeyAndRefusesAKey) {
  testing::TempDir dir;
  DatabaseOptions o;
  o.path = dir.File("plain.db");
  o.key = "secret";
  EXPECT_EQ(Database::Open(o).status().code(), absl::StatusCode::kFailedPrecondition);
  o.key.clear();
  auto db = Database::Open(o);
  ASSERT_TRUE(db.ok()) << db.status();
  v1::Lead lead;
  lead.set_id("lead-1");
  lead.set_last_name("Plain");
  Repository<v1::Lead> leads(db->get());
  ASSERT_TRUE(leads.Create(lead).ok());
  EXPECT_EQ(leads.Get("lead-1")->last_name(), "Plain");
  EXPECT_EQ(*(*db)->PendingCount(), 1);
}

// A store written before the geo cell table existed gets its coupons
// indexed when opened.
TEST(PlainStoreTest, OpeningAnOlderStoreIndexesItsCoupons) {
  testing::TempDir dir;
  DatabaseOptions o;
  o.path = dir.File("old.db");
  {
    auto db = Database::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    v1::Coupon c;
    c.set_id("c-old");
    c.set_active(true);
    auto* circle = c.mutable_geofence()->mutable_circle();
    circle->mutable_center()->set_latitude(48.8566);
    circle->mutable_center()->set_longitude(2.3522);
    circle->set_radius_m(1000);
    ASSERT_TRUE(Repository<v1::Coupon>(db->get()).Create(c).ok());
    ASSERT_EQ((*(*db)->CouponsNear(48.8566, 2.3522, 0, 0)).size(), 1u);
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(o.path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "DROP TABLE geo_cells", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto db = Database::Open(o);
  ASSERT_TRUE(db.ok()) << db.status();
  auto near = (*db)->CouponsNear(48.8566, 2.3522, 0, 0);
  ASSERT_TRUE(near.ok()) << near.status();
  ASSERT_EQ(near->size(), 1u);
  EXPECT_EQ((*near)[0].ref().id(), "c-old");
}

// A store of local schema 1 (before records.changed_ms) is upgraded when
// opened: the column is added and filled from the stored records, and the
// version recorded; ChangedSince then finds what changed before the upgrade.
TEST(PlainStoreTest, OpeningASchema1StoreUpgradesIt) {
  testing::TempDir dir;
  DatabaseOptions o;
  o.path = dir.File("v1.db");
  int64_t written_ms = 0;
  {
    auto db = Database::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    v1::Lead lead;
    lead.set_id("lead-old");
    lead.set_last_name("Before");
    auto state = (*db)->Create(WrapRecord(lead));
    ASSERT_TRUE(state.ok()) << state.status();
    written_ms = state->hlc().wall_time_ms();
    ASSERT_GT(written_ms, 0);
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(o.path.c_str(), &raw), SQLITE_OK);
  for (const char* sql :
       {"DROP INDEX records_changed", "ALTER TABLE records DROP COLUMN changed_ms",
        "UPDATE sync_state SET value='1' WHERE key='schema_version'"}) {
    ASSERT_EQ(sqlite3_exec(raw, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sql;
  }
  sqlite3_close(raw);

  auto db = Database::Open(o);
  ASSERT_TRUE(db.ok()) << db.status();
  auto changed = (*db)->ChangedSince(v1::ENTITY_TYPE_UNSPECIFIED, written_ms);
  ASSERT_TRUE(changed.ok()) << changed.status();
  ASSERT_EQ(changed->size(), 1u);
  EXPECT_EQ((*changed)[0].ref().id(), "lead-old");
  EXPECT_TRUE((*(*db)->ChangedSince(v1::ENTITY_TYPE_LEAD, written_ms + 1)).empty());
  db->reset();

  ASSERT_EQ(sqlite3_open(o.path.c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "SELECT value FROM sync_state WHERE key='schema_version'", -1,
                               &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "2");
  sqlite3_finalize(st);
  // A store of a newer SDK (an app downgrade) is refused, not misread.
  ASSERT_EQ(sqlite3_exec(raw, "UPDATE sync_state SET value='3' WHERE key='schema_version'", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  auto newer = Database::Open(o);
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(newer.status().message().find("downgraded"), std::string::npos) << newer.status();
}

// ChangedSince orders by the time of the last change, local or synced, and
// sees a local edit of an older record.
TEST(PlainStoreTest, ChangedSinceFollowsLocalEdits) {
  testing::TempDir dir;
  testing::ManualClock clock(1'000'000);
  DatabaseOptions o;
  o.path = dir.File("changed.db");
  o.clock = &clock;
  auto db = Database::Open(o);
  ASSERT_TRUE(db.ok()) << db.status();
  Repository<v1::Lead> leads(db->get());
  for (const char* id : {"lead-a", "lead-b", "lead-c"}) {
    v1::Lead lead;
    lead.set_id(id);
    lead.set_last_name(id);
    ASSERT_TRUE(leads.Create(lead).ok());
    clock.Advance(1000);
  }
  v1::Lead edit;
  edit.set_id("lead-a");
  edit.set_last_name("edited");
  ASSERT_TRUE(leads.Update(edit).ok());  // at 1,003,000
  auto changed = (*db)->ChangedSince(v1::ENTITY_TYPE_LEAD, 1'001'000);
  ASSERT_TRUE(changed.ok()) << changed.status();
  std::vector<std::string> ids;
  for (const auto& s : *changed) ids.push_back(s.ref().id());
  EXPECT_EQ(ids, (std::vector<std::string>{"lead-b", "lead-c", "lead-a"}));
  EXPECT_EQ((*(*db)->ChangedSince(v1::ENTITY_TYPE_LEAD, 0, 1)).size(), 1u);
  EXPECT_TRUE((*(*db)->ChangedSince(v1::ENTITY_TYPE_ACCOUNT, 0)).empty());
  auto owned = (*db)->ListByOwner(v1::ENTITY_TYPE_LEAD, "");
  ASSERT_TRUE(owned.ok());
  EXPECT_EQ(owned->size(), 0u);  // owner is NULL, not ""
}

}  // namespace
}  // namespace crmsync::client
