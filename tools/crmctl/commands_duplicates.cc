// crmctl duplicates list|show|merge: likely duplicate leads, contacts and
// accounts the server flagged, and merging two of them
// (docs/stewardship.md, "Duplicates" and "Merging").
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "crmsync/sync/record_model.h"
#include "crmsync/v1/admin.grpc.pb.h"
#include "table.h"

namespace crmsync::crmctl {

namespace v1 = ::crmsync::v1;

namespace {

std::string RefText(const v1::RecordRef& ref) {
  return sync::EntityTypeName(ref.entity_type()) + "/" + ref.id();
}

std::string Reasons(const v1::DuplicateCandidate& c) {
  std::string out;
  for (const std::string& r : c.reasons()) out += (out.empty() ? "" : ",") + r;
  return out;
}

std::string Score(double score) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.2f", score);
  return buf;
}

// The type named on the command line; false (after saying why) when it is
// not a lead, contact or account.
bool ParseIdentityType(const std::string& name, bool allow_empty, v1::EntityType* type) {
  if (allow_empty && name.empty()) {
    *type = v1::ENTITY_TYPE_UNSPECIFIED;
    return true;
  }
  *type = sync::EntityTypeFromName(name);
  if (*type == v1::ENTITY_TYPE_LEAD || *type == v1::ENTITY_TYPE_CONTACT ||
      *type == v1::ENTITY_TYPE_ACCOUNT) {
    return true;
  }
  std::fprintf(stderr,
               "crmctl: duplicates are found among leads, contacts and accounts, not '%s'\n",
               name.c_str());
  return false;
}

// The fields that tell who a record is, in one line.
std::string Summary(const v1::RecordState& s) {
  const v1::Record& r = s.data();
  auto join = [](std::initializer_list<std::string> parts) {
    std::string out;
    for (const std::string& p : parts) {
      if (p.empty()) continue;
      out += (out.empty() ? "" : " · ") + p;
    }
    return out.empty() ? std::string("-") : out;
  };
  switch (r.entity_case()) {
    case v1::Record::kLead:
      return join(
          {r.lead().first_name() + (r.lead().last_name().empty() ? "" : " ") + r.lead().last_name(),
           r.lead().company(), r.lead().email(), r.lead().phone()});
    case v1::Record::kContact:
      return join({r.contact().first_name() + (r.contact().last_name().empty() ? "" : " ") +
                       r.contact().last_name(),
                   r.contact().email(), r.contact().phone(), r.contact().mobile()});
    case v1::Record::kAccount:
      return join({r.account().name(), r.account().website(), r.account().phone()});
    default: return "-";
  }
}

}  // namespace

int CmdDuplicatesList(const Connection& c, const Output& out, const std::string& type,
                      const std::string& owner) {
  v1::ListDuplicatesRequest req;
  v1::EntityType entity;
  if (!ParseIdentityType(type, /*allow_empty=*/true, &entity)) return kExitUsage;
  req.set_entity_type(entity);
  req.set_owner_user_id(owner);
  req.set_page_size(1000);
  auto stub = v1::AdminService::NewStub(c.channel());
  v1::ListDuplicatesResponse all;
  for (int page = 0; page < 1000; ++page) {
    grpc::ClientContext ctx;
    c.Prepare(&ctx);
    v1::ListDuplicatesResponse part;
    grpc::Status s = stub->ListDuplicates(&ctx, req, &part);
    if (!s.ok()) return ReportRpcError(s, "duplicates list");
    for (auto& d : *part.mutable_duplicates()) *all.add_duplicates() = std::move(d);
    if (part.next_page_token().empty()) break;
    req.set_page_token(part.next_page_token());
  }
  if (out.json) {
    std::printf("%s\n", ToJson(all).c_str());
    return kExitOk;
  }
  Table t({"RECORD", "OWNER", "CANDIDATE", "CANDIDATE OWNER", "SCORE", "MATCHED", "DETECTED"});
  for (const v1::PossibleDuplicate& d : all.duplicates()) {
    for (const v1::DuplicateCandidate& cand : d.candidates()) {
      t.AddRow({RefText(d.record()), d.owner_user_id(), RefText(cand.record()),
                cand.owner_user_id(), Score(cand.score()), Reasons(cand),
                FormatTime(cand.detected_at())});
    }
  }
  std::printf("%s", t.Render().c_str());
  if (all.duplicates().empty()) std::printf("no likely duplicates\n");
  return kExitOk;
}

int CmdDuplicatesShow(const Connection& c, const Output& out, const std::string& type,
                      const std::string& id) {
  v1::GetDuplicatesRequest req;
  v1::EntityType entity;
  if (!ParseIdentityType(type, /*allow_empty=*/false, &entity)) return kExitUsage;
  req.mutable_record()->set_entity_type(entity);
  req.mutable_record()->set_id(id);
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::GetDuplicatesResponse resp;
  grpc::Status s = stub->GetDuplicates(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "duplicates show " + type + " " + id);
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  std::printf("%s (owner %s): %s\n", RefText(resp.record().ref()).c_str(),
              resp.record().scope().owner_user_id().c_str(), Summary(resp.record()).c_str());
  if (resp.duplicate().candidates().empty()) {
    std::printf("no likely duplicates\n");
  } else {
    Table t({"CANDIDATE", "OWNER", "SCORE", "MATCHED", "VALUES"});
    for (const v1::DuplicateCandidate& cand : resp.duplicate().candidates()) {
      std::string values = "(deleted)";
      for (const v1::RecordState& other : resp.candidates()) {
        if (other.ref().id() == cand.record().id() &&
            other.ref().entity_type() == cand.record().entity_type() && !other.deleted()) {
          values = Summary(other);
        }
      }
      t.AddRow({RefText(cand.record()), cand.owner_user_id(), Score(cand.score()), Reasons(cand),
                values});
    }
    std::printf("%s", t.Render().c_str());
  }
  if (!resp.duplicate().dismissed_record_ids().empty()) {
    std::string ids;
    for (const std::string& d : resp.duplicate().dismissed_record_ids()) {
      ids += (ids.empty() ? "" : ", ") + d;
    }
    std::printf("not duplicates (dismissed): %s\n", ids.c_str());
  }
  return kExitOk;
}

int CmdDuplicatesMerge(const Connection& c, const Output& out, const std::string& type,
                       const std::string& survivor_id, const std::string& merged_id,
                       const std::vector<std::string>& take, const std::vector<std::string>& keep) {
  v1::MergeRecordsRequest req;
  v1::EntityType entity;
  if (!ParseIdentityType(type, /*allow_empty=*/false, &entity)) return kExitUsage;
  req.mutable_survivor()->set_entity_type(entity);
  req.mutable_survivor()->set_id(survivor_id);
  req.set_merged_record_id(merged_id);
  for (const std::string& f : take) req.add_take_from_merged(f);
  for (const std::string& f : keep) req.add_keep_survivor(f);
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::MergeRecordsResponse resp;
  grpc::Status s = stub->MergeRecords(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "duplicates merge " + type + " " + survivor_id);
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  std::printf("%s\n", resp.result().message().c_str());
  if (resp.result().has_record()) {
    std::printf("%s (owner %s) is now: %s\n", RefText(resp.result().record().ref()).c_str(),
                resp.result().record().scope().owner_user_id().c_str(),
                Summary(resp.result().record()).c_str());
  }
  return kExitOk;
}

}  // namespace crmsync::crmctl
