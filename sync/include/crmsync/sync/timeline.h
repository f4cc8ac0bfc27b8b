// One view per customer: what points at an account, contact or lead
// (activities, calendar events, opportunities, contacts of an account), and
// where each such record sits on the customer's timeline. Pure, shared by
// the server's GetTimeline and the SDK's offline Timeline so both order and
// label items the same way (docs/stewardship.md, "Timeline").
#ifndef CRMSYNC_SYNC_TIMELINE_H_
#define CRMSYNC_SYNC_TIMELINE_H_

#include <cstdint>
#include <vector>

#include "crmsync/v1/sync.pb.h"

namespace crmsync::sync {

namespace v1 = ::crmsync::v1;

// The records `data` refers to, each once, in field order:
//   activity.related, calendar_event.related   any record
//   calendar_event.attendee_ids                contacts (and users)
//   opportunity.account_id, contact.account_id accounts
//   loyalty_account.contact_id                 a contact
//   redemption.loyalty_account_id              a loyalty account
std::vector<v1::RecordRef> ReferencesOf(const v1::Record& data);

// Whether `data` refers to `target`.
bool RefersTo(const v1::Record& data, const v1::RecordRef& target);

// The types whose records appear on a timeline because they refer to its
// subject (they hold references).
const std::vector<v1::EntityType>& TimelineTypes();

// Records that appear on a timeline through a record of TimelineTypes():
// the redemptions made with a contact's loyalty card. UNSPECIFIED when
// records of `type` bring none.
v1::EntityType SecondHopType(v1::EntityType type);

// Where `state` sits on a timeline and through which channel it came:
//   activity        occurred_at; its `channel`
//   calendar_event  starts_at
//   redemption      redeemed_at
//   others          when it was created (the clock reading of its id)
// falling back to the record's last change; the channel, when the record
// has none of its own, is the one it was created through.
struct TimelinePoint {
  int64_t at_ms = 0;
  v1::Channel channel = v1::CHANNEL_UNSPECIFIED;
};
TimelinePoint TimelinePointOf(const v1::RecordState& state);

// Newest first; ties by type, then id (a total order, so pages are stable).
bool TimelineBefore(const v1::RecordState& a, const TimelinePoint& pa, const v1::RecordState& b,
                    const TimelinePoint& pb);

}  // namespace crmsync::sync

#endif  // CRMSYNC_SYNC_TIMELINE_H_
