#include "crmsync/sync/policy_table.h"

#include <gtest/gtest.h>

namespace crmsync::sync {
namespace {

TEST(PolicyTableTest, DefaultsFollowTheDesign) {
  const PolicyTable& t = PolicyTable::DefaultInstance();
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_LEAD, "notes"), v1::CONFLICT_POLICY_LWW);
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_OPPORTUNITY, "amount"), v1::CONFLICT_POLICY_MANUAL);
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_OPPORTUNITY, "amount.amount_minor"),
            v1::CONFLICT_POLICY_MANUAL);
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_OPPORTUNITY, "stage"), v1::CONFLICT_POLICY_MANUAL);
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_CONTACT, "email"), v1::CONFLICT_POLICY_PROVENANCE);
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_CONTACT, "mobile"), v1::CONFLICT_POLICY_PROVENANCE);
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_LEAD, "phone"), v1::CONFLICT_POLICY_PROVENANCE);
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_ACCOUNT, "tags"), v1::CONFLICT_POLICY_SET);
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_CALENDAR_EVENT, "attendee_ids"), v1::CONFLICT_POLICY_SET);
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_LOYALTY_ACCOUNT, "points_balance"),
            v1::CONFLICT_POLICY_COUNTER);
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_COUPON, "redemption_count"), v1::CONFLICT_POLICY_SERVER_WINS);
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_REDEMPTION, "status"), v1::CONFLICT_POLICY_SERVER_WINS);
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_REDEMPTION, "rejection_reason"),
            v1::CONFLICT_POLICY_SERVER_WINS);
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_STORE, "id"), v1::CONFLICT_POLICY_SERVER_WINS);
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_LEAD, "converted_opportunity_id"),
            v1::CONFLICT_POLICY_UNIQUE_CLAIM);
  EXPECT_EQ(t.delete_rule(), DeleteRule::kKeepDelete);
}

TEST(PolicyTableTest, ParsesRulesCommentsAndWildcards) {
  Result<PolicyTable> t = PolicyTable::Parse(R"(
# field policies
lead.phone = lww          # trailing comment
opportunity.* = client_wins
opportunity.stage = server_wins
*.notes = manual
delete_vs_update = keep_update
)");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->Lookup(v1::ENTITY_TYPE_LEAD, "phone"), v1::CONFLICT_POLICY_LWW);
  EXPECT_EQ(t->Lookup(v1::ENTITY_TYPE_OPPORTUNITY, "name"), v1::CONFLICT_POLICY_CLIENT_WINS);
  EXPECT_EQ(t->Lookup(v1::ENTITY_TYPE_OPPORTUNITY, "stage"), v1::CONFLICT_POLICY_SERVER_WINS);
  // An exact rule from the defaults beats the type's wildcard.
  EXPECT_EQ(t->Lookup(v1::ENTITY_TYPE_OPPORTUNITY, "amount"), v1::CONFLICT_POLICY_MANUAL);
  // Any-type field rule beats the type's wildcard.
  EXPECT_EQ(t->Lookup(v1::ENTITY_TYPE_OPPORTUNITY, "notes"), v1::CONFLICT_POLICY_MANUAL);
  EXPECT_EQ(t->Lookup(v1::ENTITY_TYPE_ACCOUNT, "notes"), v1::CONFLICT_POLICY_MANUAL);
  EXPECT_EQ(t->delete_rule(), DeleteRule::kKeepUpdate);
  // Defaults are kept underneath.
  EXPECT_EQ(t->Lookup(v1::ENTITY_TYPE_LEAD, "tags"), v1::CONFLICT_POLICY_SET);
}

TEST(PolicyTableTest, ReportsEveryBadLineWithItsNumber) {
  Result<PolicyTable> t = PolicyTable::Parse(
      "lead.phone = lww\n"
      "lead.phone lww\n"
      "lead.fax = lww\n"
      "widget.name = lww\n"
      "lead.notes = sometimes\n"
      "lead.notes = counter\n"
      "lead.rating = set\n"
      "delete_vs_update = maybe\n"
      "lead.* = counter\n");
  ASSERT_FALSE(t.ok());
  const std::string& msg = t.status().message();
  EXPECT_EQ(msg.find("line 1:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 2: expected"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 3: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("fax"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 4: unknown entity type 'widget'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 5: unknown policy 'sometimes'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 6: policy counter needs"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 7: policy set needs"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 8: delete_vs_update"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 9: policy counter cannot be a default"), std::string::npos) << msg;
}

TEST(PolicyTableTest, EmptyConfigYieldsDefaults) {
  Result<PolicyTable> t = PolicyTable::Parse("\n# nothing\n   \n");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->ToText(), PolicyTable::Defaults().ToText());
}

TEST(PolicyTableTest, ToTextRoundTrips) {
  PolicyTable t = PolicyTable::Defaults();
  ASSERT_TRUE(t.Set(v1::ENTITY_TYPE_ACCOUNT, "*", v1::CONFLICT_POLICY_SERVER_WINS).ok());
  t.set_delete_rule(DeleteRule::kKeepUpdate);
  Result<PolicyTable> back = PolicyTable::Parse(t.ToText(), PolicyTable());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToText(), t.ToText());
}

TEST(PolicyTableTest, EmptyTableIsAllLww) {
  PolicyTable t;
  EXPECT_EQ(t.Lookup(v1::ENTITY_TYPE_OPPORTUNITY, "amount"), v1::CONFLICT_POLICY_LWW);
  EXPECT_FALSE(t.Set(v1::ENTITY_TYPE_LEAD, "notes", v1::CONFLICT_POLICY_UNSPECIFIED).ok());
  EXPECT_FALSE(t.Set(v1::ENTITY_TYPE_UNSPECIFIED, "no_such_field", v1::CONFLICT_POLICY_LWW).ok());
}

TEST(PolicyTableTest, PolicyNamesRoundTrip) {
  for (int p = 1; p < v1::ConflictPolicy_ARRAYSIZE; ++p) {
    const auto policy = static_cast<v1::ConflictPolicy>(p);
    EXPECT_EQ(PolicyFromName(PolicyName(policy)), policy) << p;
  }
}

}  // namespace
}  // namespace crmsync::sync
