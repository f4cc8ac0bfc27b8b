// crmctl fields: the tenant's custom fields (AdminService DefineCustomField,
// RemoveCustomField, ListCustomFields).
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "commands.h"
#include "crmsync/sync/policy_table.h"
#include "crmsync/sync/record_model.h"
#include "crmsync/v1/admin.grpc.pb.h"
#include "table.h"

namespace crmsync::crmctl {

namespace v1 = ::crmsync::v1;

namespace {

constexpr const char* kKinds[] = {"text",    "number", "money",       "date",
                                  "boolean", "one-of", "multi-select"};

v1::CustomFieldKind KindFromName(const std::string& name) {
  for (int i = 0; i < 7; ++i) {
    if (name == kKinds[i]) return static_cast<v1::CustomFieldKind>(i + 1);
  }
  return v1::CUSTOM_FIELD_KIND_UNSPECIFIED;
}

std::string KindName(v1::CustomFieldKind kind) {
  const int i = static_cast<int>(kind);
  return i >= 1 && i <= 7 ? kKinds[i - 1] : "?";
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// "1..40 characters, pattern ^[A-Z]+$", "0..100", "options: a | b".
std::string Rules(const v1::CustomField& f) {
  std::vector<std::string> parts;
  if (f.min_length() > 0 || f.max_length() > 0) {
    parts.push_back(std::to_string(f.min_length()) + ".." +
                    (f.max_length() > 0 ? std::to_string(f.max_length()) : "") + " characters");
  }
  if (!f.pattern().empty()) parts.push_back("pattern " + f.pattern());
  if (f.has_min() || f.has_max()) {
    parts.push_back((f.has_min() ? Num(f.min()) : "") + ".." + (f.has_max() ? Num(f.max()) : ""));
  }
  if (!f.options().empty()) parts.push_back("options: " + absl::StrJoin(f.options(), " | "));
  return parts.empty() ? "-" : absl::StrJoin(parts, "; ");
}

v1::EntityType TypeArg(const std::string& name) { return sync::EntityTypeFromName(name); }

struct DefineOptions {
  std::string type, name, kind, label, description, pattern, options, policy;
  bool required = false;
  bool personal_data = false;
  int min_length = 0, max_length = 0;
  std::optional<double> min, max;
};

int CmdFieldsList(const Connection& c, const Output& out, const std::string& type, bool all) {
  v1::ListCustomFieldsRequest req;
  if (!type.empty()) {
    req.set_entity_type(TypeArg(type));
    if (req.entity_type() == v1::ENTITY_TYPE_UNSPECIFIED) {
      std::fprintf(stderr, "crmctl: unknown entity type '%s'\n", type.c_str());
      return kExitUsage;
    }
  }
  req.set_include_removed(all);
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::ListCustomFieldsResponse resp;
  grpc::Status s = stub->ListCustomFields(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "fields list");
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  if (resp.fields().empty()) {
    std::printf("no custom fields%s\n", type.empty() ? "" : (" on " + type).c_str());
    return kExitOk;
  }
  Table t({"FIELD", "KIND", "REQUIRED", "RULES", "POLICY", "PERSONAL", "STATE", "LABEL"});
  for (const v1::CustomField& f : resp.fields()) {
    t.AddRow({f.id(), KindName(f.kind()), f.required() ? "yes" : "no", Rules(f),
              f.policy() == v1::CONFLICT_POLICY_UNSPECIFIED ? "lww" : sync::PolicyName(f.policy()),
              f.personal_data() ? "yes" : "no", f.removed() ? "removed (values hidden)" : "active",
              f.label().empty() ? "-" : f.label()});
  }
  std::printf("%s", t.Render().c_str());
  return kExitOk;
}

int CmdFieldsDefine(const Connection& c, const Output& out, const DefineOptions& o) {
  v1::DefineCustomFieldRequest req;
  v1::CustomField* f = req.mutable_field();
  f->set_entity_type(TypeArg(o.type));
  if (f->entity_type() == v1::ENTITY_TYPE_UNSPECIFIED) {
    std::fprintf(stderr, "crmctl: unknown entity type '%s'\n", o.type.c_str());
    return kExitUsage;
  }
  f->set_name(o.name);
  f->set_kind(KindFromName(o.kind));
  f->set_label(o.label);
  f->set_description(o.description);
  f->set_required(o.required);
  f->set_min_length(o.min_length);
  f->set_max_length(o.max_length);
  if (o.min) f->set_min(*o.min);
  if (o.max) f->set_max(*o.max);
  f->set_pattern(o.pattern);
  if (!o.options.empty()) {
    for (absl::string_view opt : absl::StrSplit(o.options, ',')) f->add_options(std::string(opt));
  }
  if (!o.policy.empty()) {
    f->set_policy(sync::PolicyFromName(o.policy));
    if (f->policy() == v1::CONFLICT_POLICY_UNSPECIFIED) {
      std::fprintf(stderr, "crmctl: unknown policy '%s'\n", o.policy.c_str());
      return kExitUsage;
    }
  }
  f->set_personal_data(o.personal_data);
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::DefineCustomFieldResponse resp;
  grpc::Status s = stub->DefineCustomField(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "fields define " + o.type + " " + o.name);
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
  } else {
    std::printf("%s\n", resp.note().c_str());
  }
  return kExitOk;
}

int CmdFieldsRemove(const Connection& c, const Output& out, const std::string& type,
                    const std::string& name) {
  v1::RemoveCustomFieldRequest req;
  req.set_entity_type(TypeArg(type));
  if (req.entity_type() == v1::ENTITY_TYPE_UNSPECIFIED) {
    std::fprintf(stderr, "crmctl: unknown entity type '%s'\n", type.c_str());
    return kExitUsage;
  }
  req.set_name(name);
  auto stub = v1::AdminService::NewStub(c.channel());
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::RemoveCustomFieldResponse resp;
  grpc::Status s = stub->RemoveCustomField(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError(s, "fields remove " + type + " " + name);
  if (out.json) {
    std::printf("%s\n", ToJson(resp).c_str());
  } else {
    std::printf("%s\n", resp.note().c_str());
  }
  return kExitOk;
}

}  // namespace

void AddFieldCommands(CLI::App* app, const CommandContext& ctx) {
  auto* fields = app->add_subcommand(
      "fields", "The tenant's custom fields on entity types (list, define, remove)");
  auto list_type = std::make_shared<std::string>();
  auto list_all = std::make_shared<bool>(false);
  auto* list = fields->add_subcommand("list", "List the custom fields (of one entity type)");
  list->add_option("type", *list_type, "Entity type, e.g. lead");
  list->add_flag("--all", *list_all, "Include removed fields");
  list->callback([ctx, list_type, list_all] {
    if (auto c = ctx.connect()) *ctx.code = CmdFieldsList(*c, *ctx.out, *list_type, *list_all);
  });

  auto o = std::make_shared<DefineOptions>();
  auto* define = fields->add_subcommand(
      "define",
      "Add a custom field to an entity type, or change one (its kind never changes); devices "
      "receive it with their next sync");
  define
      ->add_option("type", o->type,
                   "Entity type: account, contact, lead, opportunity, "
                   "activity or calendar_event")
      ->required();
  define->add_option("name", o->name, "Field name: a-z, 0-9 and _, starting with a letter")
      ->required();
  define->add_option("--kind", o->kind, "text, number, money, date, boolean, one-of, multi-select")
      ->required()
      ->check(
          CLI::IsMember({"text", "number", "money", "date", "boolean", "one-of", "multi-select"}));
  define->add_option("--label", o->label, "What apps show");
  define->add_option("--description", o->description, "What the field is for");
  define->add_flag("--required", o->required, "A record cannot be created or saved without it");
  define->add_option("--min-length", o->min_length, "Text: fewest characters")
      ->check(CLI::NonNegativeNumber);
  define->add_option("--max-length", o->max_length, "Text: most characters")
      ->check(CLI::NonNegativeNumber);
  define->add_option("--pattern", o->pattern,
                     "Text: a regular expression (RE2) the whole value must match");
  define->add_option("--min", o->min, "Number or money (minor units): the least value");
  define->add_option("--max", o->max, "Number or money (minor units): the greatest value");
  define->add_option("--options", o->options, "One-of and multi-select: the values, a,b,c");
  define->add_option("--policy", o->policy,
                     "How concurrent edits merge: lww (default), server_wins, client_wins, "
                     "provenance, manual");
  define->add_flag("--personal-data", o->personal_data,
                   "The values are personal data (cleared by crmctl erase)");
  define->callback([ctx, o] {
    if (auto c = ctx.connect()) *ctx.code = CmdFieldsDefine(*c, *ctx.out, *o);
  });

  auto rm_type = std::make_shared<std::string>();
  auto rm_name = std::make_shared<std::string>();
  auto* remove = fields->add_subcommand(
      "remove",
      "Remove a custom field: stored values are kept but hidden, new values refused; defining "
      "it again shows them again");
  remove->add_option("type", *rm_type, "Entity type")->required();
  remove->add_option("name", *rm_name, "Field name")->required();
  remove->callback([ctx, rm_type, rm_name] {
    if (auto c = ctx.connect()) *ctx.code = CmdFieldsRemove(*c, *ctx.out, *rm_type, *rm_name);
  });
  fields->require_subcommand(1);
}

}  // namespace crmsync::crmctl
