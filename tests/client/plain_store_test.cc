// crmsync_client_plain: the same store on plain SQLite (for binaries that
// also hold server code). It works without a key and refuses one.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "crmsync/client/database.h"
#include "crmsync/client/repository.h"
#include "test_util.h"

namespace crmsync::client {
namespace {

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

}  // namespace
}  // namespace crmsync::client
