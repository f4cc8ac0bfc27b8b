// Pushed values beyond the limits are rejected alone, and nothing of them
// is stored.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "handler_fixture.h"
#include "logic/value_validation.h"

namespace crmsync::server::testing {
namespace {

using ValidationTest = HandlerTest;

struct BadCase {
  const char* name;
  std::function<void(v1::Lead*)> spoil;
  const char* message;
};

TEST_P(ValidationTest, OutOfRangeValuesAreRejectedAndNothingIsStored) {
  std::vector<BadCase> cases = {
      {"huge name", [](v1::Lead* l) { l->set_first_name(std::string(5000, 'x')); }, "first_name"},
      {"huge notes", [](v1::Lead* l) { l->set_notes(std::string(70 * 1024, 'n')); }, "notes"},
      {"rating", [](v1::Lead* l) { l->set_rating(9); }, "between 0 and 5"},
      {"currency", [](v1::Lead* l) { l->mutable_estimated_value()->set_currency_code("euro"); },
       "ISO 4217"},
      {"amount",
       [](v1::Lead* l) {
         l->mutable_estimated_value()->set_currency_code("EUR");
         l->mutable_estimated_value()->set_amount_minor(INT64_MAX);
       },
       "out of range"},
      {"tags",
       [](v1::Lead* l) {
         for (int i = 0; i < 1001; ++i) l->add_tags("t" + std::to_string(i));
       },
       "limit is 1000"},
      {"long owner id", [](v1::Lead* l) { l->set_owner_user_id(std::string(300, 'o')); },
       "owner_user_id"},
      {"NUL in team id", [](v1::Lead* l) { l->set_team_id(std::string("north\0", 6)); }, "team_id"},
      {"undefined status", [](v1::Lead* l) { l->set_status(static_cast<v1::LeadStatus>(999)); },
       "values.lead.status = 999 is not a value of crmsync.v1.LeadStatus"},
      {"undefined visibility",
       [](v1::Lead* l) { l->set_visibility(static_cast<v1::Visibility>(-3)); },
       "values.lead.visibility = -3"},
      {"owner id one byte too long",
       [](v1::Lead* l) { l->set_owner_user_id(std::string(129, 'o')); },
       "owner_user_id is 129 bytes; the limit is 128"},
  };
  Device phone("dev-alice", "alice");
  int i = 0;
  for (const auto& c : cases) {
    v1::Record r = LeadRecord("lead-bad-" + std::to_string(i++), "alice", "X", "1");
    c.spoil(r.mutable_lead());
    v1::Mutation bad = phone.Create(r, kStartMs);
    v1::Mutation good =
        phone.Create(LeadRecord("lead-ok-" + std::to_string(i), "alice", "Y", "2"), kStartMs);
    auto resp = PushOk(Rep("alice", "dev-alice"), {bad, good});
    ASSERT_EQ(resp.results_size(), 2);
    EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_REJECTED) << c.name;
    EXPECT_EQ(resp.results(0).reject_reason(), v1::REJECT_REASON_VALIDATION) << c.name;
    EXPECT_THAT(resp.results(0).message(), ::testing::HasSubstr(c.message)) << c.name;
    EXPECT_EQ(resp.results(1).outcome(), v1::MUTATION_OUTCOME_APPLIED) << c.name;
    auto stored = store_->changes().GetRecord(kTenant, bad.record());
    ASSERT_TRUE(stored.ok());
    EXPECT_FALSE(stored->has_value()) << c.name << ": a rejected value was stored";
  }
}

// The store refuses ids with NUL characters; such a mutation must be
// rejected on its own, or its batch would fail on every retry and block the
// device's outbox for ever.
TEST_P(ValidationTest, NulInARecordOrConflictIdRejectsTheMutationNotTheBatch) {
  Device phone("dev-alice", "alice");
  v1::Mutation bad_ref =
      phone.Create(LeadRecord(std::string("lead-\0", 6), "alice", "X", "1"), kStartMs);
  v1::Mutation bad_conflict = phone.Create(LeadRecord("lead-r", "alice", "X", "1"), kStartMs);
  bad_conflict.set_operation(v1::OPERATION_RESOLVE_CONFLICT);
  bad_conflict.clear_update_mask();
  bad_conflict.mutable_update_mask()->add_paths("first_name");
  bad_conflict.set_conflict_id(std::string("conf-\0", 6));
  v1::Mutation good = phone.Create(LeadRecord("lead-ok", "alice", "Y", "2"), kStartMs);
  auto resp = PushOk(Rep("alice", "dev-alice"), {bad_ref, bad_conflict, good});
  ASSERT_EQ(resp.results_size(), 3);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(resp.results(i).outcome(), v1::MUTATION_OUTCOME_REJECTED) << i;
    EXPECT_EQ(resp.results(i).reject_reason(), v1::REJECT_REASON_VALIDATION) << i;
    EXPECT_THAT(resp.results(i).message(), ::testing::HasSubstr("NUL")) << i;
  }
  EXPECT_EQ(resp.results(2).outcome(), v1::MUTATION_OUTCOME_APPLIED);
}

TEST_P(ValidationTest, UndefinedEnumInANestedMessageIsRejectedNamingTheField) {
  Device phone("dev-alice", "alice");
  v1::Record r;
  v1::CalendarEvent* e = r.mutable_calendar_event();
  e->set_id("cal-1");
  e->set_title("Visit");
  e->set_owner_user_id("alice");
  e->set_team_id("north");
  e->mutable_related()->set_id("lead-1");
  e->mutable_related()->set_entity_type(static_cast<v1::EntityType>(4242));
  auto resp = PushOk(Rep("alice", "dev-alice"), {phone.Create(r, kStartMs)});
  EXPECT_EQ(resp.results(0).reject_reason(), v1::REJECT_REASON_VALIDATION);
  EXPECT_THAT(resp.results(0).message(),
              ::testing::HasSubstr("values.calendar_event.related.entity_type = 4242"));
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_CALENDAR_EVENT);
  ref.set_id("cal-1");
  EXPECT_FALSE(store_->changes().GetRecord(kTenant, ref)->has_value()) << "nothing stored";
}

TEST_P(ValidationTest, IdsOfExactlyTheLimitAreAcceptedOneByteMoreIsNot) {
  Device phone("dev-alice", "alice");
  const std::string at_limit(128, 'a'), over(129, 'b');
  v1::Record ok = LeadRecord(at_limit, "alice", "X", "1");
  v1::Record too_long = LeadRecord(over, "alice", "X", "1");
  auto resp = PushOk(Rep("alice", "dev-alice"),
                     {phone.Create(ok, kStartMs), phone.Create(too_long, kStartMs)});
  EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED) << resp.results(0).message();
  EXPECT_EQ(resp.results(1).reject_reason(), v1::REJECT_REASON_VALIDATION);
  EXPECT_THAT(resp.results(1).message(), ::testing::HasSubstr("record.id is longer than 128"));
}

TEST(ValueValidationTest, CoordinatesAndGeofencesAreChecked) {
  v1::Mutation m;
  m.mutable_record()->set_id("c1");
  v1::Coupon* c = m.mutable_values()->mutable_coupon();
  c->mutable_geofence()->mutable_circle()->mutable_center()->set_latitude(95);
  c->mutable_geofence()->mutable_circle()->set_radius_m(100);
  EXPECT_THAT(std::string(ValidateValues(m).message()), ::testing::HasSubstr("latitude"));
  c->mutable_geofence()->mutable_circle()->mutable_center()->set_latitude(45);
  c->mutable_geofence()->mutable_circle()->set_radius_m(-1);
  EXPECT_THAT(std::string(ValidateValues(m).message()), ::testing::HasSubstr("radius_m"));
  c->mutable_geofence()->mutable_circle()->set_radius_m(100);
  EXPECT_TRUE(ValidateValues(m).ok());
  c->mutable_geofence()->mutable_polygon()->add_vertices();
  EXPECT_THAT(std::string(ValidateValues(m).message()), ::testing::HasSubstr("3 vertices"));
}

INSTANTIATE_TEST_SUITE_P(Stores, ValidationTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace crmsync::server::testing
