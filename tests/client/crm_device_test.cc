// crm-device against a real crm-syncd: commands, scripts, exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "crash_process.h"
#include "e2e_harness.h"

namespace crmsync::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class CrmDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(syncd_.Start(&error)) << error;
  }
  std::vector<std::string> Base(const std::string& user, const std::string& device) {
    return {CRMSYNC_CRM_DEVICE,
            "--server",
            syncd_.server.address(),
            "--insecure",
            "--user",
            user,
            "--device-id",
            device,
            "--db",
            dir_.File(device + ".db"),
            "--key",
            "k-" + device};
  }
  int Run(const std::string& user, const std::string& device,
          const std::vector<std::string>& command, std::string* output) {
    std::vector<std::string> argv = Base(user, device);
    argv.insert(argv.end(), command.begin(), command.end());
    output->clear();
    return crmsync::testing::RunCommand(argv, output);
  }
  testing::SyncdFixture syncd_;
  testing::TempDir dir_;
};

TEST_F(CrmDeviceTest, CreateSyncAndListOnAnotherDevice) {
  std::string out;
  ASSERT_EQ(Run("alice", "phone",
                {"create", "lead", "--id", "lead-cli", "--set", "first_name=Ada", "--set",
                 "last_name=Lovelace", "--set", "status=new"},
                &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("lead-cli"));
  ASSERT_EQ(Run("alice", "phone", {"status"}, &out), 0);
  EXPECT_THAT(out, HasSubstr("pending: 1"));
  ASSERT_EQ(Run("alice", "phone", {"sync"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("pending 0"));
  ASSERT_EQ(Run("alice", "tablet", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "tablet", {"list", "lead", "--mine-open"}, &out), 0);
  EXPECT_THAT(out, HasSubstr("lead-cli\tAda Lovelace"));
  EXPECT_THAT(out, HasSubstr("lead-alice-1"));
  ASSERT_EQ(Run("alice", "tablet", {"show", "lead", "lead-cli"}, &out), 0);
  EXPECT_THAT(out, HasSubstr("last_name: \"Lovelace\""));
}

// The README's fair: two reps create the same prospect, the e-mail typed
// differently; after both synced, each device lists the flag on its own
// lead, naming the other one.
TEST_F(CrmDeviceTest, TwoRepsCreatingOnePersonSeeThePossibleDuplicate) {
  std::string out;
  ASSERT_EQ(Run("alice", "phone",
                {"create", "lead", "--id", "lead-fair-a", "--set", "first_name=Inès", "--set",
                 "last_name=Lambert", "--set", "email=ines.lambert@gmail.com"},
                &out),
            0)
      << out;
  ASSERT_EQ(Run("bob", "laptop",
                {"create", "lead", "--id", "lead-fair-b", "--set", "first_name=Ines", "--set",
                 "last_name=LAMBERT", "--set", "email=Ines.Lambert+fair@gmail.com"},
                &out),
            0)
      << out;
  ASSERT_EQ(Run("alice", "phone", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("bob", "laptop", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("bob", "laptop", {"list", "possible_duplicate"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("lead-fair-b: may be lead-fair-a ("));
  EXPECT_THAT(out, HasSubstr("email, name)"));
  EXPECT_THAT(out, Not(HasSubstr("lead-fair-a: may be"))) << "alice's flag is hers";
  ASSERT_EQ(Run("alice", "phone", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "phone", {"list", "possible_duplicate"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("lead-fair-a: may be lead-fair-b ("));
}

TEST_F(CrmDeviceTest, AMergedDuplicateConvergesOnEveryDeviceAndAnOfflineEditLandsOnTheSurvivor) {
  std::string out;
  // Alice entered the same prospect on her phone and on her tablet.
  ASSERT_EQ(Run("alice", "phone",
                {"create", "lead", "--id", "lead-m-1", "--set", "first_name=Inès", "--set",
                 "last_name=Lambert", "--set", "email=ines.lambert@gmail.com"},
                &out),
            0)
      << out;
  ASSERT_EQ(Run("alice", "tablet",
                {"create", "lead", "--id", "lead-m-2", "--set", "first_name=Ines", "--set",
                 "last_name=Lambert", "--set", "email=ines.lambert@gmail.com", "--set",
                 "phone=+33 6 12 34 56 78"},
                &out),
            0)
      << out;
  ASSERT_EQ(Run("alice", "tablet", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "phone", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "phone", {"list", "possible_duplicate"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("lead-m-1: may be lead-m-2 ("));
  // The tablet goes offline and adds a note to its copy.
  ASSERT_EQ(Run("alice", "tablet", {"offline"}, &out), 0) << out;
  ASSERT_EQ(
      Run("alice", "tablet", {"edit", "lead", "lead-m-2", "--set", "notes=call after 5pm"}, &out),
      0)
      << out;
  ASSERT_EQ(Run("alice", "tablet",
                {"create", "activity", "--id", "act-m-1", "--set", "subject=Called her", "--set",
                 "channel=call_center", "--set", "related.entity_type=lead", "--set",
                 "related.id=lead-m-2", "--set", "owner_user_id=u-alice"},
                &out),
            0)
      << out;
  ASSERT_EQ(Run("alice", "tablet", {"timeline", "lead", "lead-m-2"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("call_center\tactivity/act-m-1")) << "offline, from the local store";
  // Meanwhile the phone merges the two, keeping its first name.
  EXPECT_EQ(Run("alice", "phone", {"merge", "lead", "lead-m-1", "lead-m-1"}, &out), 4) << out;
  ASSERT_EQ(Run("alice", "phone", {"merge", "lead", "lead-m-1", "lead-m-2", "--keep", "first_name"},
                &out),
            0)
      << out;
  ASSERT_EQ(Run("alice", "phone", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "phone", {"show", "lead", "lead-m-1"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("phone: \"+33 6 12 34 56 78\""));
  EXPECT_THAT(out, HasSubstr("first_name: \"Inès\""));
  ASSERT_EQ(Run("alice", "phone", {"list", "lead"}, &out), 0) << out;
  EXPECT_THAT(out, Not(HasSubstr("lead-m-2")));
  ASSERT_EQ(Run("alice", "phone", {"list", "possible_duplicate"}, &out), 0) << out;
  EXPECT_THAT(out, Not(HasSubstr("lead-m-1: may be")));
  // The tablet comes back: its note lands on the survivor, its copy of the
  // merged record goes.
  ASSERT_EQ(Run("alice", "tablet", {"online"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "tablet", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "tablet", {"list", "lead"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("lead-m-1"));
  EXPECT_THAT(out, Not(HasSubstr("lead-m-2")));
  ASSERT_EQ(Run("alice", "tablet", {"show", "lead", "lead-m-1"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("notes: \"call after 5pm\""));
  ASSERT_EQ(Run("alice", "phone", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "phone", {"show", "lead", "lead-m-1"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("notes: \"call after 5pm\""));
  // The activity logged about the merged-away lead is on the survivor's
  // timeline, on both devices.
  ASSERT_EQ(Run("alice", "phone", {"timeline", "lead", "lead-m-1"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("call_center\tactivity/act-m-1")) << out;
  ASSERT_EQ(Run("alice", "tablet", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "tablet", {"timeline", "lead", "lead-m-1"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("call_center\tactivity/act-m-1")) << out;
  EXPECT_EQ(Run("alice", "tablet", {"timeline", "opportunity", "x"}, &out), 4) << out;
}

TEST_F(CrmDeviceTest, ShowPrintsUtf8TextAsIs) {
  std::string out;
  ASSERT_EQ(Run("alice", "phone",
                {"create", "lead", "--id", "lead-utf8", "--set", "first_name=Zoë", "--set",
                 "last_name=Café 東京", "--set", "status=new"},
                &out),
            0)
      << out;
  ASSERT_EQ(Run("alice", "phone", {"show", "lead", "lead-utf8"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("first_name: \"Zoë\""));
  EXPECT_THAT(out, HasSubstr("last_name: \"Café 東京\""));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("\\303")));
}

TEST_F(CrmDeviceTest, ExitCodesSayWhatWentWrong) {
  std::string out;
  EXPECT_EQ(Run("alice", "phone", {"show", "lead", "missing"}, &out), 3);
  EXPECT_THAT(out, HasSubstr("no record missing"));
  EXPECT_EQ(Run("alice", "phone", {"create", "unicorn"}, &out), 4);
  EXPECT_EQ(Run("alice", "phone", {"frobnicate"}, &out), 2);
  EXPECT_EQ(Run("alice", "phone", {"offline"}, &out), 0);
  EXPECT_EQ(Run("alice", "phone", {"sync"}, &out), 6);
  EXPECT_EQ(Run("alice", "phone", {"online"}, &out), 0);
  EXPECT_EQ(Run("alice", "phone", {"sync"}, &out), 0) << out;
  // Wrong key for an existing encrypted store.
  std::vector<std::string> argv = Base("alice", "phone");
  argv.back() = "wrong";
  argv.push_back("status");
  EXPECT_EQ(crmsync::testing::RunCommand(argv, &out), 7) << out;
  for (const char* cmd : {"create", "edit", "delete", "list", "show", "sync", "offline", "online",
                          "status", "watch", "script", "redeem", "points"}) {
    EXPECT_EQ(Run("alice", "phone", {cmd, "--help"}, &out), 0) << cmd;
    EXPECT_THAT(out, HasSubstr("Usage")) << cmd;
  }
}

// A custom field an admin defined reaches the phones with their next sync;
// a rep writes it by name (the kind from the definition the phone holds), a
// colleague's tablet shows it with its label, and a value the definition
// refuses comes back as a rejection naming the field.
TEST_F(CrmDeviceTest, ACustomFieldDefinedByAnAdminIsWrittenAndShownOnThePhones) {
  std::string out;
  ASSERT_EQ(Run("admin", "console",
                {"create", "custom_field", "--id", "lead.region", "--set", "entity_type=lead",
                 "--set", "name=region", "--set", "kind=one_of", "--set", "options=North", "--set",
                 "options=South", "--set", "label=Sales region"},
                &out),
            0)
      << out;
  ASSERT_EQ(Run("admin", "console", {"sync"}, &out), 0) << out;
  // Before its sync the phone does not know the field.
  EXPECT_NE(Run("alice", "phone",
                {"create", "lead", "--id", "lead-cf-0", "--set", "custom.region=North"}, &out),
            0);
  EXPECT_THAT(out, HasSubstr("no custom field 'region'"));
  ASSERT_EQ(Run("alice", "phone", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "phone",
                {"create", "lead", "--id", "lead-cf-1", "--set", "last_name=Ames", "--set",
                 "custom.region=North"},
                &out),
            0)
      << out;
  ASSERT_EQ(Run("alice", "phone", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "tablet", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "tablet", {"show", "lead", "lead-cf-1"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("custom.region (Sales region): North"));
  ASSERT_EQ(
      Run("alice", "tablet", {"edit", "lead", "lead-cf-1", "--set", "custom.region=Mars"}, &out), 0)
      << out;
  Run("alice", "tablet", {"sync"}, &out);
  EXPECT_THAT(out, HasSubstr("custom.region 'Mars' is not one of: North, South"));
}

TEST_F(CrmDeviceTest, ScriptedOfflineScenarioSurfacesTheRejection) {
  std::string out;
  ASSERT_EQ(Run("alice", "phone", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "tablet", {"sync"}, &out), 0) << out;
  const std::string script = dir_.File("scenario.txt");
  {
    std::ofstream f(script);
    f << "# the phone goes offline and edits a lead the tablet deletes\n"
      << "offline\n"
      << "edit lead lead-alice-3 --set \"notes=called, wants a quote\"\n"
      << "status\n";
  }
  ASSERT_EQ(Run("alice", "phone", {"script", script}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("pending: 1"));
  ASSERT_EQ(Run("alice", "tablet", {"delete", "lead", "lead-alice-3"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "tablet", {"sync"}, &out), 0) << out;
  {
    std::ofstream f(script);
    f << "online\nsync\n";
  }
  // A script treats "needs attention" (exit 8 of sync) as success.
  ASSERT_EQ(Run("alice", "phone", {"script", script}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("rejected lead-alice-3 (REJECT_REASON_RECORD_DELETED)"));
  EXPECT_EQ(Run("alice", "phone", {"show", "lead", "lead-alice-3"}, &out), 3);
  ASSERT_EQ(Run("alice", "phone", {"status"}, &out), 0);
  EXPECT_THAT(out, HasSubstr("rejected lead-alice-3"));
}

TEST(CrmDeviceTokenTest, PasswordSignsInWithTokens) {
  testing::SyncdFixture syncd;
  std::string error;
  ASSERT_TRUE(syncd.Start(&error, /*dev_identity=*/false)) << error;
  testing::TempDir dir;
  std::vector<std::string> argv = {CRMSYNC_CRM_DEVICE,
                                   "--server",
                                   syncd.server.address(),
                                   "--insecure",
                                   "--user",
                                   "alice",
                                   "--db",
                                   dir.File("a.db"),
                                   "--password",
                                   "alice-demo-password",
                                   "sync"};
  std::string out;
  ASSERT_EQ(crmsync::testing::RunCommand(argv, &out), 0) << out;
  argv[argv.size() - 2] = "wrong-password";
  EXPECT_EQ(crmsync::testing::RunCommand(argv, &out), 7) << out;
}

TEST_F(CrmDeviceTest, WatchPrintsAChangeMadeOnAnotherDevice) {
  std::string out;
  ASSERT_EQ(Run("alice", "tablet", {"sync"}, &out), 0) << out;
  testing::ChildProcess watch;
  std::vector<std::string> argv = Base("alice", "tablet");
  argv.insert(argv.end(), {"watch", "--for", "30"});
  ASSERT_TRUE(watch.Start(argv));
  // The watcher's first cycle prints nothing (no changes); wait until its
  // subscription sees the phone's edit.
  ASSERT_EQ(Run("alice", "phone", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("alice", "phone", {"edit", "lead", "lead-alice-1", "--set", "rating=1"}, &out), 0);
  ASSERT_EQ(Run("alice", "phone", {"sync"}, &out), 0) << out;
  auto lines = watch.ReadLines(1, std::chrono::seconds(20));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "changed ENTITY_TYPE_LEAD lead-alice-1");
}

// The README's terminal demo: two tills of one store redeem the same
// one-time coupon and move loyalty points while offline; at sync exactly one
// redemption wins, the other till is told why, points sum exactly and a
// debit past zero is refused.
TEST_F(CrmDeviceTest, TwoOfflineTillsRedeemOneCouponAndReconcile) {
  std::string out;
  for (const char* till : {"till1", "till2"}) {
    ASSERT_EQ(Run("till-paris", till, {"sync"}, &out), 0) << out;
    ASSERT_EQ(Run("till-paris", till, {"list", "coupon"}, &out), 0);
    // Named for store-paris, and inside the Louvre-area geofence.
    EXPECT_THAT(out, HasSubstr("coupon-welcome"));
    EXPECT_THAT(out, HasSubstr("coupon-louvre-area"));
    ASSERT_EQ(Run("till-paris", till, {"offline"}, &out), 0);
  }
  ASSERT_EQ(Run("till-paris", "till1", {"list", "coupon", "--near", "48.8606,2.3376"}, &out), 0);
  EXPECT_THAT(out, HasSubstr("coupon-louvre-area"));
  ASSERT_EQ(Run("till-paris", "till1",
                {"redeem", "coupon-welcome", "--store", "store-paris", "--at", "48.8606,2.3376",
                 "--customer", "loyalty-0001", "--id", "red-1"},
                &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("PENDING"));
  ASSERT_EQ(Run("till-paris", "till2",
                {"redeem", "coupon-welcome", "--store", "store-paris", "--at", "48.8607,2.3375",
                 "--accuracy", "25", "--customer", "loyalty-0001", "--id", "red-2"},
                &out),
            0)
      << out;
  ASSERT_EQ(Run("till-paris", "till1", {"points", "loyalty-0001", "30"}, &out), 0) << out;
  ASSERT_EQ(Run("till-paris", "till2", {"points", "loyalty-0001", "-100"}, &out), 0) << out;
  EXPECT_EQ(Run("till-paris", "till2",
                {"redeem", "coupon-welcome", "--store", "store-paris", "--at", "91,0"}, &out),
            4);
  EXPECT_EQ(Run("till-paris", "till2",
                {"redeem", "no-such-coupon", "--store", "store-paris", "--at", "48.86,2.33"}, &out),
            3);

  for (const char* till : {"till1", "till2"}) {
    ASSERT_EQ(Run("till-paris", till, {"online"}, &out), 0);
  }
  ASSERT_EQ(Run("till-paris", "till1", {"sync"}, &out), 0) << out;
  EXPECT_EQ(Run("till-paris", "till2", {"sync"}, &out), 8) << out;  // needs attention
  EXPECT_THAT(out, HasSubstr("rejected red-2 (REJECT_REASON_COUPON_EXHAUSTED)"));
  ASSERT_EQ(Run("till-paris", "till1", {"sync"}, &out), 0) << out;
  ASSERT_EQ(Run("till-paris", "till1", {"list", "redemption"}, &out), 0);
  EXPECT_THAT(out, HasSubstr("red-1\tcoupon coupon-welcome\tACCEPTED"));
  ASSERT_EQ(Run("till-paris", "till2", {"list", "redemption"}, &out), 0);
  EXPECT_THAT(out, HasSubstr("red-2\tcoupon coupon-welcome\tREJECTED: "));
  // 120 + 30 - 100, on both tills.
  for (const char* till : {"till1", "till2"}) {
    ASSERT_EQ(Run("till-paris", till, {"list", "loyalty_account"}, &out), 0);
    EXPECT_THAT(out, HasSubstr("50 points")) << till;
  }
  // The one-time coupon is used up: it left both tills.
  ASSERT_EQ(Run("till-paris", "till2", {"list", "coupon"}, &out), 0);
  EXPECT_THAT(out, ::testing::Not(HasSubstr("coupon-welcome")));
  // Below zero is refused by the server, with the reason.
  ASSERT_EQ(Run("till-paris", "till2", {"points", "loyalty-0001", "-80"}, &out), 0);
  EXPECT_EQ(Run("till-paris", "till2", {"sync"}, &out), 8) << out;
  EXPECT_THAT(out, HasSubstr("INSUFFICIENT_BALANCE"));
  ASSERT_EQ(Run("till-paris", "till2", {"list", "loyalty_account"}, &out), 0);
  EXPECT_THAT(out, HasSubstr("50 points"));
}

}  // namespace
}  // namespace crmsync::client
