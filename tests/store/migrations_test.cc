// The one migration table: every version has the DDL of both stores, and the
// versions run 1, 2, ... without gaps, so a migration cannot land in one
// store only or be skipped.
#include "store/migrations.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

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

TEST(MigrationsTest, SplitsStatementsOutsideQuotesAndComments) {
  EXPECT_EQ(SplitSqlStatements("CREATE TABLE a (x int);\n-- a comment; still one\n"
                               "INSERT INTO a VALUES (1) ;  "),
            (std::vector<std::string>{"CREATE TABLE a (x int)",
                                      "-- a comment; still one\nINSERT INTO a VALUES (1)"}));
  EXPECT_EQ(
      SplitSqlStatements("SELECT ';', \"a;b\" FROM t /* x; y */ WHERE c = 'it''s;'; SELECT 2"),
      (std::vector<std::string>{"SELECT ';', \"a;b\" FROM t /* x; y */ WHERE c = 'it''s;'",
                                "SELECT 2"}));
  EXPECT_EQ(SplitSqlStatements("DO $$ BEGIN PERFORM 1; END $$; DO $f$ SELECT $1; $f$;"),
            (std::vector<std::string>{"DO $$ BEGIN PERFORM 1; END $$", "DO $f$ SELECT $1; $f$"}));
  EXPECT_EQ(SplitSqlStatements("SELECT $1; SELECT $2"),
            (std::vector<std::string>{"SELECT $1", "SELECT $2"}));
  EXPECT_TRUE(SplitSqlStatements("  -- only a comment;\n/* and; this */ ;\n").empty());
}

// Every migration splits into statements, none of them holding another: the
// PostgreSQL runner sends them one by one.
TEST(MigrationsTest, EveryPostgresMigrationSplitsIntoStatements) {
  for (const Migration* m = MigrationsBegin(); m != MigrationsEnd(); ++m) {
    const std::vector<std::string> statements = SplitSqlStatements(m->postgres);
    EXPECT_FALSE(statements.empty()) << "version " << m->version;
    for (const std::string& s : statements) {
      EXPECT_EQ(SplitSqlStatements(s), std::vector<std::string>{s}) << "version " << m->version;
    }
  }
}

}  // namespace
}  // namespace crmsync::server
