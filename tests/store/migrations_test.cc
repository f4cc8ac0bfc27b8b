// The one migration table: every version has the DDL of both stores, and the
// versions run 1, 2, ... without gaps, so a migration cannot land in one
// store only or be skipped.
#include "store/migrations.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace crmsync::server {
namespace {

bool HasStatement(const char* sql) {
  if (sql == nullptr) return false;
  const std::string text(sql);
  return text.find_first_not_of(" \t\n") != std::string::npos &&
         text.find(';') != std::string::npos;
}

TEST(MigrationsTest, EveryVersionHasBothDialectsAndNoneIsSkipped) {
  int expected = 1;
  for (const Migration* m = MigrationsBegin(); m != MigrationsEnd(); ++m, ++expected) {
    EXPECT_EQ(m->version, expected) << "versions must run 1, 2, ... without gaps";
    EXPECT_TRUE(m->name != nullptr && std::strlen(m->name) > 0) << "version " << m->version;
    EXPECT_TRUE(HasStatement(m->sqlite)) << "version " << m->version << " has no SQLite DDL";
    EXPECT_TRUE(HasStatement(m->postgres)) << "version " << m->version << " has no PostgreSQL DDL";
  }
  EXPECT_EQ(expected - 1, LatestSchemaVersion());
  EXPECT_GE(LatestSchemaVersion(), 5);
}

}  // namespace
}  // namespace crmsync::server
