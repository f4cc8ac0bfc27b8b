// Custom fields on both stores: an admin defines a field (AdminService),
// devices receive the definition with their next pull, values travel as
// ordinary field-level deltas ("custom.<name>"), are checked against their
// definition with a message naming the field, merge per field with the
// definition's policy, and removing a definition hides its values without
// deleting them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "admin_fixture.h"
#include "crmsync/sync/record_model.h"

namespace crmsync::server::testing {
namespace {

using ::testing::HasSubstr;

class CustomFieldsTest : public AdminHandlerTest {
 protected:
  static v1::CustomField Field(v1::EntityType type, const std::string& name,
                               v1::CustomFieldKind kind) {
    v1::CustomField f;
    f.set_entity_type(type);
    f.set_name(name);
    f.set_kind(kind);
    return f;
  }

  v1::DefineCustomFieldResponse DefineOk(const v1::CustomField& f) {
    v1::DefineCustomFieldRequest req;
    *req.mutable_field() = f;
    v1::DefineCustomFieldResponse resp;
    const absl::Status s = admin_->DefineCustomField(Admin(), AdminContext{"test"}, req, &resp);
    EXPECT_TRUE(s.ok()) << s;
    return resp;
  }

  absl::Status Define(const Principal& who, const v1::CustomField& f) {
    v1::DefineCustomFieldRequest req;
    *req.mutable_field() = f;
    v1::DefineCustomFieldResponse resp;
    return admin_->DefineCustomField(who, AdminContext{"test"}, req, &resp);
  }

  static v1::Record LeadWith(const std::string& id,
                             const std::vector<std::pair<std::string, v1::CustomValue>>& custom) {
    v1::Record r;
    v1::Lead* l = r.mutable_lead();
    l->set_id(id);
    l->set_owner_user_id("alice");
    l->set_last_name("Custom");
    for (const auto& [name, value] : custom) (*l->mutable_custom())[name] = value;
    return r;
  }

  static v1::CustomValue Text(const std::string& t) {
    v1::CustomValue v;
    v.set_text(t);
    return v;
  }
  static v1::CustomValue Choice(const std::string& c) {
    v1::CustomValue v;
    v.set_choice(c);
    return v;
  }

  std::optional<v1::RecordState> StoredLead(const std::string& id) {
    v1::RecordRef ref;
    ref.set_entity_type(v1::ENTITY_TYPE_LEAD);
    ref.set_id(id);
    auto found = store_->changes().GetRecord(kTenant, ref);
    EXPECT_TRUE(found.ok());
    return found.ok() ? *found : std::nullopt;
  }

  int64_t LatestSeq() {
    auto seq = store_->changes().LatestSeq(kTenant);
    EXPECT_TRUE(seq.ok());
    return seq.ok() ? *seq : -1;
  }

  // The result of pushing one mutation as Alice.
  v1::MutationResult PushOne(Device& dev, v1::Mutation m) {
    v1::PushResponse resp = PushOk(Rep("alice", dev.id()), {std::move(m)});
    EXPECT_EQ(resp.results_size(), 1);
    return resp.results_size() == 1 ? resp.results(0) : v1::MutationResult();
  }

  Device alice_{"dev-alice", "alice"};
};

TEST_P(CustomFieldsTest, ADefinedFieldReachesDevicesAndItsValuesAreCheckedNamingTheField) {
  v1::CustomField region = Field(v1::ENTITY_TYPE_LEAD, "region", v1::CUSTOM_FIELD_KIND_ONE_OF);
  region.add_options("North");
  region.add_options("South");
  region.set_label("Sales region");
  const v1::DefineCustomFieldResponse defined = DefineOk(region);
  EXPECT_TRUE(defined.created());
  EXPECT_EQ(defined.field().id(), "lead.region");
  EXPECT_THAT(defined.note(), HasSubstr("next sync"));
  v1::CustomField code = Field(v1::ENTITY_TYPE_LEAD, "code", v1::CUSTOM_FIELD_KIND_TEXT);
  code.set_pattern("[A-Z]{3}-[0-9]+");
  code.set_max_length(8);
  DefineOk(code);
  v1::CustomField budget = Field(v1::ENTITY_TYPE_LEAD, "budget", v1::CUSTOM_FIELD_KIND_MONEY);
  budget.set_min(0);
  DefineOk(budget);

  // A rep's device receives the definitions (reference data), no restart.
  std::string cursor;
  std::set<std::string> defs;
  for (const v1::Change& c : PullAll(Rep("alice", "dev-alice"), &cursor)) {
    if (c.record().entity_type() == v1::ENTITY_TYPE_CUSTOM_FIELD) defs.insert(c.record().id());
  }
  EXPECT_EQ(defs, (std::set<std::string>{"lead.budget", "lead.code", "lead.region"}));

  // A value of each: stored, stamped like any field.
  v1::CustomValue money;
  money.mutable_money()->set_currency_code("EUR");
  money.mutable_money()->set_amount_minor(125000);
  v1::MutationResult r =
      PushOne(alice_, alice_.Create(LeadWith("lead-1", {{"region", Choice("North")},
                                                        {"code", Text("ABC-12")},
                                                        {"budget", money}}),
                                    kStartMs));
  EXPECT_EQ(r.outcome(), v1::MUTATION_OUTCOME_APPLIED) << r.message();
  auto stored = StoredLead("lead-1");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->data().lead().custom().at("region").choice(), "North");
  EXPECT_EQ(stored->data().lead().custom().at("budget").money().amount_minor(), 125000);
  ASSERT_TRUE(stored->fields().count("custom.region"));
  EXPECT_EQ(stored->fields().at("custom.region").provenance().device_id(), "dev-alice");

  // Each refusal names the field and says what it takes; nothing is stored.
  struct Bad {
    std::string name;
    v1::CustomValue value;
    std::string says;
  };
  v1::CustomValue negative = money;
  negative.mutable_money()->set_amount_minor(-5);
  v1::CustomValue no_currency = money;
  no_currency.mutable_money()->set_currency_code("euro");
  const std::vector<Bad> bad = {
      {"region", Choice("East"), "'East' is not one of: North, South"},
      {"region", Text("North"), "is a one-of field"},
      {"code", Text("abc-1"), "does not match the pattern"},
      {"code", Text("ABC-123456"), "at most 8 characters"},
      {"budget", negative, "must be at least 0"},
      {"budget", no_currency, "ISO 4217"},
      {"shoe_size", Text("42"), "lead has no custom field 'shoe_size'"},
  };
  const int64_t before = LatestSeq();
  for (const Bad& b : bad) {
    v1::Record values = LeadWith("lead-1", {{b.name, b.value}});
    r = PushOne(alice_, alice_.Update(*stored, values, {"custom." + b.name}, kStartMs + 1000));
    EXPECT_EQ(r.outcome(), v1::MUTATION_OUTCOME_REJECTED) << b.name;
    EXPECT_EQ(r.reject_reason(), v1::REJECT_REASON_VALIDATION) << b.name;
    EXPECT_THAT(r.message(), HasSubstr("custom." + b.name));
    EXPECT_THAT(r.message(), HasSubstr(b.says));
  }
  EXPECT_EQ(LatestSeq(), before);
  // The whole map is not a field: entries are named one by one.
  r = PushOne(alice_, alice_.Update(*stored, LeadWith("lead-1", {{"region", Choice("South")}}),
                                    {"custom"}, kStartMs + 2000));
  EXPECT_EQ(r.reject_reason(), v1::REJECT_REASON_VALIDATION);
  EXPECT_THAT(r.message(), HasSubstr("custom.<name>"));
}

TEST_P(CustomFieldsTest, ConcurrentEditsMergePerFieldWithTheDefinitionsPolicy) {
  v1::CustomField tier = Field(v1::ENTITY_TYPE_LEAD, "tier", v1::CUSTOM_FIELD_KIND_TEXT);
  tier.set_policy(v1::CONFLICT_POLICY_MANUAL);
  DefineOk(tier);
  DefineOk(Field(v1::ENTITY_TYPE_LEAD, "segment", v1::CUSTOM_FIELD_KIND_TEXT));
  ASSERT_EQ(PushOne(alice_, alice_.Create(LeadWith("lead-2", {{"tier", Text("Bronze")}}), kStartMs))
                .outcome(),
            v1::MUTATION_OUTCOME_APPLIED);
  auto base = StoredLead("lead-2");
  ASSERT_TRUE(base);

  // Two phones edit offline from the same base: different custom fields both
  // stay; the same manual field becomes a conflict.
  Device phone{"dev-alice-2", "alice"};
  EXPECT_EQ(PushOne(alice_, alice_.Update(*base, LeadWith("lead-2", {{"tier", Text("Gold")}}),
                                          {"custom.tier"}, kStartMs + 1000))
                .outcome(),
            v1::MUTATION_OUTCOME_APPLIED);
  v1::PushResponse second = PushOk(
      Rep("alice", phone.id()),
      {phone.Update(*base, LeadWith("lead-2", {{"tier", Text("Silver")}, {"segment", Text("SMB")}}),
                    {"custom.tier", "custom.segment"}, kStartMs + 2000)});
  ASSERT_EQ(second.results_size(), 1);
  EXPECT_EQ(second.results(0).outcome(), v1::MUTATION_OUTCOME_CONFLICT)
      << second.results(0).message();
  auto now = StoredLead("lead-2");
  ASSERT_TRUE(now);
  EXPECT_EQ(now->data().lead().custom().at("tier").text(), "Gold") << "manual keeps the server's";
  EXPECT_EQ(now->data().lead().custom().at("segment").text(), "SMB") << "the other field merged";
  ASSERT_EQ(second.results(0).conflict_ids_size(), 1);
  v1::RecordRef conflict_ref;
  conflict_ref.set_entity_type(v1::ENTITY_TYPE_CONFLICT);
  conflict_ref.set_id(second.results(0).conflict_ids(0));
  auto conflict = store_->changes().GetRecord(kTenant, conflict_ref);
  ASSERT_TRUE(conflict.ok() && *conflict);
  EXPECT_EQ((*conflict)->data().conflict().field_path(), "custom.tier");
  EXPECT_EQ((*conflict)->data().conflict().client_value().lead().custom().at("tier").text(),
            "Silver");
}

TEST_P(CustomFieldsTest, RequiredFieldsAndRemovalKeepStoredValues) {
  v1::CustomField ref = Field(v1::ENTITY_TYPE_LEAD, "legacy_ref", v1::CUSTOM_FIELD_KIND_TEXT);
  ref.set_required(true);
  DefineOk(ref);
  v1::MutationResult r = PushOne(alice_, alice_.Create(LeadWith("lead-3", {}), kStartMs));
  EXPECT_EQ(r.reject_reason(), v1::REJECT_REASON_VALIDATION);
  EXPECT_THAT(r.message(), HasSubstr("custom.legacy_ref is required"));
  r = PushOne(alice_, alice_.Create(LeadWith("lead-3", {{"legacy_ref", Text("OLD-7")}}), kStartMs));
  ASSERT_EQ(r.outcome(), v1::MUTATION_OUTCOME_APPLIED) << r.message();
  auto stored = StoredLead("lead-3");
  ASSERT_TRUE(stored);
  r = PushOne(alice_, alice_.Update(*stored, LeadWith("lead-3", {}), {"custom.legacy_ref"},
                                    kStartMs + 1000));
  EXPECT_THAT(r.message(), HasSubstr("cannot be cleared"));

  // Removal: the value stays stored, new writes are refused, and the
  // field no longer counts as required.
  v1::RemoveCustomFieldRequest rm;
  rm.set_entity_type(v1::ENTITY_TYPE_LEAD);
  rm.set_name("legacy_ref");
  v1::RemoveCustomFieldResponse removed;
  ASSERT_TRUE(admin_->RemoveCustomField(Admin(), AdminContext{"test"}, rm, &removed).ok());
  EXPECT_TRUE(removed.field().removed());
  EXPECT_THAT(removed.note(), HasSubstr("kept, not deleted"));
  stored = StoredLead("lead-3");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->data().lead().custom().at("legacy_ref").text(), "OLD-7");
  r = PushOne(alice_, alice_.Update(*stored, LeadWith("lead-3", {{"legacy_ref", Text("NEW")}}),
                                    {"custom.legacy_ref"}, kStartMs + 2000));
  EXPECT_EQ(r.reject_reason(), v1::REJECT_REASON_VALIDATION);
  EXPECT_THAT(r.message(), HasSubstr("was removed"));
  EXPECT_EQ(PushOne(alice_, alice_.Create(LeadWith("lead-4", {}), kStartMs + 3000)).outcome(),
            v1::MUTATION_OUTCOME_APPLIED);

  v1::ListCustomFieldsRequest list_req;
  v1::ListCustomFieldsResponse list;
  ASSERT_TRUE(admin_->ListCustomFields(Admin(), list_req, &list).ok());
  EXPECT_EQ(list.fields_size(), 0) << "removed fields are listed only on request";
  list_req.set_include_removed(true);
  ASSERT_TRUE(admin_->ListCustomFields(Admin(), list_req, &list).ok());
  ASSERT_EQ(list.fields_size(), 1);
  EXPECT_TRUE(list.fields(0).removed());

  // Defined again (same kind): the value is there again; another kind is
  // refused, as stored values are of the first.
  v1::CustomField number = Field(v1::ENTITY_TYPE_LEAD, "legacy_ref", v1::CUSTOM_FIELD_KIND_NUMBER);
  absl::Status s = Define(Admin(), number);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("cannot change"));
  ref.set_required(false);
  const v1::DefineCustomFieldResponse again = DefineOk(ref);
  EXPECT_TRUE(again.created());
  EXPECT_THAT(again.note(), HasSubstr("shown again"));
  EXPECT_FALSE(again.field().removed());
  r = PushOne(alice_, alice_.Update(*stored, LeadWith("lead-3", {{"legacy_ref", Text("NEW")}}),
                                    {"custom.legacy_ref"}, kStartMs + 4000));
  EXPECT_EQ(r.outcome(), v1::MUTATION_OUTCOME_APPLIED) << r.message();
}

TEST_P(CustomFieldsTest, BadDefinitionsAreRefusedWithNothingWritten) {
  const int64_t before = LatestSeq();
  struct Case {
    v1::CustomField field;
    std::string says;
  };
  std::vector<Case> cases;
  cases.push_back(
      {Field(v1::ENTITY_TYPE_LEAD, "Shoe Size", v1::CUSTOM_FIELD_KIND_TEXT), "a-z, 0-9 and _"});
  cases.push_back(
      {Field(v1::ENTITY_TYPE_LEAD, "size", v1::CUSTOM_FIELD_KIND_UNSPECIFIED), "needs a kind"});
  cases.push_back(
      {Field(v1::ENTITY_TYPE_LEAD, "size", v1::CUSTOM_FIELD_KIND_ONE_OF), "needs its options"});
  cases.push_back(
      {Field(v1::ENTITY_TYPE_COUPON, "size", v1::CUSTOM_FIELD_KIND_TEXT), "not 'coupon'"});
  v1::CustomField pattern = Field(v1::ENTITY_TYPE_LEAD, "size", v1::CUSTOM_FIELD_KIND_TEXT);
  pattern.set_pattern("([a-z");
  cases.push_back({pattern, "pattern"});
  v1::CustomField range = Field(v1::ENTITY_TYPE_CONTACT, "size", v1::CUSTOM_FIELD_KIND_NUMBER);
  range.set_min(10);
  range.set_max(1);
  cases.push_back({range, "is above max"});
  v1::CustomField counter = Field(v1::ENTITY_TYPE_ACCOUNT, "size", v1::CUSTOM_FIELD_KIND_NUMBER);
  counter.set_policy(v1::CONFLICT_POLICY_COUNTER);
  cases.push_back({counter, "does not fit one value"});
  v1::CustomField wrong_bounds = Field(v1::ENTITY_TYPE_LEAD, "size", v1::CUSTOM_FIELD_KIND_DATE);
  wrong_bounds.set_max_length(3);
  cases.push_back({wrong_bounds, "for text fields"});
  for (const Case& c : cases) {
    const absl::Status s = Define(Admin(), c.field);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.says;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.says));
  }
  EXPECT_EQ(Define(Rep("alice", "dev-alice"),
                   Field(v1::ENTITY_TYPE_LEAD, "size", v1::CUSTOM_FIELD_KIND_TEXT))
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(LatestSeq(), before);

  // A rep's device cannot write a definition through Push either.
  v1::Record forged;
  *forged.mutable_custom_field() = Field(v1::ENTITY_TYPE_LEAD, "size", v1::CUSTOM_FIELD_KIND_TEXT);
  forged.mutable_custom_field()->set_id("lead.size");
  EXPECT_EQ(PushOne(alice_, alice_.Create(forged, kStartMs)).reject_reason(),
            v1::REJECT_REASON_PERMISSION_DENIED);
  EXPECT_EQ(LatestSeq(), before);
}

// An account holds no personal data of its own; a custom field marked
// personal data on it does. Erasure clears that field and its history, and
// devices that held it clear it; the account and its other fields stay.
TEST_P(CustomFieldsTest, PersonalCustomFieldsOfAnAccountAreErasedWithTheirHistory) {
  store_->changes().SetFieldHistoryDepth(5);
  v1::CustomField mobile =
      Field(v1::ENTITY_TYPE_ACCOUNT, "buyer_mobile", v1::CUSTOM_FIELD_KIND_TEXT);
  mobile.set_personal_data(true);
  DefineOk(mobile);
  DefineOk(Field(v1::ENTITY_TYPE_ACCOUNT, "segment", v1::CUSTOM_FIELD_KIND_TEXT));
  v1::Record acc;
  acc.mutable_account()->set_id("acc-cf");
  acc.mutable_account()->set_owner_user_id("alice");
  acc.mutable_account()->set_name("Radium SA");
  (*acc.mutable_account()->mutable_custom())["buyer_mobile"].set_text("+33 6 11 11 11 11");
  (*acc.mutable_account()->mutable_custom())["segment"].set_text("SMB");
  ASSERT_EQ(PushOne(alice_, alice_.Create(acc, kStartMs)).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_ACCOUNT);
  ref.set_id("acc-cf");
  auto stored = store_->changes().GetRecord(kTenant, ref);
  ASSERT_TRUE(stored.ok() && *stored);
  v1::Record edit = acc;
  (*edit.mutable_account()->mutable_custom())["buyer_mobile"].set_text("+33 6 22 22 22 22");
  ASSERT_EQ(PushOne(alice_, alice_.Update(**stored, edit, {"custom.buyer_mobile"}, kStartMs + 1000))
                .outcome(),
            v1::MUTATION_OUTCOME_APPLIED);
  auto history = store_->changes().ReadFieldHistory(kTenant, ref, "custom.buyer_mobile", 10);
  ASSERT_TRUE(history.ok());
  EXPECT_FALSE(history->empty()) << "the first number is in the history";
  std::string cursor;
  PullAll(Rep("alice", "dev-alice"), &cursor);

  v1::EraseRecordRequest req;
  *req.mutable_record() = ref;
  req.set_reason("ticket 7");
  v1::EraseRecordResponse resp;
  ASSERT_TRUE(admin_->EraseRecord(Admin(), AdminContext{"test"}, req, &resp).ok());
  EXPECT_EQ(std::vector<std::string>(resp.erased_fields().begin(), resp.erased_fields().end()),
            std::vector<std::string>{"custom.buyer_mobile"});
  stored = store_->changes().GetRecord(kTenant, ref);
  ASSERT_TRUE(stored.ok() && *stored);
  EXPECT_FALSE((*stored)->deleted());
  EXPECT_EQ((*stored)->data().account().custom().count("buyer_mobile"), 0u);
  EXPECT_EQ((*stored)->data().account().custom().at("segment").text(), "SMB");
  EXPECT_EQ((*stored)->data().account().name(), "Radium SA");
  history = store_->changes().ReadFieldHistory(kTenant, ref, "custom.buyer_mobile", 10);
  ASSERT_TRUE(history.ok());
  EXPECT_TRUE(history->empty());

  // Alice's device hears of it as a change of that field.
  bool cleared = false;
  for (const v1::Change& c : PullAll(Rep("alice", "dev-alice"), &cursor)) {
    if (c.record().id() != "acc-cf") continue;
    cleared = c.fields().count("custom.buyer_mobile") > 0 &&
              c.values().account().custom().count("buyer_mobile") == 0;
  }
  EXPECT_TRUE(cleared);
  // Again: nothing left to erase.
  v1::EraseRecordResponse again;
  ASSERT_TRUE(admin_->EraseRecord(Admin(), AdminContext{"test"}, req, &again).ok());
  EXPECT_TRUE(again.erased_fields().empty());
  // A type whose custom fields hold no personal data is refused.
  req.mutable_record()->set_entity_type(v1::ENTITY_TYPE_OPPORTUNITY);
  EXPECT_EQ(admin_->EraseRecord(Admin(), AdminContext{"test"}, req, &resp).code(),
            absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Stores, CustomFieldsTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace crmsync::server::testing
