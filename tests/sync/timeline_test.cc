// The timeline helpers: which records refer to which, where each sits on a
// customer's timeline and through which channel, and a total order.
#include "crmsync/sync/timeline.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace crmsync::sync {
namespace {

v1::RecordRef Ref(v1::EntityType type, const std::string& id) {
  v1::RecordRef r;
  r.set_entity_type(type);
  r.set_id(id);
  return r;
}

v1::RecordState State(v1::EntityType type, const std::string& id, const v1::Record& data,
                      int64_t created_ms, v1::Channel created_channel) {
  v1::RecordState s;
  *s.mutable_ref() = Ref(type, id);
  *s.mutable_data() = data;
  s.mutable_hlc()->set_wall_time_ms(created_ms + 999);
  v1::FieldState& idf = (*s.mutable_fields())["id"];
  idf.mutable_hlc()->set_wall_time_ms(created_ms);
  idf.mutable_provenance()->set_channel(created_channel);
  return s;
}

TEST(TimelineTest, ReferencesOfEachHolder) {
  v1::Record event;
  *event.mutable_calendar_event()->mutable_related() = Ref(v1::ENTITY_TYPE_ACCOUNT, "acc-1");
  event.mutable_calendar_event()->add_attendee_ids("c-1");
  event.mutable_calendar_event()->add_attendee_ids("c-1");
  const auto refs = ReferencesOf(event);
  ASSERT_EQ(refs.size(), 2u) << "each once";
  EXPECT_TRUE(RefersTo(event, Ref(v1::ENTITY_TYPE_ACCOUNT, "acc-1")));
  EXPECT_TRUE(RefersTo(event, Ref(v1::ENTITY_TYPE_CONTACT, "c-1")));
  EXPECT_FALSE(RefersTo(event, Ref(v1::ENTITY_TYPE_LEAD, "c-1"))) << "type matters";
  v1::Record opp;
  opp.mutable_opportunity()->set_account_id("acc-1");
  EXPECT_TRUE(RefersTo(opp, Ref(v1::ENTITY_TYPE_ACCOUNT, "acc-1")));
  v1::Record contact;
  EXPECT_TRUE(ReferencesOf(contact).empty()) << "an empty account_id refers to nothing";
  v1::Record lead;
  lead.mutable_lead()->set_id("l-1");
  EXPECT_TRUE(ReferencesOf(lead).empty());
}

// A contact's loyalty card refers to the contact, a redemption to its card:
// the redemption reaches the contact's timeline in a second hop.
TEST(TimelineTest, LoyaltyCardsAndRedemptions) {
  v1::Record card;
  card.mutable_loyalty_account()->set_id("card-1");
  card.mutable_loyalty_account()->set_contact_id("c-1");
  EXPECT_TRUE(RefersTo(card, Ref(v1::ENTITY_TYPE_CONTACT, "c-1")));
  v1::Record anonymous;
  anonymous.mutable_loyalty_account()->set_id("card-2");
  EXPECT_TRUE(ReferencesOf(anonymous).empty());
  v1::Record redemption;
  redemption.mutable_redemption()->set_loyalty_account_id("card-1");
  redemption.mutable_redemption()->mutable_redeemed_at()->set_seconds(2'000);
  EXPECT_TRUE(RefersTo(redemption, Ref(v1::ENTITY_TYPE_LOYALTY_ACCOUNT, "card-1")));
  const auto& types = TimelineTypes();
  EXPECT_NE(std::find(types.begin(), types.end(), v1::ENTITY_TYPE_LOYALTY_ACCOUNT), types.end());
  EXPECT_EQ(SecondHopType(v1::ENTITY_TYPE_LOYALTY_ACCOUNT), v1::ENTITY_TYPE_REDEMPTION);
  EXPECT_EQ(SecondHopType(v1::ENTITY_TYPE_ACTIVITY), v1::ENTITY_TYPE_UNSPECIFIED);
  const TimelinePoint p = TimelinePointOf(
      State(v1::ENTITY_TYPE_REDEMPTION, "r-1", redemption, 9'000'000, v1::CHANNEL_STORE_TERMINAL));
  EXPECT_EQ(p.at_ms, 2'000'000) << "when it was redeemed";
  EXPECT_EQ(p.channel, v1::CHANNEL_STORE_TERMINAL);
}

TEST(TimelineTest, PointsAndChannels) {
  v1::Record call;
  call.mutable_activity()->set_channel(v1::CHANNEL_CALL_CENTER);
  call.mutable_activity()->mutable_occurred_at()->set_seconds(1'000);
  TimelinePoint p =
      TimelinePointOf(State(v1::ENTITY_TYPE_ACTIVITY, "a", call, 5'000'000, v1::CHANNEL_FIELD_APP));
  EXPECT_EQ(p.at_ms, 1'000'000) << "when it happened, not when it was typed in";
  EXPECT_EQ(p.channel, v1::CHANNEL_CALL_CENTER) << "its own channel";
  v1::Record note;  // no time, no channel of its own
  note.mutable_activity()->set_subject("note");
  p = TimelinePointOf(State(v1::ENTITY_TYPE_ACTIVITY, "n", note, 7'000, v1::CHANNEL_WEB));
  EXPECT_EQ(p.at_ms, 7'000);
  EXPECT_EQ(p.channel, v1::CHANNEL_WEB) << "the channel it was created through";
  v1::Record event;
  event.mutable_calendar_event()->mutable_starts_at()->set_seconds(2'000);
  p = TimelinePointOf(State(v1::ENTITY_TYPE_CALENDAR_EVENT, "e", event, 9, v1::CHANNEL_IMPORT));
  EXPECT_EQ(p.at_ms, 2'000'000);
  v1::Record opp;
  opp.mutable_opportunity()->set_account_id("acc-1");
  v1::RecordState no_meta = State(v1::ENTITY_TYPE_OPPORTUNITY, "o", opp, 3, v1::CHANNEL_WEB);
  no_meta.clear_fields();
  EXPECT_EQ(TimelinePointOf(no_meta).at_ms, 3 + 999) << "the record's last change otherwise";
}

TEST(TimelineTest, NewestFirstWithATotalOrder) {
  v1::Record a;
  a.mutable_activity()->set_subject("x");
  std::vector<v1::RecordState> states = {
      State(v1::ENTITY_TYPE_ACTIVITY, "b", a, 100, v1::CHANNEL_WEB),
      State(v1::ENTITY_TYPE_ACTIVITY, "a", a, 100, v1::CHANNEL_WEB),
      State(v1::ENTITY_TYPE_OPPORTUNITY, "a", v1::Record(), 100, v1::CHANNEL_WEB),
      State(v1::ENTITY_TYPE_ACTIVITY, "z", a, 300, v1::CHANNEL_WEB),
  };
  std::sort(states.begin(), states.end(), [](const v1::RecordState& x, const v1::RecordState& y) {
    return TimelineBefore(x, TimelinePointOf(x), y, TimelinePointOf(y));
  });
  std::vector<std::string> order;
  for (const auto& s : states)
    order.push_back(std::to_string(s.ref().entity_type()) + s.ref().id());
  EXPECT_EQ(order, (std::vector<std::string>{"14z", "13a", "14a", "14b"}));
}

}  // namespace
}  // namespace crmsync::sync
