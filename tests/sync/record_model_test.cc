#include "crmsync/sync/record_model.h"

#include <gtest/gtest.h>

#include "crmsync/sync/field_path.h"

namespace crmsync::sync {
namespace {

TEST(FieldPathTest, ResolvesNestedPaths) {
  Result<FieldPath> p = ResolveFieldPath(v1::Account::descriptor(), "billing_address.city");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->fields.size(), 2u);
  EXPECT_EQ(p->leaf()->name(), "city");
}

TEST(FieldPathTest, RejectsUnknownAndNonMessageSegments) {
  Result<FieldPath> bad = ResolveFieldPath(v1::Account::descriptor(), "billing_address.town");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("town"), std::string::npos);
  EXPECT_FALSE(ResolveFieldPath(v1::Account::descriptor(), "name.first").ok());
  EXPECT_FALSE(ResolveFieldPath(v1::Account::descriptor(), "tags.x").ok());
  EXPECT_FALSE(ResolveFieldPath(v1::Account::descriptor(), "").ok());
  EXPECT_FALSE(ResolveFieldPath(v1::Account::descriptor(), "name.").ok());
}

TEST(FieldPathTest, PathIsUnder) {
  EXPECT_TRUE(PathIsUnder("a.b", "a"));
  EXPECT_TRUE(PathIsUnder("a", "a"));
  EXPECT_FALSE(PathIsUnder("ab", "a"));
  EXPECT_FALSE(PathIsUnder("a", "a.b"));
}

TEST(FieldPathTest, CompareAndCopyThroughUnsetParents) {
  v1::Account a, b;
  a.mutable_billing_address()->set_city("Lyon");
  FieldPath city = *ResolveFieldPath(v1::Account::descriptor(), "billing_address.city");
  FieldPath street = *ResolveFieldPath(v1::Account::descriptor(), "billing_address.street");
  EXPECT_FALSE(PathValuesEqual(a, b, city));
  EXPECT_TRUE(PathValuesEqual(a, b, street));  // Both default.
  EXPECT_TRUE(PathIsDefault(b, city));
  CopyPathValue(a, city, &b);
  EXPECT_EQ(b.billing_address().city(), "Lyon");
  EXPECT_TRUE(PathValuesEqual(a, b, city));
  // Copying a default clears without creating parents.
  v1::Account empty, target;
  CopyPathValue(empty, city, &target);
  EXPECT_FALSE(target.has_billing_address());
  CopyPathValue(empty, city, &b);
  EXPECT_EQ(b.billing_address().city(), "");
}

TEST(FieldPathTest, IntegerAccessAndRangeChecks) {
  v1::Lead lead;
  FieldPath rating = *ResolveFieldPath(v1::Lead::descriptor(), "rating");
  FieldPath money = *ResolveFieldPath(v1::Lead::descriptor(), "estimated_value.amount_minor");
  EXPECT_TRUE(IsIntegerLeaf(rating));
  EXPECT_TRUE(IsIntegerLeaf(money));
  EXPECT_TRUE(SetPathInt(&lead, money, 42).ok());
  EXPECT_EQ(GetPathInt(lead, money), 42);
  EXPECT_FALSE(SetPathInt(&lead, rating, int64_t{1} << 40).ok());
  FieldPath tags = *ResolveFieldPath(v1::Lead::descriptor(), "tags");
  EXPECT_TRUE(IsRepeatedScalarLeaf(tags));
  EXPECT_FALSE(IsIntegerLeaf(tags));
}

// Custom fields: a string-keyed map whose entries paths name one by one.
TEST(FieldPathTest, MapEntriesAreFieldsOfTheirOwn) {
  const auto* d = v1::Lead::descriptor();
  auto fp = ResolveFieldPath(d, "custom.region");
  ASSERT_TRUE(fp.ok());
  EXPECT_TRUE(fp->names_map_entry());
  EXPECT_EQ(fp->map_key, "region");
  EXPECT_EQ(fp->leaf()->name(), "custom");
  EXPECT_FALSE(ResolveFieldPath(d, "custom.Region").ok());
  EXPECT_FALSE(ResolveFieldPath(d, "custom.region.text").ok()) << "one key, nothing below";
  EXPECT_FALSE(IsIntegerLeaf(*fp));
  EXPECT_FALSE(IsRepeatedScalarLeaf(*fp));

  v1::Lead a, b;
  (*a.mutable_custom())["region"].set_choice("North");
  (*a.mutable_custom())["tier"].set_text("Gold");
  (*b.mutable_custom())["tier"].set_text("Gold");
  EXPECT_FALSE(PathValuesEqual(a, b, *fp));
  EXPECT_TRUE(PathIsDefault(b, *fp));
  EXPECT_TRUE(PathValuesEqual(a, b, *ResolveFieldPath(d, "custom.tier")));
  EXPECT_EQ(DiffPaths(a, b), std::vector<std::string>{"custom.region"});

  // Copy adds, replaces and removes one entry, leaving the others.
  CopyPathValue(a, *fp, &b);
  EXPECT_EQ(b.custom().at("region").choice(), "North");
  EXPECT_TRUE(DiffPaths(a, b).empty());
  (*a.mutable_custom())["region"].set_choice("South");
  CopyPathValue(a, *fp, &b);
  EXPECT_EQ(b.custom().size(), 2u);
  EXPECT_EQ(b.custom().at("region").choice(), "South");
  v1::Lead none;
  CopyPathValue(none, *fp, &b);
  EXPECT_EQ(b.custom().count("region"), 0u);
  EXPECT_EQ(b.custom().at("tier").text(), "Gold");
  // A false boolean or a zero number is a value, not an absent one.
  v1::Lead zero;
  (*zero.mutable_custom())["region"].set_boolean(false);
  EXPECT_FALSE(PathIsDefault(zero, *fp));
  // Entry order is no difference.
  v1::Lead x, y;
  (*x.mutable_custom())["a"].set_text("1");
  (*x.mutable_custom())["b"].set_text("2");
  (*y.mutable_custom())["b"].set_text("2");
  (*y.mutable_custom())["a"].set_text("1");
  EXPECT_TRUE(PathValuesEqual(x, y, *ResolveFieldPath(d, "custom")));
  EXPECT_TRUE(DiffPaths(x, y).empty());
}

TEST(ValidateMutationTest, CustomFieldsAreNamedOneByOne) {
  v1::Mutation m;
  m.mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  m.mutable_record()->set_id("l-1");
  m.set_operation(v1::OPERATION_UPSERT);
  m.set_base_version(3);
  (*m.mutable_values()->mutable_lead()->mutable_custom())["region"].set_choice("North");
  m.mutable_update_mask()->add_paths("custom.region");
  EXPECT_TRUE(ValidateMutation(m).ok());
  m.mutable_update_mask()->set_paths(0, "custom");
  Status s = ValidateMutation(m);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("custom.<name>"), std::string::npos) << s.message();
}

TEST(RecordModelTest, EntityAccessByReflection) {
  v1::Record r;
  EXPECT_EQ(EntityTypeOf(r), v1::ENTITY_TYPE_UNSPECIFIED);
  EXPECT_EQ(EntityOf(r), nullptr);
  google::protobuf::Message* m = MutableEntity(&r, v1::ENTITY_TYPE_COUPON);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(EntityTypeOf(r), v1::ENTITY_TYPE_COUPON);
  EXPECT_EQ(EntityDescriptor(v1::ENTITY_TYPE_LOYALTY_ACCOUNT), v1::LoyaltyAccount::descriptor());
  EXPECT_EQ(EntityTypeName(v1::ENTITY_TYPE_CALENDAR_EVENT), "calendar_event");
  EXPECT_EQ(EntityTypeFromName("opportunity"), v1::ENTITY_TYPE_OPPORTUNITY);
  EXPECT_EQ(EntityTypeFromName("user"), v1::ENTITY_TYPE_UNSPECIFIED);
  // Every EntityType value except UNSPECIFIED maps to a Record member.
  for (int n = 1; n < v1::EntityType_ARRAYSIZE; ++n) {
    if (!v1::EntityType_IsValid(n)) continue;
    EXPECT_NE(EntityDescriptor(static_cast<v1::EntityType>(n)), nullptr) << n;
  }
}

TEST(RecordModelTest, ApplyMaskAndComputeMask) {
  v1::Record before, after;
  before.mutable_contact()->set_first_name("Ann");
  before.mutable_contact()->mutable_address()->set_city("Oslo");
  after = before;
  after.mutable_contact()->set_phone("+47");
  after.mutable_contact()->mutable_address()->set_city("Bergen");
  after.mutable_contact()->add_tags("x");
  google::protobuf::FieldMask mask = ComputeFieldMask(before, after);
  ASSERT_EQ(mask.paths_size(), 3);
  EXPECT_EQ(mask.paths(0), "address.city");
  EXPECT_EQ(mask.paths(1), "phone");
  EXPECT_EQ(mask.paths(2), "tags");
  v1::Record target = before;
  ASSERT_TRUE(ApplyFieldMask(after, mask, v1::ENTITY_TYPE_CONTACT, &target).ok());
  EXPECT_EQ(target.SerializeAsString(), after.SerializeAsString());
  google::protobuf::FieldMask bad;
  bad.add_paths("nope");
  EXPECT_FALSE(ApplyFieldMask(after, bad, v1::ENTITY_TYPE_CONTACT, &target).ok());
}

TEST(RecordModelTest, ComputeMaskForEveryEntityType) {
  for (int n = 1; n < v1::EntityType_ARRAYSIZE; ++n) {
    if (!v1::EntityType_IsValid(n)) continue;
    const auto type = static_cast<v1::EntityType>(n);
    v1::Record r;
    google::protobuf::Message* e = MutableEntity(&r, type);
    const auto* id = e->GetDescriptor()->FindFieldByName("id");
    ASSERT_NE(id, nullptr) << n;
    e->GetReflection()->SetString(e, id, "x");
    google::protobuf::FieldMask mask = ComputeFieldMask(v1::Record(), r);
    ASSERT_EQ(mask.paths_size(), 1) << n;
    EXPECT_EQ(mask.paths(0), "id");
  }
}

TEST(RecordModelTest, ScopeKeysFromEntityFields) {
  v1::Record lead;
  lead.mutable_lead()->set_owner_user_id("u1");
  lead.mutable_lead()->set_team_id("t1");
  lead.mutable_lead()->set_visibility(v1::VISIBILITY_TEAM);
  lead.mutable_lead()->set_territory("west");
  v1::ScopeKeys k = ScopeKeysOf(lead);
  EXPECT_EQ(k.owner_user_id(), "u1");
  EXPECT_EQ(k.team_id(), "t1");
  EXPECT_EQ(k.visibility(), v1::VISIBILITY_TEAM);
  EXPECT_EQ(k.territory(), "west");
  v1::Record coupon;
  coupon.mutable_coupon()->add_store_ids("s2");
  coupon.mutable_coupon()->add_store_ids("s1");
  coupon.mutable_coupon()->add_store_ids("s2");
  k = ScopeKeysOf(coupon);
  ASSERT_EQ(k.store_ids_size(), 2);
  EXPECT_EQ(k.store_ids(0), "s1");
  v1::Record red;
  red.mutable_redemption()->set_store_id("s9");
  red.mutable_redemption()->set_device_id("till");
  k = ScopeKeysOf(red);
  EXPECT_EQ(k.store_ids(0), "s9");
  EXPECT_EQ(k.device_id(), "till");
}

v1::Mutation ValidUpdate() {
  v1::Mutation m;
  m.set_client_seq(3);
  m.mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  m.mutable_record()->set_id("L1");
  m.set_operation(v1::OPERATION_UPSERT);
  m.mutable_update_mask()->add_paths("phone");
  m.mutable_values()->mutable_lead()->set_phone("1");
  m.set_base_version(4);
  return m;
}

void ExpectInvalid(const v1::Mutation& m, const std::string& needle) {
  Status s = ValidateMutation(m);
  ASSERT_FALSE(s.ok()) << "expected failure mentioning " << needle;
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
}

TEST(ValidateMutationTest, AcceptsWellFormedMutation) {
  EXPECT_TRUE(ValidateMutation(ValidUpdate()).ok());
}

TEST(ValidateMutationTest, RejectsBadShapes) {
  v1::Mutation m = ValidUpdate();
  m.clear_record();
  ExpectInvalid(m, "record reference");
  m = ValidUpdate();
  m.mutable_record()->clear_id();
  ExpectInvalid(m, "record.id");
  m = ValidUpdate();
  m.mutable_values()->mutable_contact();
  ExpectInvalid(m, "holds a contact");
  m = ValidUpdate();
  m.clear_values();
  ExpectInvalid(m, "values is empty");
  m = ValidUpdate();
  m.mutable_update_mask()->add_paths("fax");
  ExpectInvalid(m, "fax");
  m = ValidUpdate();
  m.mutable_update_mask()->add_paths("phone");
  ExpectInvalid(m, "twice");
  m = ValidUpdate();
  m.mutable_update_mask()->add_paths("address");
  m.mutable_update_mask()->add_paths("address.city");
  ExpectInvalid(m, "overlap");
  m = ValidUpdate();
  m.mutable_update_mask()->add_paths("id");
  m.mutable_values()->mutable_lead()->set_id("L1");
  ExpectInvalid(m, "id field");
  m = ValidUpdate();
  m.set_operation(v1::OPERATION_UNSPECIFIED);
  ExpectInvalid(m, "operation");
  m = ValidUpdate();
  m.set_operation(v1::OPERATION_DELETE);
  ExpectInvalid(m, "no update_mask");
  m = ValidUpdate();
  m.set_operation(v1::OPERATION_INCREMENT);
  ExpectInvalid(m, "integer");
  m = ValidUpdate();
  m.set_operation(v1::OPERATION_SET_ADD);
  ExpectInvalid(m, "repeated scalar");
  m = ValidUpdate();
  m.set_operation(v1::OPERATION_REDEEM);
  ExpectInvalid(m, "redemptions only");
  m = ValidUpdate();
  m.set_operation(v1::OPERATION_RESOLVE_CONFLICT);
  ExpectInvalid(m, "conflict_id");
  m = ValidUpdate();
  m.mutable_record()->set_entity_type(v1::ENTITY_TYPE_CONFLICT);
  ExpectInvalid(m, "OPERATION_RESOLVE_CONFLICT");
  m = ValidUpdate();
  m.mutable_base_values()->mutable_account();
  ExpectInvalid(m, "base_values");
}

TEST(ValidateMutationTest, IdOnlyOnCreateAndMustMatch) {
  v1::Mutation m = ValidUpdate();
  m.set_base_version(0);
  m.mutable_update_mask()->add_paths("id");
  m.mutable_values()->mutable_lead()->set_id("L1");
  EXPECT_TRUE(ValidateMutation(m).ok());
  m.mutable_values()->mutable_lead()->set_id("L2");
  ExpectInvalid(m, "values.id");
}

}  // namespace
}  // namespace crmsync::sync
