// Timeline helpers (timeline.h).
#include "crmsync/sync/timeline.h"

#include <string>
#include <tuple>
#include <utility>

namespace crmsync::sync {
namespace {

v1::RecordRef Ref(v1::EntityType type, const std::string& id) {
  v1::RecordRef r;
  r.set_entity_type(type);
  r.set_id(id);
  return r;
}

bool SameRef(const v1::RecordRef& a, const v1::RecordRef& b) {
  return a.entity_type() == b.entity_type() && a.id() == b.id();
}

int64_t Ms(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1000000;
}

}  // namespace

std::vector<v1::RecordRef> ReferencesOf(const v1::Record& data) {
  std::vector<v1::RecordRef> out;
  auto add = [&out](v1::RecordRef r) {
    if (r.id().empty() || r.entity_type() == v1::ENTITY_TYPE_UNSPECIFIED) return;
    for (const v1::RecordRef& have : out) {
      if (SameRef(have, r)) return;
    }
    out.push_back(std::move(r));
  };
  switch (data.entity_case()) {
    case v1::Record::kActivity: add(data.activity().related()); break;
    case v1::Record::kCalendarEvent:
      add(data.calendar_event().related());
      for (const std::string& id : data.calendar_event().attendee_ids()) {
        add(Ref(v1::ENTITY_TYPE_CONTACT, id));
      }
      break;
    case v1::Record::kOpportunity:
      add(Ref(v1::ENTITY_TYPE_ACCOUNT, data.opportunity().account_id()));
      break;
    case v1::Record::kContact:
      add(Ref(v1::ENTITY_TYPE_ACCOUNT, data.contact().account_id()));
      break;
    case v1::Record::kLoyaltyAccount:
      add(Ref(v1::ENTITY_TYPE_CONTACT, data.loyalty_account().contact_id()));
      break;
    case v1::Record::kRedemption:
      add(Ref(v1::ENTITY_TYPE_LOYALTY_ACCOUNT, data.redemption().loyalty_account_id()));
      break;
    default: break;
  }
  return out;
}

bool RefersTo(const v1::Record& data, const v1::RecordRef& target) {
  for (const v1::RecordRef& r : ReferencesOf(data)) {
    if (SameRef(r, target)) return true;
  }
  return false;
}

const std::vector<v1::EntityType>& TimelineTypes() {
  static const std::vector<v1::EntityType>* const kTypes = new std::vector<v1::EntityType>{
      v1::ENTITY_TYPE_ACTIVITY, v1::ENTITY_TYPE_CALENDAR_EVENT, v1::ENTITY_TYPE_OPPORTUNITY,
      v1::ENTITY_TYPE_CONTACT, v1::ENTITY_TYPE_LOYALTY_ACCOUNT};
  return *kTypes;
}

v1::EntityType SecondHopType(v1::EntityType type) {
  return type == v1::ENTITY_TYPE_LOYALTY_ACCOUNT ? v1::ENTITY_TYPE_REDEMPTION
                                                 : v1::ENTITY_TYPE_UNSPECIFIED;
}

TimelinePoint TimelinePointOf(const v1::RecordState& state) {
  TimelinePoint p;
  p.at_ms = state.hlc().wall_time_ms();
  auto created = state.fields().find("id");
  if (created != state.fields().end()) {
    p.at_ms = created->second.hlc().wall_time_ms();
    p.channel = created->second.provenance().channel();
  }
  const v1::Record& r = state.data();
  switch (r.entity_case()) {
    case v1::Record::kActivity:
      if (r.activity().has_occurred_at()) p.at_ms = Ms(r.activity().occurred_at());
      if (r.activity().channel() != v1::CHANNEL_UNSPECIFIED) p.channel = r.activity().channel();
      break;
    case v1::Record::kCalendarEvent:
      if (r.calendar_event().has_starts_at()) p.at_ms = Ms(r.calendar_event().starts_at());
      break;
    case v1::Record::kRedemption:
      if (r.redemption().has_redeemed_at()) p.at_ms = Ms(r.redemption().redeemed_at());
      break;
    default: break;
  }
  return p;
}

bool TimelineBefore(const v1::RecordState& a, const TimelinePoint& pa, const v1::RecordState& b,
                    const TimelinePoint& pb) {
  const int ta = a.ref().entity_type();
  const int tb = b.ref().entity_type();
  return std::make_tuple(-pa.at_ms, ta, a.ref().id()) <
         std::make_tuple(-pb.at_ms, tb, b.ref().id());
}

}  // namespace crmsync::sync
