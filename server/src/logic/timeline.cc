#include "logic/timeline.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crmsync/sync/record_model.h"
#include "crmsync/sync/timeline.h"
#include "logic/lineage.h"
#include "logic/references.h"
#include "logic/scope.h"
#include "store/store_codec.h"

namespace crmsync::server {
namespace {

constexpr int kDefaultPage = 50;
constexpr int kMaxPage = 200;

struct Entry {
  v1::RecordState state;
  sync::TimelinePoint point;
  std::optional<int64_t> points;  // set on a points item of a loyalty card
};

// A loyalty card's balance over time, from its field history: one item per
// kept value of points_balance (the current one included), at the time and
// through the channel of the write that set it.
absl::Status AddPointsItems(ChangeLog* changes, const Principal& who, const v1::RecordState& card,
                            std::vector<Entry>* entries) {
  v1::GetFieldHistoryRequest request;
  *request.mutable_record() = card.ref();
  request.set_field("points_balance");
  v1::GetFieldHistoryResponse response;
  if (auto s = ReadFieldHistory(changes, who, /*any_owner=*/true, request, &response); !s.ok()) {
    return s;
  }
  for (const v1::FieldHistoryEntry& e : response.entries()) {
    Entry item{card, {}, e.value().loyalty_account().points_balance()};
    item.point.at_ms = e.hlc().wall_time_ms();
    item.point.channel = e.provenance().channel();
    entries->push_back(std::move(item));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ReadTimeline(ChangeLog* changes, const Principal& who, bool any_owner,
                          const v1::GetTimelineRequest& request,
                          v1::GetTimelineResponse* response) {
  response->Clear();
  const v1::RecordRef& ref = request.record();
  const v1::EntityType type = ref.entity_type();
  if (type != v1::ENTITY_TYPE_ACCOUNT && type != v1::ENTITY_TYPE_CONTACT &&
      type != v1::ENTITY_TYPE_LEAD) {
    return absl::InvalidArgumentError(
        "record.entity_type: a timeline is kept for accounts, contacts and leads");
  }
  if (auto s = store_codec::CheckId(ref.id(), "record.id"); !s.ok()) return s;
  if (request.page_size() < 0 || request.page_size() > kMaxPage) {
    return absl::InvalidArgumentError("page_size must be 0.." + std::to_string(kMaxPage));
  }
  int64_t offset = 0;
  if (!request.page_token().empty()) {
    const std::string& t = request.page_token();
    if (t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos) {
      return absl::InvalidArgumentError("malformed page_token");
    }
    offset = std::stoll(t);
  }
  const int page = request.page_size() > 0 ? request.page_size() : kDefaultPage;
  auto subject = changes->GetRecord(who.tenant_id, ref);
  if (!subject.ok()) return subject.status();
  if (!*subject || (*subject)->deleted() ||
      (!any_owner && !CanRead(who, type, (*subject)->scope()))) {
    return absl::NotFoundError("no " + sync::EntityTypeName(type) + " " + ref.id() +
                               " you may read");
  }
  std::vector<Entry> entries;
  // The records of `holder` that refer to `target` and `who` may read.
  auto referrers =
      [&](v1::EntityType holder,
          const v1::RecordRef& target) -> absl::StatusOr<std::vector<v1::RecordState>> {
    const int64_t key = ReferenceKey(target);
    auto found =
        changes->FindIndexed(who.tenant_id, IndexKind::kReference, holder, {{key, key}}, 0);
    if (!found.ok()) return found.status();
    std::vector<v1::RecordState> out;
    for (v1::RecordState& s : *found) {
      // A hash collision names a record that refers to something else.
      if (s.deleted() || !sync::RefersTo(s.data(), target)) continue;
      if (!any_owner && !CanRead(who, holder, s.scope())) continue;
      out.push_back(std::move(s));
    }
    return out;
  };
  for (v1::EntityType holder : sync::TimelineTypes()) {
    auto found = referrers(holder, ref);
    if (!found.ok()) return found.status();
    for (v1::RecordState& s : *found) {
      // A contact's loyalty card brings its redemptions and its points.
      const v1::EntityType second = sync::SecondHopType(holder);
      if (second != v1::ENTITY_TYPE_UNSPECIFIED) {
        auto more = referrers(second, s.ref());
        if (!more.ok()) return more.status();
        for (v1::RecordState& m : *more) {
          sync::TimelinePoint p = sync::TimelinePointOf(m);
          entries.push_back(Entry{std::move(m), p, std::nullopt});
        }
      }
      if (holder == v1::ENTITY_TYPE_LOYALTY_ACCOUNT) {
        if (auto s2 = AddPointsItems(changes, who, s, &entries); !s2.ok()) return s2;
      }
      sync::TimelinePoint p = sync::TimelinePointOf(s);
      entries.push_back(Entry{std::move(s), p, std::nullopt});
    }
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return sync::TimelineBefore(a.state, a.point, b.state, b.point);
  });
  const int64_t end = std::min<int64_t>(static_cast<int64_t>(entries.size()), offset + page);
  for (int64_t i = offset; i < end; ++i) {
    v1::TimelineItem* item = response->add_items();
    const Entry& e = entries[static_cast<size_t>(i)];
    *item->mutable_record() = e.state;
    item->mutable_at()->set_seconds(e.point.at_ms / 1000);
    item->mutable_at()->set_nanos(static_cast<int32_t>(e.point.at_ms % 1000) * 1000000);
    item->set_channel(e.point.channel);
    if (e.points) item->set_points_balance(*e.points);
  }
  if (end < static_cast<int64_t>(entries.size()))
    response->set_next_page_token(std::to_string(end));
  return absl::OkStatus();
}

}  // namespace crmsync::server
