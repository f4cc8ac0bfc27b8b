// Token credentials against a crm-syncd without development identity: the
// SDK signs in (Login, RegisterDevice), syncs with device-bound tokens, and
// persists refresh tokens through the callback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "e2e_harness.h"

namespace crmsync::client {
namespace {

class TokenAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    // Access tokens live 10 s, inside the SDK's 30 s refresh margin, so every
    // call after the first refreshes: the refresh path runs without waiting.
    ASSERT_TRUE(syncd_.Start(&error, /*dev_identity=*/false, {"--access-token-ttl-seconds", "10"}))
        << error;
  }
  std::unique_ptr<Database> Open(const std::string& device) {
    DatabaseOptions o;
    o.path = dir_.File(device + ".db");
    o.device_id = device;
    o.user_id = "u-alice";
    auto db = Database::Open(o);
    EXPECT_TRUE(db.ok()) << db.status();
    return db.ok() ? *std::move(db) : nullptr;
  }
  std::shared_ptr<Transport> TokenTransport(const std::string& device, const std::string& password,
                                            std::vector<std::string>* refresh_tokens) {
    TokenCredentialsOptions c;
    c.address = syncd_.server.address();
    c.tenant = "demo";
    c.username = "alice";
    c.password = password;
    c.device_id = device;
    c.on_refresh_token = [refresh_tokens](const std::string& t) { refresh_tokens->push_back(t); };
    GrpcTransportOptions t;
    t.address = syncd_.server.address();
    t.credentials = MakeTokenCredentials(c);
    return MakeGrpcTransport(t);
  }
  testing::SyncdFixture syncd_;
  testing::TempDir dir_;
};

TEST_F(TokenAuthTest, SignsInRegistersTheDeviceAndSyncs) {
  auto db = Open("alice-phone");
  std::vector<std::string> refresh_tokens;
  SyncEngine engine(db.get(), TokenTransport("alice-phone", "alice-demo-password", &refresh_tokens),
                    SyncOptions());
  ASSERT_TRUE(engine.SyncOnce().ok()) << engine.Progress().last_error;
  EXPECT_THAT(*db->MyOpenLeads(), ::testing::SizeIs(3));
  ASSERT_FALSE(refresh_tokens.empty());
  // Later calls refresh (rotating the refresh token) and keep working.
  const size_t tokens = refresh_tokens.size();
  ASSERT_TRUE(engine.SyncOnce().ok()) << engine.Progress().last_error;
  EXPECT_GT(refresh_tokens.size(), tokens);
  EXPECT_NE(refresh_tokens.back(), refresh_tokens.front());
}

TEST_F(TokenAuthTest, WrongPasswordIsUnauthenticatedAndNothingIsPulled) {
  auto db = Open("alice-phone");
  std::vector<std::string> refresh_tokens;
  SyncEngine engine(db.get(), TokenTransport("alice-phone", "not-her-password", &refresh_tokens),
                    SyncOptions());
  EXPECT_EQ(engine.SyncOnce().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(*db->MyOpenLeads(), ::testing::SizeIs(0));
  EXPECT_TRUE(refresh_tokens.empty());
}

TEST_F(TokenAuthTest, DevelopmentMetadataIsRefusedWithoutDevIdentity) {
  auto db = Open("alice-phone");
  GrpcTransportOptions t;
  t.address = syncd_.server.address();
  t.credentials = MakeDevCredentials("demo", "alice", "alice-phone");
  SyncEngine engine(db.get(), MakeGrpcTransport(t), SyncOptions());
  EXPECT_EQ(engine.SyncOnce().code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace crmsync::client
