// crmctl record history: a record's field values with their sources.
#include <google/protobuf/timestamp.pb.h>

#include <cstdio>

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

}  // namespace crmsync::crmctl
