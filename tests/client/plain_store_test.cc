// crmsync_client_plain: the same store on plain SQLite (for binaries that
// also hold server code). It works without a key and refuses one.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace crmsync::client
