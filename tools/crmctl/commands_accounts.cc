// crmctl users update, api-keys create, erase: account administration and
// the right to erasure.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <string>
#include <vector>

#include <cstdio>
#include <iostream>

#include "commands.h"
#include "crmsync/sync/entity_catalog.h"
#include "crmsync/v1/admin.grpc.pb.h"
#include "table.h"

namespace crmsync::crmctl {

namespace v1 = ::crmsync::v1;

namespace {

struct UserUpdate {
  std::string user_id, name, role, team, store, types;
  std::vector<std::string> channels;
  bool disable = false, enable = false, password_stdin = false;
};

int CmdUserUpdate(const Connection& c, const Output& out, const UserUpdate& u) {
  v1::UpdateUserRequest req;
  v1::User* user = req.mutable_user();
  user->set_id(u.user_id);
  auto* mask = req.mutable_update_mask();
  if (!u.name.empty()) {
    user->set_display_name(u.name);
    mask->add_paths("display_name");
  }
  if (!u.role.empty()) {
    v1::Role r;
    if (!ParseRole(u.role, &r)) {
      std::fprintf(stderr,
                   "crmctl: --role must be admin, sales-manager, sales-rep, store-terminal or "
                   "integration\n");
      return kExitUsage;
    }
    user->set_role(r);
    mask->add_paths("role");
  }
  if (!u.team.empty()) {
    user->set_team_id(u.team);
    mask->add_paths("team_id");
  }
  if (!u.store.empty()) {
    user->set_store_id(u.store);
    mask->add_paths("store_id");
  }
  if (!u.channels.empty() || !u.types.empty()) {
    std::string error;
    if (!ParseIntegration(u.channels, u.types, user->mutable_integration(), &error)) {
      std::fprintf(stderr, "crmctl: %s\n", error.c_str());
      return kExitUsage;
    }
    if (u.channels.empty()) {
      std::fprintf(stderr,
                   "crmctl: an integration's grant is replaced whole: give its --channel "
                   "grants with --types\n");
      return kExitUsage;
    }
    mask->add_paths("integration");
  }
  if (u.disable || u.enable) {
    user->set_disabled(u.disable);
    mask->add_paths("disabled");
  }
  if (u.password_stdin) {
    std::string password;
    std::getline(std::cin, password);
    if (password.empty()) {
      std::fprintf(stderr, "crmctl: --password-stdin read an empty password\n");
      return kExitUsage;
    }
    req.set_new_password(password);
  }
  if (mask->paths().empty() && req.new_password().empty()) {
    std::fprintf(stderr,
                 "crmctl: nothing to change: give --name, --role, --team, --store, "
                 "--channel/--types, --disable, --enable or --password-stdin\n");
    return kExitUsage;
  }
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::UpdateUserResponse resp;
  grpc::Status s = stub->UpdateUser(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "users update " + u.user_id);
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  std::printf("updated user %s (%s): role %s%s%s%s\n", resp.user().username().c_str(),
              resp.user().id().c_str(),
              ShortEnum(v1::Role_Name(resp.user().role()), "ROLE_").c_str(),
              resp.user().role() == v1::ROLE_INTEGRATION
                  ? (" (" + DescribeIntegration(resp.user().integration()) + ")").c_str()
                  : "",
              resp.user().disabled() ? ", disabled (signed-in sessions end)" : ", enabled",
              req.new_password().empty() ? "" : ", password changed");
  return kExitOk;
}

int CmdApiKeyCreate(const Connection& c, const Output& out, const std::string& user_id,
                    const std::string& label) {
  v1::CreateApiKeyRequest req;
  req.set_user_id(user_id);
  req.set_label(label);
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::CreateApiKeyResponse resp;
  grpc::Status s = stub->CreateApiKey(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "api-keys create");
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  std::printf("api key %s for user %s (shown once; only its hash is stored):\n%s\n",
              resp.key_id().c_str(), user_id.c_str(), resp.api_key().c_str());
  return kExitOk;
}

namespace {

// Command-line names ("loyalty-account") of the entity types that hold
// personal data (EntityRules.personal_data in the proto).
// Types that hold personal data (erased whole) or may hold it in custom
// fields (those are erased).
bool Erasable(const sync::EntitySpec& e) {
  return e.rules.personal_data() || e.descriptor->FindFieldByName("custom") != nullptr;
}

std::vector<std::string> ErasableTypeNames() {
  std::vector<std::string> names;
  for (const sync::EntitySpec& e : sync::EntityCatalog::Default().entities()) {
    if (!Erasable(e)) continue;
    std::string name = e.name;
    std::replace(name.begin(), name.end(), '_', '-');
    names.push_back(std::move(name));
  }
  return names;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  }
  return out;
}

}  // namespace

int CmdErase(const Connection& c, const Output& out, const std::string& type, const std::string& id,
             const std::string& reason) {
  v1::EraseRecordRequest req;
  std::string name = type;
  std::replace(name.begin(), name.end(), '-', '_');
  const sync::EntitySpec* spec = sync::EntityCatalog::Default().FindByName(name);
  if (spec == nullptr || !Erasable(*spec)) {
    std::fprintf(stderr, "crmctl: only records that hold personal data can be erased: %s\n",
                 JoinNames(ErasableTypeNames()).c_str());
    return kExitUsage;
  }
  req.mutable_record()->set_entity_type(spec->type());
  req.mutable_record()->set_id(id);
  req.set_reason(reason);
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::EraseRecordResponse resp;
  grpc::Status s = stub->EraseRecord(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "erase " + type + " " + id);
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  if (!spec->rules.personal_data()) {
    // Field by field: the custom fields marked personal data.
    std::string fields;
    for (const std::string& f : resp.erased_fields()) fields += (fields.empty() ? "" : ", ") + f;
    std::printf(
        "erased the personal data of %s %s: %s; their history is gone, and devices clear them "
        "at their next sync (change %lld)\n",
        type.c_str(), id.c_str(), fields.empty() ? "it held none" : fields.c_str(),
        static_cast<long long>(resp.change_seq()));
    return kExitOk;
  }
  std::printf(
      "erased %s %s: its values are gone from the server; devices that held it erase "
      "it at their next sync (change %lld)\n",
      type.c_str(), id.c_str(), static_cast<long long>(resp.change_seq()));
  return kExitOk;
}

}  // namespace

void AddAccountCommands(CLI::App* app, const CommandContext& ctx) {
  CLI::App* users = app->get_subcommand("users");
  auto u = std::make_shared<UserUpdate>();
  auto* update = users->add_subcommand(
      "update", "Change a user: name, role, team, store, disable/enable, reset the password");
  update->add_option("user_id", u->user_id, "User id (see 'crmctl users')")->required();
  update->add_option("--name", u->name, "New display name");
  update->add_option("--role", u->role,
                     "admin, sales-manager, sales-rep, store-terminal or integration");
  update->add_option("--team", u->team, "Team id");
  update->add_option("--store", u->store, "Store id (store terminals)");
  update->add_option("--channel", u->channels,
                     "Integrations: replaces the grant; CHANNEL=PRECISION, e.g. "
                     "web=reported (repeatable)");
  update->add_option("--types", u->types,
                     "Integrations: entity types of the new grant, e.g. lead,contact (default: "
                     "every type)");
  auto* disable =
      update->add_flag("--disable", u->disable, "Disable the user: sign-in refused, sessions end");
  auto* enable = update->add_flag("--enable", u->enable, "Enable a disabled user again");
  disable->excludes(enable);
  update->add_flag("--password-stdin", u->password_stdin,
                   "Set a new password read from stdin (at least 12 characters)");
  update->callback([ctx, u] {
    if (auto c = ctx.connect()) *ctx.code = CmdUserUpdate(*c, *ctx.out, *u);
  });

  auto* keys =
      app->add_subcommand("api-keys", "API keys of store terminals and integrations (create)");
  keys->require_subcommand(1);
  auto key_user = std::make_shared<std::string>();
  auto key_label = std::make_shared<std::string>();
  auto* create = keys->add_subcommand(
      "create",
      "Create an API key for a store-terminal or integration user; the key is printed once");
  create->add_option("--user", *key_user, "User id of a store-terminal or integration user")
      ->required();
  create->add_option("--label", *key_label, "What the key is for (e.g. 'till 3, Paris')");
  create->callback([ctx, key_user, key_label] {
    if (auto c = ctx.connect()) *ctx.code = CmdApiKeyCreate(*c, *ctx.out, *key_user, *key_label);
  });

  auto type = std::make_shared<std::string>();
  auto id = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>();
  auto yes = std::make_shared<bool>(false);
  const std::vector<std::string> erasable = ErasableTypeNames();
  auto* erase = app->add_subcommand(
      "erase", "Erase a person's data (right to erasure): a " + JoinNames(erasable) +
                   " (leads, contacts, loyalty accounts whole; other types their custom fields "
                   "marked personal data). Permanent; devices drop it at their next sync");
  erase->add_option("type", *type, JoinNames(erasable))->required()->check(CLI::IsMember(erasable));
  erase->add_option("id", *id, "Record id")->required();
  erase->add_option("--reason", *reason, "Recorded in the audit log (e.g. the request's ticket)")
      ->required();
  erase->add_flag("--yes", *yes, "Confirm: erasure cannot be undone")->required();
  // The callback owns every value its options write (`yes` included).
  erase->callback([ctx, type, id, reason, yes] {
    if (auto c = ctx.connect()) *ctx.code = CmdErase(*c, *ctx.out, *type, *id, *reason);
  });
}

}  // namespace crmsync::crmctl
