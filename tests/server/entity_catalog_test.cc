// The entity catalog (sync/entity_catalog.h): built from the proto's options
// for every entity type of v1::Record, refusing inconsistent options, and
// enough on its own to give a new entity type its scope keys, access rules,
// erasure, validation and default policies (tests/proto/crmsync_test).
#include "crmsync/sync/entity_catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "crmsync/sync/policy_table.h"
#include "crmsync/sync/record_model.h"
#include "crmsync_test/catalog.pb.h"
#include "logic/scope.h"
#include "logic/value_validation.h"

namespace crmsync::server {
namespace {

namespace v1 = ::crmsync::v1;
namespace test = ::crmsync::test;
using ::testing::HasSubstr;

const sync::EntityCatalog& TestCatalog() {
  static const sync::EntityCatalog* const kCatalog = [] {
    auto built = sync::EntityCatalog::Build(test::TestRecord::descriptor());
    EXPECT_TRUE(built.ok()) << built.status().message();
    return new sync::EntityCatalog(std::move(built).value());
  }();
  return *kCatalog;
}

Principal Who(v1::Role role, std::string user, std::string team = "", std::string store = "",
              std::string device = "") {
  Principal p;
  p.tenant_id = "t1";
  p.role = role;
  p.user_id = std::move(user);
  p.team_id = std::move(team);
  p.store_id = std::move(store);
  p.device_id = std::move(device);
  return p;
}

TEST(EntityCatalogTest, EveryEntityTypeOfTheProductIsInTheCatalog) {
  const sync::EntityCatalog& catalog = sync::EntityCatalog::Default();
  const auto* oneof = v1::Record::descriptor()->FindOneofByName("entity");
  ASSERT_NE(oneof, nullptr);
  EXPECT_EQ(catalog.entities().size(), static_cast<size_t>(oneof->field_count()));
  // Every EntityType value names a oneof member of the same number, and
  // the reverse: forgetting either side of a new type fails here.
  const auto* types = v1::EntityType_descriptor();
  for (int i = 0; i < types->value_count(); ++i) {
    const int n = types->value(i)->number();
    if (n == v1::ENTITY_TYPE_UNSPECIFIED) continue;
    const sync::EntitySpec* spec = catalog.Find(static_cast<v1::EntityType>(n));
    ASSERT_NE(spec, nullptr) << types->value(i)->name() << " has no Record oneof member";
    EXPECT_EQ(types->value(i)->name(), absl::AsciiStrToUpper("ENTITY_TYPE_" + spec->name));
    EXPECT_NE(spec->access(), v1::ACCESS_RULE_UNSPECIFIED) << spec->name;
  }
  for (const sync::EntitySpec& spec : catalog.entities()) {
    EXPECT_TRUE(v1::EntityType_IsValid(spec.number)) << spec.name << " has no EntityType value";
    EXPECT_EQ(catalog.FindByName(spec.name), &spec);
  }
  EXPECT_EQ(catalog.Find(v1::ENTITY_TYPE_UNSPECIFIED), nullptr);
}

TEST(EntityCatalogTest, TheProductsRulesAreReadFromTheProto) {
  const sync::EntityCatalog& catalog = sync::EntityCatalog::Default();
  const auto* lead = catalog.Find(v1::ENTITY_TYPE_LEAD);
  ASSERT_NE(lead, nullptr);
  EXPECT_EQ(lead->access(), v1::ACCESS_RULE_CRM);
  EXPECT_TRUE(lead->rules.personal_data());
  EXPECT_TRUE(lead->IsScopeField("owner_user_id"));
  EXPECT_TRUE(lead->IsScopeField("visibility"));
  EXPECT_FALSE(lead->IsScopeField("email"));
  const auto* redemption = catalog.Find(v1::ENTITY_TYPE_REDEMPTION);
  ASSERT_NE(redemption, nullptr);
  EXPECT_EQ(redemption->access(), v1::ACCESS_RULE_DEVICE);
  EXPECT_TRUE(redemption->TerminalMay(v1::OPERATION_REDEEM));
  EXPECT_FALSE(redemption->TerminalMay(v1::OPERATION_UPSERT));
  const auto* loyalty = catalog.Find(v1::ENTITY_TYPE_LOYALTY_ACCOUNT);
  ASSERT_NE(loyalty, nullptr);
  EXPECT_TRUE(loyalty->IsScopeField("home_store_id"));
  EXPECT_NE(loyalty->FieldWithRole(v1::SCOPE_ROLE_HOME_STORE), nullptr);
  EXPECT_EQ(catalog.Find(v1::ENTITY_TYPE_STORE)->access(), v1::ACCESS_RULE_REFERENCE);
  EXPECT_FALSE(catalog.Find(v1::ENTITY_TYPE_ACCOUNT)->rules.personal_data());
  // Default policies from field and entity options.
  const sync::PolicyTable& policies = sync::PolicyTable::DefaultInstance();
  EXPECT_EQ(policies.Lookup(v1::ENTITY_TYPE_LEAD, "tags"), v1::CONFLICT_POLICY_SET);
  EXPECT_EQ(policies.Lookup(v1::ENTITY_TYPE_OPPORTUNITY, "stage"), v1::CONFLICT_POLICY_MANUAL);
  EXPECT_EQ(policies.Lookup(v1::ENTITY_TYPE_CONFLICT, "status"), v1::CONFLICT_POLICY_SERVER_WINS);
  EXPECT_EQ(policies.Lookup(v1::ENTITY_TYPE_LEAD, "first_name"), v1::CONFLICT_POLICY_LWW);
}

TEST(EntityCatalogTest, ANewEntityTypeIsItsProto) {
  const sync::EntityCatalog& catalog = TestCatalog();
  ASSERT_EQ(catalog.entities().size(), 2u);
  const sync::EntitySpec* widget = catalog.FindByName("widget");
  const sync::EntitySpec* voucher = catalog.FindByName("voucher");
  ASSERT_NE(widget, nullptr);
  ASSERT_NE(voucher, nullptr);
  EXPECT_EQ(widget->number, 40);

  // Scope keys from fields named as the type likes.
  test::Widget w;
  w.set_id("w1");
  w.set_maker_user_id("alice");
  w.set_crew_id("north");
  w.set_shared(v1::VISIBILITY_TEAM);
  const v1::ScopeKeys keys = sync::ScopeKeysOfEntity(*widget, w);
  EXPECT_EQ(keys.owner_user_id(), "alice");
  EXPECT_EQ(keys.team_id(), "north");
  EXPECT_EQ(keys.visibility(), v1::VISIBILITY_TEAM);
  EXPECT_TRUE(widget->IsScopeField("crew_id"));
  EXPECT_FALSE(widget->IsScopeField("label"));

  // Access: a CRM type follows owner and team.
  EXPECT_TRUE(CanRead(Who(v1::ROLE_SALES_REP, "alice"), *widget, keys));
  EXPECT_TRUE(CanRead(Who(v1::ROLE_SALES_REP, "bob", "north"), *widget, keys));
  EXPECT_FALSE(CanRead(Who(v1::ROLE_SALES_REP, "bob", "south"), *widget, keys));
  EXPECT_TRUE(
      CanWrite(Who(v1::ROLE_SALES_MANAGER, "carol", "north"), *widget, keys, v1::OPERATION_UPSERT));
  EXPECT_FALSE(CanRead(Who(v1::ROLE_STORE_TERMINAL, "till", "", "s1", "d1"), *widget, keys));

  // A per-store retail type: stores from both of its store fields, sorted.
  test::Voucher v;
  v.add_outlet_ids("s2");
  v.set_main_outlet_id("s1");
  const v1::ScopeKeys vkeys = sync::ScopeKeysOfEntity(*voucher, v);
  ASSERT_EQ(vkeys.store_ids_size(), 2);
  EXPECT_EQ(vkeys.store_ids(0), "s1");
  const Principal till = Who(v1::ROLE_STORE_TERMINAL, "till", "", "s2", "d1");
  EXPECT_TRUE(CanRead(till, *voucher, vkeys));
  EXPECT_TRUE(CanWrite(till, *voucher, vkeys, v1::OPERATION_REDEEM));
  EXPECT_FALSE(CanWrite(till, *voucher, vkeys, v1::OPERATION_UPSERT));
  EXPECT_FALSE(CanRead(Who(v1::ROLE_STORE_TERMINAL, "till", "", "s9", "d2"), *voucher, vkeys));
  EXPECT_FALSE(CanRead(Who(v1::ROLE_SALES_REP, "alice"), *voucher, vkeys));
  EXPECT_FALSE(CanWrite(Who(v1::ROLE_SALES_REP, "alice"), *voucher, vkeys, v1::OPERATION_REDEEM));

  // Validation: id kind, long text and bounds come from the field options.
  EXPECT_TRUE(ValidateMessage(w, "values.widget").ok());
  test::Widget big = w;
  big.set_size(11);
  EXPECT_THAT(std::string(ValidateMessage(big, "values.widget").message()),
              HasSubstr("values.widget.size must be between 1 and 10"));
  test::Widget nul = w;
  nul.set_crew_id(std::string("no\0rth", 6));
  EXPECT_THAT(std::string(ValidateMessage(nul, "values.widget").message()),
              HasSubstr("crew_id contains a NUL character"));
  test::Widget prose = w;
  prose.set_remarks(std::string(2000, 'r'));  // over the plain-string limit, under long text's
  EXPECT_TRUE(ValidateMessage(prose, "values.widget").ok());
  prose.set_label(std::string(2000, 'l'));
  EXPECT_THAT(std::string(ValidateMessage(prose, "values.widget").message()),
              HasSubstr("label is 2000 bytes"));
}

TEST(EntityCatalogTest, InconsistentOptionsAreRefusedNamingTheProblem) {
  struct Case {
    const google::protobuf::Descriptor* record;
    const char* message;
  };
  const Case cases[] = {
      {test::UnmarkedRecord::descriptor(), "crmsync.test.Unmarked has no (crmsync.v1.entity)"},
      {test::NumericOwnerRecord::descriptor(), "scope SCOPE_ROLE_OWNER needs a singular string"},
      {test::TeleporterRecord::descriptor(), "unknown terminal operation \"teleport\""},
      {test::StorelessRecord::descriptor(), "access STORE needs a field with scope STORES"},
      {test::BadPolicyRecord::descriptor(), "unknown policy \"whoever_shouts\""},
      {v1::Mutation::descriptor(), "has no oneof named entity"},
  };
  for (const Case& c : cases) {
    auto built = sync::EntityCatalog::Build(c.record);
    ASSERT_FALSE(built.ok()) << c.record->full_name();
    EXPECT_THAT(built.status().message(), HasSubstr(c.message)) << c.record->full_name();
  }
}

}  // namespace
}  // namespace crmsync::server
