// crmctl conflicts list|show|resolve.
#include <google/protobuf/util/json_util.h>

#include <cstdio>

#include "commands.h"
#include "conflict_values.h"
#include "crmsync/v1/admin.grpc.pb.h"
#include "table.h"

namespace crmsync::crmctl {

namespace v1 = ::crmsync::v1;

int CmdConflictsList(const Connection& c, const Output& out, const std::string& owner,
                     const std::string& status, const std::string& device) {
  auto stub = v1::AdminService::NewStub(c.channel());
  v1::ListConflictsRequest req;
  req.set_owner_user_id(owner);
  if (status == "open" || status.empty())
    req.set_status(v1::CONFLICT_STATUS_OPEN);
  else if (status == "resolved")
    req.set_status(v1::CONFLICT_STATUS_RESOLVED);
  else if (status == "dismissed")
    req.set_status(v1::CONFLICT_STATUS_DISMISSED);
  else {
    std::fprintf(stderr, "crmctl: --status must be open, resolved or dismissed\n");
    return kExitUsage;
  }
  req.set_page_size(1000);
  v1::ListConflictsResponse resp;
  for (int page = 0; page < 1000; ++page) {
    grpc::ClientContext ctx;
    c.Prepare(&ctx);
    v1::ListConflictsResponse part;
    grpc::Status s = stub->ListConflicts(&ctx, req, &part);
    if (!s.ok()) return ReportRpcError(s, "conflicts list");
    for (auto& cf : *part.mutable_conflicts()) {
      if (!device.empty() && cf.client_provenance().device_id() != device &&
          cf.server_provenance().device_id() != device) {
        continue;
      }
      *resp.add_conflicts() = std::move(cf);
    }
    if (part.next_page_token().empty()) break;
    req.set_page_token(part.next_page_token());
  }
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  Table t({"CONFLICT", "RECORD", "FIELD", "POLICY", "OWNER", "SERVER VALUE", "CLIENT VALUE",
           "DETECTED"});
  for (const auto& cf : resp.conflicts()) {
    const std::vector<ValueRow> values = ConflictValueRows(cf);
    t.AddRow({cf.id(),
              ShortEnum(v1::EntityType_Name(cf.record().entity_type()), "ENTITY_TYPE_") + "/" +
                  cf.record().id(),
              cf.field_path(), ShortEnum(v1::ConflictPolicy_Name(cf.policy()), "CONFLICT_POLICY_"),
              cf.owner_user_id(), SideSummary(values, true), SideSummary(values, false),
              FormatTime(cf.created_at())});
  }
  std::printf("%s", t.Render().c_str());
  return kExitOk;
}

int CmdConflictShow(const Connection& c, const Output& out, const std::string& conflict_id) {
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::GetConflictRequest req;
  req.set_conflict_id(conflict_id);
  v1::GetConflictResponse resp;
  grpc::Status s = stub->GetConflict(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "conflicts show " + conflict_id);
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  const v1::Conflict& cf = resp.conflict();
  std::printf(
      "conflict   %s (%s)\nrecord     %s/%s, field %s\npolicy     %s\nowner      %s\n"
      "server     edit by %s on %s\nclient     edit by %s on %s\ndetected   %s\n\n",
      cf.id().c_str(), ShortEnum(v1::ConflictStatus_Name(cf.status()), "CONFLICT_STATUS_").c_str(),
      ShortEnum(v1::EntityType_Name(cf.record().entity_type()), "ENTITY_TYPE_").c_str(),
      cf.record().id().c_str(), cf.field_path().c_str(),
      ShortEnum(v1::ConflictPolicy_Name(cf.policy()), "CONFLICT_POLICY_").c_str(),
      cf.owner_user_id().c_str(), cf.server_provenance().author_user_id().c_str(),
      cf.server_provenance().device_id().c_str(), cf.client_provenance().author_user_id().c_str(),
      cf.client_provenance().device_id().c_str(), FormatTime(cf.created_at()).c_str());
  Table values({"FIELD", "BASE", "SERVER", "CLIENT"});
  for (const ValueRow& row : ConflictValueRows(cf)) {
    values.AddRow({row.field, row.base, row.server, row.client});
  }
  std::printf("%s\n", values.Render().c_str());
  if (cf.status() != v1::CONFLICT_STATUS_OPEN) return kExitOk;
  std::printf(
      "resolve    crmctl conflicts resolve %s --keep-server | --take-client | --value JSON\n",
      cf.id().c_str());
  return kExitOk;
}

int CmdConflictResolve(const Connection& c, const Output& out, const std::string& conflict_id,
                       const std::string& resolution, const std::string& value_json) {
  v1::ResolveConflictRequest req;
  req.set_conflict_id(conflict_id);
  if (resolution == "keep-server") {
    req.set_resolution(v1::RESOLUTION_KEEP_SERVER);
  } else if (resolution == "take-client") {
    req.set_resolution(v1::RESOLUTION_TAKE_CLIENT);
  } else if (resolution == "custom") {
    req.set_resolution(v1::RESOLUTION_CUSTOM);
    auto parsed = google::protobuf::util::JsonStringToMessage(value_json, req.mutable_value());
    if (!parsed.ok()) {
      std::fprintf(stderr, "crmctl: --value is not a crmsync.v1.Record in JSON: %s\n",
                   std::string(parsed.message()).c_str());
      return kExitUsage;
    }
  } else {
    std::fprintf(stderr, "crmctl: choose --keep-server, --take-client or --value JSON\n");
    return kExitUsage;
  }
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::ResolveConflictResponse resp;
  grpc::Status s = stub->ResolveConflict(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "conflicts resolve " + conflict_id);
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
  } else {
    std::printf(
        "conflict %s %s; record %s is now at version %lld\n", conflict_id.c_str(),
        ShortEnum(v1::ConflictStatus_Name(resp.conflict().status()), "CONFLICT_STATUS_").c_str(),
        resp.record().ref().id().c_str(), static_cast<long long>(resp.record().version()));
  }
  return kExitOk;
}

}  // namespace crmsync::crmctl
