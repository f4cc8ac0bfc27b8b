// crmctl record history|timeline: a record's field values with their
// sources; everything about a customer, newest first.
#include <google/protobuf/timestamp.pb.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "commands.h"
#include "conflict_values.h"
#include "crmsync/sync/record_model.h"
#include "crmsync/v1/admin.grpc.pb.h"
#include "table.h"

namespace crmsync::crmctl {

namespace v1 = ::crmsync::v1;

int CmdRecordHistory(const Connection& c, const Output& out, const std::string& type,
                     const std::string& id, const std::string& field, int limit) {
  v1::GetFieldHistoryRequest req;
  const v1::EntityType entity = sync::EntityTypeFromName(type);
  if (entity == v1::ENTITY_TYPE_UNSPECIFIED) {
    std::fprintf(stderr,
                 "crmctl: unknown record type '%s' (lead, contact, account, opportunity, "
                 "activity, calendar_event, loyalty_account...)\n",
                 type.c_str());
    return kExitUsage;
  }
  req.mutable_record()->set_entity_type(entity);
  req.mutable_record()->set_id(id);
  req.set_field(field);
  req.set_limit(limit);
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::GetFieldHistoryResponse resp;
  grpc::Status s = stub->GetFieldHistory(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "record history " + type + " " + id);
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  if (resp.depth() == 0) {
    std::printf("the server keeps no field history (--field-history-depth 0)\n");
    return kExitOk;
  }
  Table t({"FIELD", "VALUE", "VERSION", "WHEN", "CHANNEL", "PRECISION", "AUTHOR", "DEVICE", "NOW"});
  for (const v1::FieldHistoryEntry& e : resp.entries()) {
    google::protobuf::Timestamp when;
    const int64_t ms = e.hlc().wall_time_ms();
    when.set_seconds(ms / 1000);
    when.set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
    t.AddRow({e.path(), ValueText(e.value(), e.path()), std::to_string(e.version()),
              FormatTime(when), ShortEnum(v1::Channel_Name(e.provenance().channel()), "CHANNEL_"),
              ShortEnum(v1::Precision_Name(e.provenance().precision()), "PRECISION_"),
              e.provenance().author_user_id().empty() ? "-" : e.provenance().author_user_id(),
              e.provenance().device_id().empty() ? "-" : e.provenance().device_id(),
              e.current() ? "current" : "-"});
  }
  std::printf("%s", t.Render().c_str());
  if (resp.entries().empty())
    std::printf("no values kept for this record%s\n",
                field.empty() ? "" : (" and field " + field).c_str());
  return kExitOk;
}

namespace {

// What a timeline item is, in a few words.
std::string ItemSummary(const v1::Record& r) {
  switch (r.entity_case()) {
    case v1::Record::kActivity:
      return ShortEnum(v1::ActivityType_Name(r.activity().type()), "ACTIVITY_TYPE_") + ": " +
             r.activity().subject();
    case v1::Record::kCalendarEvent: return "event: " + r.calendar_event().title();
    case v1::Record::kOpportunity:
      return "opportunity: " + r.opportunity().name() + " (" +
             ShortEnum(v1::OpportunityStage_Name(r.opportunity().stage()), "OPPORTUNITY_STAGE_") +
             ")";
    case v1::Record::kContact:
      return "contact: " + r.contact().first_name() + " " + r.contact().last_name();
    case v1::Record::kLoyaltyAccount: return "loyalty card " + r.loyalty_account().card_number();
    case v1::Record::kRedemption:
      return "redeemed coupon " + r.redemption().coupon_id() + " (" +
             ShortEnum(v1::RedemptionStatus_Name(r.redemption().status()), "REDEMPTION_STATUS_") +
             ")";
    default: return "-";
  }
}

// A timeline item's summary: a points item says the balance.
std::string ItemSummary(const v1::TimelineItem& item) {
  if (item.has_points_balance()) {
    return "points balance " + std::to_string(item.points_balance());
  }
  return ItemSummary(item.record().data());
}

}  // namespace

int CmdRecordTimeline(const Connection& c, const Output& out, const std::string& type,
                      const std::string& id, int limit) {
  v1::GetTimelineRequest req;
  const v1::EntityType entity = sync::EntityTypeFromName(type);
  if (entity != v1::ENTITY_TYPE_ACCOUNT && entity != v1::ENTITY_TYPE_CONTACT &&
      entity != v1::ENTITY_TYPE_LEAD) {
    std::fprintf(stderr, "crmctl: a timeline is kept for accounts, contacts and leads, not '%s'\n",
                 type.c_str());
    return kExitUsage;
  }
  req.mutable_record()->set_entity_type(entity);
  req.mutable_record()->set_id(id);
  auto stub = v1::AdminService::NewStub(c.channel());
  v1::GetTimelineResponse all;
  for (int page = 0; page < 10000; ++page) {
    const int left = limit > 0 ? limit - all.items_size() : 200;
    if (left <= 0) break;
    req.set_page_size(std::min(left, 200));
    grpc::ClientContext ctx;
    c.Prepare(&ctx);
    v1::GetTimelineResponse part;
    grpc::Status s = stub->GetTimeline(&ctx, req, &part);
    if (!s.ok()) return ReportRpcError(s, "record timeline " + type + " " + id);
    for (auto& item : *part.mutable_items()) *all.add_items() = std::move(item);
    if (part.next_page_token().empty()) break;
    req.set_page_token(part.next_page_token());
  }
  if (out.json) {
    std::printf("%s\n", ToJson(all).c_str());
    return kExitOk;
  }
  Table t({"WHEN", "CHANNEL", "RECORD", "OWNER", "WHAT"});
  for (const v1::TimelineItem& item : all.items()) {
    const v1::RecordState& r = item.record();
    t.AddRow({FormatTime(item.at()), ShortEnum(v1::Channel_Name(item.channel()), "CHANNEL_"),
              sync::EntityTypeName(r.ref().entity_type()) + "/" + r.ref().id(),
              r.scope().owner_user_id().empty() ? "-" : r.scope().owner_user_id(),
              ItemSummary(item)});
  }
  std::printf("%s", t.Render().c_str());
  if (all.items().empty()) std::printf("nothing refers to %s %s yet\n", type.c_str(), id.c_str());
  return kExitOk;
}

}  // namespace crmsync::crmctl
