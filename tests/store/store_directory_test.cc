// Conformance: tenants, users, teams and devices.
#include "store/store_codec.h"
#include "store_fixture.h"

namespace crmsync::server {
namespace {

constexpr char kTenant[] = "tenant-a";
constexpr char kOther[] = "tenant-b";

class StoreDirectoryTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(store().directory().PutTenant({kTenant, "acme", "Acme Ltd"}).ok());
    ASSERT_TRUE(store().directory().PutTenant({kOther, "globex", "Globex"}).ok());
  }
};

UserRow MakeUser(const std::string& tenant, const std::string& id, const std::string& username) {
  UserRow row;
  row.tenant_id = tenant;
  row.user.set_id(id);
  row.user.set_username(username);
  row.user.set_display_name("User " + id);
  row.user.set_role(v1::ROLE_SALES_REP);
  row.user.set_team_id("team-1");
  row.user.mutable_created_at()->set_seconds(1700000000);
  row.password_hash = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA";
  return row;
}

DeviceRow MakeDevice(const std::string& tenant, const std::string& id) {
  DeviceRow row;
  row.tenant_id = tenant;
  row.device.set_id(id);
  row.device.set_user_id("u1");
  row.device.set_status(v1::DEVICE_STATUS_ACTIVE);
  row.device.set_platform("android");
  row.device.set_protocol_version(1);
  row.device.mutable_registered_at()->set_seconds(1700000000);
  row.device.mutable_registered_at()->set_nanos(123456789);
  row.device.set_cursor_seq(4);
  return row;
}

TEST_P(StoreDirectoryTest, TenantRoundTripAndUpdate) {
  auto got = store().directory().GetTenantBySlug("acme");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->id, kTenant);
  EXPECT_EQ((*got)->display_name, "Acme Ltd");
  EXPECT_FALSE(store().directory().GetTenantBySlug("nobody")->has_value());
  ASSERT_TRUE(store().directory().PutTenant({kTenant, "acme2", "Acme Group"}).ok());
  EXPECT_FALSE(store().directory().GetTenantBySlug("acme")->has_value());
  EXPECT_EQ((*store().directory().GetTenantBySlug("acme2"))->display_name, "Acme Group");
  // A slug belongs to one tenant.
  EXPECT_EQ(store().directory().PutTenant({"tenant-c", "globex", "Copy"}).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_P(StoreDirectoryTest, ListTenantsReturnsEveryTenantInIdOrder) {
  auto before = store().directory().ListTenants();
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_TRUE(store().directory().PutTenant({"a-first", "first", "First"}).ok());
  auto after = store().directory().ListTenants();
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), before->size() + 1);
  EXPECT_EQ(after->front().id, "a-first");
  EXPECT_EQ(after->front().slug, "first");
  for (size_t i = 1; i < after->size(); ++i) EXPECT_LT((*after)[i - 1].id, (*after)[i].id);
}

TEST_P(StoreDirectoryTest, UserRoundTripLookupsAndListing) {
  ASSERT_TRUE(store().directory().PutUser(MakeUser(kTenant, "u2", "bob")).ok());
  ASSERT_TRUE(store().directory().PutUser(MakeUser(kTenant, "u1", "alice")).ok());
  ASSERT_TRUE(store().directory().PutUser(MakeUser(kOther, "u1", "alice")).ok());

  auto alice = store().directory().GetUser(kTenant, "u1");
  ASSERT_TRUE(alice.ok() && alice->has_value());
  EXPECT_EQ((*alice)->tenant_id, kTenant);
  EXPECT_EQ((*alice)->user.DebugString(), MakeUser(kTenant, "u1", "alice").user.DebugString());
  EXPECT_EQ((*alice)->password_hash, MakeUser(kTenant, "u1", "alice").password_hash);
  auto by_name = store().directory().GetUserByName(kTenant, "bob");
  ASSERT_TRUE(by_name.ok() && by_name->has_value());
  EXPECT_EQ((*by_name)->user.id(), "u2");
  EXPECT_FALSE(store().directory().GetUser(kTenant, "u9")->has_value());
  EXPECT_FALSE(store().directory().GetUserByName(kTenant, "carol")->has_value());

  auto list = store().directory().ListUsers(kTenant);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].user.id(), "u1");
  EXPECT_EQ((*list)[1].user.id(), "u2");
  EXPECT_EQ(store().directory().ListUsers(kOther)->size(), 1u);
  EXPECT_TRUE(store().directory().ListUsers("tenant-empty")->empty());

  // Update: rename and change the password.
  UserRow renamed = MakeUser(kTenant, "u1", "alicia");
  renamed.password_hash.clear();
  renamed.user.set_disabled(true);
  ASSERT_TRUE(store().directory().PutUser(renamed).ok());
  EXPECT_FALSE(store().directory().GetUserByName(kTenant, "alice")->has_value());
  auto again = store().directory().GetUserByName(kTenant, "alicia");
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_TRUE((*again)->user.disabled());
  EXPECT_EQ((*again)->password_hash, "");
  // Usernames are unique within a tenant.
  EXPECT_EQ(store().directory().PutUser(MakeUser(kTenant, "u3", "bob")).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_P(StoreDirectoryTest, UserOfUnknownTenantIsRefused) {
  absl::Status s = store().directory().PutUser(MakeUser("tenant-missing", "u1", "alice"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

TEST_P(StoreDirectoryTest, TeamsRoundTrip) {
  v1::Team team;
  team.set_id("team-2");
  team.set_name("North");
  team.set_manager_user_id("u1");
  ASSERT_TRUE(store().directory().PutTeam(kTenant, team).ok());
  team.set_id("team-1");
  team.set_name("South");
  ASSERT_TRUE(store().directory().PutTeam(kTenant, team).ok());
  team.set_name("South-West");
  ASSERT_TRUE(store().directory().PutTeam(kTenant, team).ok());
  auto teams = store().directory().ListTeams(kTenant);
  ASSERT_TRUE(teams.ok());
  ASSERT_EQ(teams->size(), 2u);
  EXPECT_EQ((*teams)[0].id(), "team-1");
  EXPECT_EQ((*teams)[0].name(), "South-West");
  EXPECT_EQ((*teams)[1].name(), "North");
  EXPECT_TRUE(store().directory().ListTeams(kOther)->empty());
}

TEST_P(StoreDirectoryTest, DevicesRoundTripAndTouch) {
  DeviceRow device = MakeDevice(kTenant, "dev-b");
  ASSERT_TRUE(store().directory().PutDevice(device).ok());
  ASSERT_TRUE(store().directory().PutDevice(MakeDevice(kTenant, "dev-a")).ok());
  ASSERT_TRUE(store().directory().PutDevice(MakeDevice(kOther, "dev-b")).ok());

  auto got = store().directory().GetDevice(kTenant, "dev-b");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->device.DebugString(), device.device.DebugString());
  EXPECT_FALSE(store().directory().GetDevice(kTenant, "dev-z")->has_value());
  auto list = store().directory().ListDevices(kTenant);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].device.id(), "dev-a");

  // Contact without a pull: the cursor stays.
  ASSERT_TRUE(store().directory().TouchDevice(kTenant, "dev-b", 1700000100500, -1).ok());
  got = store().directory().GetDevice(kTenant, "dev-b");
  EXPECT_EQ(store_codec::ToUnixMs((*got)->device.last_contact_at()), 1700000100500);
  EXPECT_EQ((*got)->device.cursor_seq(), 4);
  EXPECT_FALSE((*got)->device.has_last_sync_at());
  // A pull moves the cursor and the last sync time.
  ASSERT_TRUE(store().directory().TouchDevice(kTenant, "dev-b", 1700000200000, 9).ok());
  got = store().directory().GetDevice(kTenant, "dev-b");
  EXPECT_EQ((*got)->device.cursor_seq(), 9);
  EXPECT_EQ(store_codec::ToUnixMs((*got)->device.last_sync_at()), 1700000200000);
  EXPECT_EQ((*got)->device.platform(), "android");
  // Listing shows the same, and the other tenant's dev-b is untouched.
  EXPECT_EQ((*store().directory().ListDevices(kTenant))[1].device.cursor_seq(), 9);
  EXPECT_EQ((*store().directory().GetDevice(kOther, "dev-b"))->device.cursor_seq(), 4);

  EXPECT_EQ(store().directory().TouchDevice(kTenant, "dev-unknown", 1, 1).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store().directory().TouchDevice(kOther, "dev-a", 1, 1).code(),
            absl::StatusCode::kNotFound);

  // Re-registering overwrites everything, revocation included.
  device.device.set_status(v1::DEVICE_STATUS_REVOKED);
  device.device.set_cursor_seq(0);
  ASSERT_TRUE(store().directory().PutDevice(device).ok());
  got = store().directory().GetDevice(kTenant, "dev-b");
  EXPECT_EQ((*got)->device.status(), v1::DEVICE_STATUS_REVOKED);
  EXPECT_EQ((*got)->device.cursor_seq(), 0);
}

CRMSYNC_INSTANTIATE_STORE_SUITE(StoreDirectoryTest);

}  // namespace
}  // namespace crmsync::server
