#include "crmsync/sync/policy_table.h"

#include <stdexcept>
#include <vector>

#include "crmsync/sync/entity_catalog.h"
#include "crmsync/sync/field_path.h"
#include "crmsync/sync/record_model.h"

namespace crmsync::sync {

namespace {

struct PolicyNameEntry {
  v1::ConflictPolicy policy;
  const char* name;
};

constexpr PolicyNameEntry kPolicyNames[] = {
    {v1::CONFLICT_POLICY_LWW, "lww"},
    {v1::CONFLICT_POLICY_SERVER_WINS, "server_wins"},
    {v1::CONFLICT_POLICY_CLIENT_WINS, "client_wins"},
    {v1::CONFLICT_POLICY_PROVENANCE, "provenance"},
    {v1::CONFLICT_POLICY_MANUAL, "manual"},
    {v1::CONFLICT_POLICY_COUNTER, "counter"},
    {v1::CONFLICT_POLICY_SET, "set"},
    {v1::CONFLICT_POLICY_UNIQUE_CLAIM, "unique_claim"},
};

std::string_view Trim(std::string_view s) {
  const char* ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

// Checks that `policy` fits the field `fp`.
Status CheckFits(const FieldPath& fp, v1::ConflictPolicy policy) {
  if (policy == v1::CONFLICT_POLICY_COUNTER && !IsIntegerLeaf(fp)) {
    return Status::InvalidArgument(
        "policy counter needs a singular integer "
        "field; '" +
        fp.text + "' is not one");
  }
  if (policy == v1::CONFLICT_POLICY_SET && !IsRepeatedScalarLeaf(fp)) {
    return Status::InvalidArgument("policy set needs a repeated scalar field; '" + fp.text +
                                   "' is not one");
  }
  return Status::Ok();
}

}  // namespace

std::string PolicyName(v1::ConflictPolicy policy) {
  for (const auto& e : kPolicyNames) {
    if (e.policy == policy) return e.name;
  }
  return "unspecified";
}

v1::ConflictPolicy PolicyFromName(std::string_view name) {
  for (const auto& e : kPolicyNames) {
    if (name == e.name) return e.policy;
  }
  return v1::CONFLICT_POLICY_UNSPECIFIED;
}

PolicyTable PolicyTable::Defaults() {
  // Table-wide rules; the rest is written on the entity types and their
  // fields in the proto (options.proto: EntityRules/FieldRules
  // default_policy), read through the entity catalog.
  static constexpr std::string_view kTableWide = R"(
# Identifiers are assigned once and owned by the server.
*.id = server_wins
delete_vs_update = keep_delete
)";
  Result<PolicyTable> parsed = Parse(kTableWide, PolicyTable());
  if (!parsed.ok()) throw std::logic_error("default policies: " + parsed.status().message());
  PolicyTable table = std::move(parsed).value();
  auto set = [&](const EntitySpec& e, std::string_view path, v1::ConflictPolicy policy) {
    Status s = table.Set(e.type(), path, policy);
    // A policy that does not fit its field is a mistake in the proto.
    if (!s.ok()) {
      throw std::logic_error("default policy of " + e.name + "." + std::string(path) + ": " +
                             s.message());
    }
  };
  for (const EntitySpec& e : EntityCatalog::Default().entities()) {
    if (e.default_policy != v1::CONFLICT_POLICY_UNSPECIFIED) set(e, "*", e.default_policy);
    for (int i = 0; i < e.descriptor->field_count(); ++i) {
      const auto* f = e.descriptor->field(i);
      const std::string& name = FieldRulesOf(f).default_policy();
      if (!name.empty()) set(e, f->name(), PolicyFromName(name));
    }
  }
  return table;
}

const PolicyTable& PolicyTable::DefaultInstance() {
  static const PolicyTable* const kInstance = new PolicyTable(Defaults());
  return *kInstance;
}

Status PolicyTable::Set(v1::EntityType type, std::string_view path, v1::ConflictPolicy policy) {
  if (policy == v1::CONFLICT_POLICY_UNSPECIFIED || !v1::ConflictPolicy_IsValid(policy)) {
    return Status::InvalidArgument("unknown policy");
  }
  if (path.empty()) return Status::InvalidArgument("empty field path");
  if (path == "*") {
    if (policy == v1::CONFLICT_POLICY_COUNTER || policy == v1::CONFLICT_POLICY_SET) {
      return Status::InvalidArgument("policy " + PolicyName(policy) +
                                     " cannot be a default for every field");
    }
    if (type != v1::ENTITY_TYPE_UNSPECIFIED && EntityDescriptor(type) == nullptr) {
      return Status::InvalidArgument("unknown entity type");
    }
    rules_[{static_cast<int>(type), "*"}] = policy;
    return Status::Ok();
  }
  if (type != v1::ENTITY_TYPE_UNSPECIFIED) {
    Result<FieldPath> fp = ResolveFieldPath(EntityDescriptor(type), path);
    if (!fp.ok()) return fp.status();
    Status fits = CheckFits(*fp, policy);
    if (!fits.ok()) return fits;
  } else {
    // Any type: the path must exist on at least one type and fit wherever
    // it exists.
    bool found = false;
    for (int n = 0; n < v1::EntityType_ARRAYSIZE; ++n) {
      const auto* d = EntityDescriptor(static_cast<v1::EntityType>(n));
      if (d == nullptr) continue;
      Result<FieldPath> fp = ResolveFieldPath(d, path);
      if (!fp.ok()) continue;
      found = true;
      Status fits = CheckFits(*fp, policy);
      if (!fits.ok()) return fits;
    }
    if (!found) {
      return Status::InvalidArgument("no entity type has a field '" + std::string(path) + "'");
    }
  }
  rules_[{static_cast<int>(type), std::string(path)}] = policy;
  return Status::Ok();
}

v1::ConflictPolicy PolicyTable::Lookup(v1::EntityType type, std::string_view path) const {
  for (int t : {static_cast<int>(type), 0}) {
    std::string p(path);
    while (true) {
      auto it = rules_.find({t, p});
      if (it != rules_.end()) return it->second;
      const size_t dot = p.rfind('.');
      if (dot == std::string::npos) break;
      p.resize(dot);
    }
  }
  for (int t : {static_cast<int>(type), 0}) {
    auto it = rules_.find({t, "*"});
    if (it != rules_.end()) return it->second;
  }
  return v1::CONFLICT_POLICY_LWW;
}

Result<PolicyTable> PolicyTable::Parse(std::string_view text, const PolicyTable& base) {
  PolicyTable table = base;
  std::string errors;
  auto fail = [&](int line, const std::string& what) {
    if (!errors.empty()) errors += "\n";
    errors += "line " + std::to_string(line) + ": " + what;
  };
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    const size_t hash = line.find('#');
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    line = Trim(line);
    if (line.empty()) {
      if (end == text.size()) break;
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      fail(line_no, "expected 'entity.field = policy', got '" + std::string(line) + "'");
      continue;
    }
    const std::string_view key = Trim(line.substr(0, eq));
    const std::string_view value = Trim(line.substr(eq + 1));
    if (key == "delete_vs_update") {
      if (value == "keep_delete") {
        table.set_delete_rule(DeleteRule::kKeepDelete);
      } else if (value == "keep_update") {
        table.set_delete_rule(DeleteRule::kKeepUpdate);
      } else {
        fail(line_no, "delete_vs_update must be keep_delete or keep_update, got '" +
                          std::string(value) + "'");
      }
      continue;
    }
    const v1::ConflictPolicy policy = PolicyFromName(value);
    if (policy == v1::CONFLICT_POLICY_UNSPECIFIED) {
      fail(line_no, "unknown policy '" + std::string(value) +
                        "' (expected lww, server_wins, client_wins, provenance, "
                        "manual, counter, set or unique_claim)");
      continue;
    }
    const size_t dot = key.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == key.size()) {
      fail(line_no, "expected 'entity.field' before '=', got '" + std::string(key) + "'");
      continue;
    }
    const std::string_view entity = key.substr(0, dot);
    const std::string_view path = key.substr(dot + 1);
    v1::EntityType type = v1::ENTITY_TYPE_UNSPECIFIED;
    if (entity != "*") {
      type = EntityTypeFromName(entity);
      if (type == v1::ENTITY_TYPE_UNSPECIFIED) {
        fail(line_no, "unknown entity type '" + std::string(entity) + "'");
        continue;
      }
    }
    Status s = table.Set(type, path, policy);
    if (!s.ok()) fail(line_no, s.message());
  }
  if (!errors.empty()) return Status::InvalidArgument(errors);
  return table;
}

std::string PolicyTable::ToText() const {
  std::string out;
  for (const auto& [key, policy] : rules_) {
    const std::string entity =
        key.first == 0 ? "*" : EntityTypeName(static_cast<v1::EntityType>(key.first));
    out += entity + "." + key.second + " = " + PolicyName(policy) + "\n";
  }
  out += std::string("delete_vs_update = ") +
         (delete_rule_ == DeleteRule::kKeepDelete ? "keep_delete" : "keep_update") + "\n";
  return out;
}

}  // namespace crmsync::sync
