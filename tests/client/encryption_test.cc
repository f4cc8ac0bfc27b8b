// Encryption at rest: a keyed store is unreadable without its key, and its
// content does not appear in the raw file bytes.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <iterator>

#include "crmsync/client/database.h"
#include "crmsync/client/repository.h"
#include "test_util.h"

namespace crmsync::client {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class EncryptionTest : public ::testing::Test {
 protected:
  DatabaseOptions Options(const std::string& key) {
    DatabaseOptions o;
    o.path = dir_.File("secret.db");
    o.key = key;
    o.device_id = "phone-1";
    o.user_id = "u-alice";
    return o;
  }
  void WriteSecret() {
    auto db = Database::Open(Options("correct horse battery staple"));
    ASSERT_TRUE(db.ok()) << db.status();
    Repository<v1::Lead> leads(db->get());
    v1::Lead l;
    l.set_id("lead-secret");
    l.set_last_name("Zebulon-Quartermaine");
    l.set_notes("confidential-note-xyzzy");
    ASSERT_TRUE(leads.Create(l).ok());
  }
  testing::TempDir dir_;
};

TEST_F(EncryptionTest, RightKeyReadsTheData) {
  WriteSecret();
  auto db = Database::Open(Options("correct horse battery staple"));
  ASSERT_TRUE(db.ok()) << db.status();
  auto got = Repository<v1::Lead>(db->get()).Get("lead-secret");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->notes(), "confidential-note-xyzzy");
}

TEST_F(EncryptionTest, WrongKeyOrNoKeyIsRefused) {
  WriteSecret();
  EXPECT_EQ(Database::Open(Options("wrong key")).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Database::Open(Options("")).status().code(), absl::StatusCode::kPermissionDenied);
  // Plain SQLite (no key) cannot read it either.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(Options("").path.c_str(), &raw), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(raw, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
}

TEST_F(EncryptionTest, ContentIsNotInTheRawFileOrWal) {
  WriteSecret();
  const std::string path = Options("").path;
  std::string bytes = ReadAll(path) + ReadAll(path + "-wal");
  ASSERT_GT(bytes.size(), 1000u);
  EXPECT_EQ(bytes.find("Zebulon"), std::string::npos);
  EXPECT_EQ(bytes.find("confidential-note"), std::string::npos);
  EXPECT_EQ(bytes.find("SQLite format 3"), std::string::npos);
  EXPECT_EQ(bytes.find("outbox"), std::string::npos);
}

TEST_F(EncryptionTest, UnkeyedStoreStoresPlainText) {
  // The control: the same data without a key is visible, so the test above
  // can fail.
  auto db = Database::Open(Options(""));
  ASSERT_TRUE(db.ok());
  v1::Lead l;
  l.set_id("lead-plain");
  l.set_last_name("Zebulon-Quartermaine");
  ASSERT_TRUE(Repository<v1::Lead>(db->get()).Create(l).ok());
  db->reset();
  const std::string path = Options("").path;
  std::string bytes = ReadAll(path) + ReadAll(path + "-wal");
  EXPECT_NE(bytes.find("Zebulon"), std::string::npos);
}

}  // namespace
}  // namespace crmsync::client
