// crmctl users, stores, coupons, audit, login.
#include <google/protobuf/util/json_util.h>

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "commands.h"
#include "crmsync/sync/entity_catalog.h"
#include "crmsync/sync/record_model.h"
#include "crmsync/v1/admin.grpc.pb.h"
#include "crmsync/v1/auth.grpc.pb.h"
#include "session.h"
#include "table.h"

namespace crmsync::crmctl {

namespace v1 = ::crmsync::v1;

int CmdUsers(const Connection& c, const Output& out) {
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::ListUsersRequest req;
  req.set_page_size(1000);
  v1::ListUsersResponse resp;
  grpc::Status s = stub->ListUsers(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "users");
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  Table t({"USER", "USERNAME", "NAME", "ROLE", "TEAM", "STORE", "DISABLED", "GRANT"});
  for (const auto& u : resp.users()) {
    t.AddRow({u.id(), u.username(), u.display_name(), ShortEnum(v1::Role_Name(u.role()), "ROLE_"),
              u.team_id().empty() ? "-" : u.team_id(), u.store_id().empty() ? "-" : u.store_id(),
              u.disabled() ? "yes" : "no",
              u.role() == v1::ROLE_INTEGRATION ? DescribeIntegration(u.integration()) : "-"});
  }
  std::printf("%s", t.Render().c_str());
  return kExitOk;
}

namespace {

// "call-center" with prefix "CHANNEL_" -> CHANNEL_CALL_CENTER.
std::string EnumName(const std::string& prefix, const std::string& text) {
  std::string upper = prefix;
  for (char ch : text) upper += static_cast<char>(ch == '-' ? '_' : std::toupper(ch));
  return upper;
}

}  // namespace

bool ParseRole(const std::string& role, v1::Role* out) {
  return v1::Role_Parse(EnumName("ROLE_", role), out) && *out != v1::ROLE_UNSPECIFIED;
}

bool ParseIntegration(const std::vector<std::string>& channels, const std::string& types,
                      v1::IntegrationRules* out, std::string* error) {
  out->Clear();
  for (const std::string& grant : channels) {
    const size_t eq = grant.find('=');
    v1::Channel channel = v1::CHANNEL_UNSPECIFIED;
    v1::Precision precision = v1::PRECISION_UNSPECIFIED;
    if (eq == std::string::npos ||
        !v1::Channel_Parse(EnumName("CHANNEL_", grant.substr(0, eq)), &channel) ||
        !v1::Precision_Parse(EnumName("PRECISION_", grant.substr(eq + 1)), &precision)) {
      *error =
          "--channel takes CHANNEL=PRECISION, e.g. call-center=self-reported (channels: "
          "call-center, web, social, email, import, store-terminal, field-app, admin; "
          "precisions: inferred, reported, self-reported, verified), not '" +
          grant + "'";
      return false;
    }
    v1::ChannelGrant* g = out->add_channels();
    g->set_channel(channel);
    g->set_precision(precision);
  }
  std::string rest = types;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string name = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    const sync::EntitySpec* spec = sync::EntityCatalog::Default().FindByName(name);
    if (spec == nullptr) {
      *error = "--types: unknown entity type '" + name + "'";
      return false;
    }
    out->add_entity_types(spec->type());
  }
  return true;
}

std::string DescribeIntegration(const v1::IntegrationRules& rules) {
  std::string out;
  for (const v1::ChannelGrant& g : rules.channels()) {
    if (!out.empty()) out += ",";
    out += absl::AsciiStrToLower(ShortEnum(v1::Channel_Name(g.channel()), "CHANNEL_")) + "=" +
           absl::AsciiStrToLower(ShortEnum(v1::Precision_Name(g.precision()), "PRECISION_"));
  }
  std::string types;
  for (int t : rules.entity_types()) {
    if (!types.empty()) types += ",";
    types += sync::EntityTypeName(static_cast<v1::EntityType>(t));
  }
  return out + "; " + (types.empty() ? "all types" : types);
}

int CmdUserCreate(const Connection& c, const Output& out, const std::string& username,
                  const std::string& display_name, const std::string& role, const std::string& team,
                  const std::string& store, const std::string& password,
                  const v1::IntegrationRules& integration) {
  v1::Role r = v1::ROLE_UNSPECIFIED;
  if (!ParseRole(role, &r)) {
    std::fprintf(stderr,
                 "crmctl: --role must be admin, sales-manager, sales-rep, store-terminal or "
                 "integration\n");
    return kExitUsage;
  }
  v1::CreateUserRequest req;
  req.mutable_user()->set_username(username);
  req.mutable_user()->set_display_name(display_name);
  req.mutable_user()->set_role(r);
  req.mutable_user()->set_team_id(team);
  req.mutable_user()->set_store_id(store);
  if (r == v1::ROLE_INTEGRATION) *req.mutable_user()->mutable_integration() = integration;
  req.set_password(password);
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::CreateUserResponse resp;
  grpc::Status s = stub->CreateUser(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "users create " + username);
  if (out.json)
    std::printf("%s\n", ToJson(resp).c_str());
  else
    std::printf("created user %s (%s)\n", resp.user().username().c_str(), resp.user().id().c_str());
  return kExitOk;
}

int CmdStores(const Connection& c, const Output& out) {
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::ListStoresRequest req;
  req.set_page_size(1000);
  v1::ListStoresResponse resp;
  grpc::Status s = stub->ListStores(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "stores");
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  Table t({"STORE", "NAME", "LATITUDE", "LONGITUDE", "TIME ZONE"});
  for (const auto& st : resp.stores()) {
    char lat[32], lon[32];
    std::snprintf(lat, sizeof lat, "%.5f", st.location().latitude());
    std::snprintf(lon, sizeof lon, "%.5f", st.location().longitude());
    t.AddRow({st.id(), st.name(), lat, lon, st.time_zone().empty() ? "-" : st.time_zone()});
  }
  std::printf("%s", t.Render().c_str());
  return kExitOk;
}

int CmdStoreUpsert(const Connection& c, const Output& out, const std::string& id,
                   const std::string& name, double lat, double lon) {
  v1::UpsertStoreRequest req;
  req.mutable_store()->set_id(id);
  req.mutable_store()->set_name(name);
  req.mutable_store()->mutable_location()->set_latitude(lat);
  req.mutable_store()->mutable_location()->set_longitude(lon);
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::UpsertStoreResponse resp;
  grpc::Status s = stub->UpsertStore(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "stores upsert " + id);
  if (out.json)
    std::printf("%s\n", ToJson(resp).c_str());
  else
    std::printf("store %s saved\n", resp.store().id().c_str());
  return kExitOk;
}

int CmdCoupons(const Connection& c, const Output& out, bool has_point, double lat, double lon,
               double within_km, bool include_inactive) {
  v1::ListCouponsRequest req;
  if (has_point) {
    req.mutable_at()->set_latitude(lat);
    req.mutable_at()->set_longitude(lon);
    req.set_within_km(within_km);
  }
  req.set_include_inactive(include_inactive);
  req.set_page_size(1000);
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::ListCouponsResponse resp;
  grpc::Status s = stub->ListCoupons(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "coupons");
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  Table t({"COUPON", "CODE", "TITLE", "ACTIVE", "REDEEMED", "LIMIT", "VALID UNTIL"});
  for (const auto& cp : resp.coupons()) {
    t.AddRow({cp.id(), cp.code(), cp.title(), cp.active() ? "yes" : "no",
              std::to_string(cp.redemption_count()),
              cp.max_redemptions_total() ? std::to_string(cp.max_redemptions_total()) : "-",
              FormatTime(cp.valid_until())});
  }
  std::printf("%s", t.Render().c_str());
  return kExitOk;
}

int CmdCouponUpsert(const Connection& c, const Output& out, const std::string& json_file) {
  std::ifstream in(json_file);
  if (!in) {
    std::fprintf(stderr, "crmctl: cannot read %s\n", json_file.c_str());
    return kExitUsage;
  }
  std::ostringstream text;
  text << in.rdbuf();
  v1::UpsertCouponRequest req;
  auto parsed = google::protobuf::util::JsonStringToMessage(text.str(), req.mutable_coupon());
  if (!parsed.ok()) {
    std::fprintf(stderr, "crmctl: %s is not a crmsync.v1.Coupon in JSON: %s\n", json_file.c_str(),
                 std::string(parsed.message()).c_str());
    return kExitUsage;
  }
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::UpsertCouponResponse resp;
  grpc::Status s = stub->UpsertCoupon(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "coupons upsert");
  if (out.json)
    std::printf("%s\n", ToJson(resp).c_str());
  else
    std::printf("coupon %s saved\n", resp.coupon().id().c_str());
  return kExitOk;
}

int CmdAudit(const Connection& c, const Output& out, const std::string& action,
             int64_t since_seconds, int limit, bool oldest_first) {
  v1::ListAuditEventsRequest req;
  req.set_action(action);
  req.set_newest_first(!oldest_first);
  if (since_seconds > 0) {
    req.mutable_since()->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count() -
                                     since_seconds);
  }
  req.set_page_size(limit);
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::ListAuditEventsResponse resp;
  grpc::Status s = stub->ListAuditEvents(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "audit");
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  Table t({"TIME", "ACTION", "ACTOR", "DEVICE", "TARGET", "DETAIL"});
  for (const auto& e : resp.events()) {
    t.AddRow({FormatTime(e.at()), e.action(), e.actor_user_id().empty() ? "-" : e.actor_user_id(),
              e.actor_device_id().empty() ? "-" : e.actor_device_id(), e.target(), e.detail()});
  }
  std::printf("%s", t.Render().c_str());
  return kExitOk;
}

int CmdLogin(const Connection& c, const std::string& tenant, const std::string& username,
             const std::string& password, const std::string& config_file) {
  auto stub = v1::AuthService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::LoginRequest req;
  req.set_tenant(tenant);
  req.set_username(username);
  req.set_password(password);
  v1::LoginResponse resp;
  grpc::Status s = stub->Login(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "login");
  if (resp.user().role() != v1::ROLE_ADMIN) {
    std::fprintf(stderr, "crmctl: %s is not an admin; crmctl needs an admin account\n",
                 username.c_str());
    return kExitUnauthorized;
  }
  // Keep the other settings; replace any earlier session. Owner-only file.
  if (!SaveSession(config_file, resp.tokens())) return kExitFailed;
  std::printf(
      "logged in as %s; session saved to %s (the access token is valid until %s and "
      "renewed automatically)\n",
      username.c_str(), config_file.c_str(), FormatTime(resp.tokens().access_expires_at()).c_str());
  return kExitOk;
}

}  // namespace crmsync::crmctl
