#include "crmsync/sync/entity_catalog.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "crmsync/sync/policy_table.h"

namespace crmsync::sync {

namespace pb = ::google::protobuf;
using FD = pb::FieldDescriptor;

namespace {

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// The value of `enum_type` named PREFIX + upper(name), or 0.
int EnumFromName(const pb::EnumDescriptor* enum_type, const char* prefix, std::string_view name) {
  if (name.empty()) return 0;
  const pb::EnumValueDescriptor* v = enum_type->FindValueByName(prefix + Upper(name));
  return v == nullptr ? 0 : v->number();
}

Status CheckScopeField(const std::string& where, const FD* f, v1::ScopeRole role) {
  const bool text = f->cpp_type() == FD::CPPTYPE_STRING;
  switch (role) {
    case v1::SCOPE_ROLE_VISIBILITY:
      if (f->cpp_type() == FD::CPPTYPE_ENUM && !f->is_repeated() &&
          f->enum_type() == v1::Visibility_descriptor()) {
        return Status::Ok();
      }
      return Status::InvalidArgument(where + ": scope VISIBILITY needs a crmsync.v1.Visibility");
    case v1::SCOPE_ROLE_STORES:
      if (text) return Status::Ok();
      return Status::InvalidArgument(where + ": scope STORES needs a string or repeated string");
    default:
      if (text && !f->is_repeated()) return Status::Ok();
      return Status::InvalidArgument(where + ": scope " + v1::ScopeRole_Name(role) +
                                     " needs a singular string");
  }
}

Result<EntitySpec> ReadEntity(const FD* member) {
  const std::string where = member->containing_type()->full_name() + "." + member->name();
  if (member->cpp_type() != FD::CPPTYPE_MESSAGE) {
    return Status::InvalidArgument(where + " is not a message");
  }
  EntitySpec spec;
  spec.number = member->number();
  spec.name = member->name();
  spec.descriptor = member->message_type();
  const pb::MessageOptions& options = spec.descriptor->options();
  if (!options.HasExtension(v1::entity)) {
    return Status::InvalidArgument(spec.descriptor->full_name() +
                                   " has no (crmsync.v1.entity) option (proto/README.md)");
  }
  spec.rules = options.GetExtension(v1::entity);
  if (spec.rules.access() == v1::ACCESS_RULE_UNSPECIFIED) {
    return Status::InvalidArgument(spec.descriptor->full_name() + " has no access rule");
  }
  for (const std::string& op : spec.rules.terminal_operations()) {
    const auto parsed = OperationFromName(op);
    if (parsed == v1::OPERATION_UNSPECIFIED) {
      return Status::InvalidArgument(spec.descriptor->full_name() +
                                     ": unknown terminal operation \"" + op + "\"");
    }
    spec.terminal_operations.push_back(parsed);
  }
  if (!spec.terminal_operations.empty() && spec.rules.access() != v1::ACCESS_RULE_STORE &&
      spec.rules.access() != v1::ACCESS_RULE_DEVICE) {
    return Status::InvalidArgument(spec.descriptor->full_name() +
                                   ": terminal operations need access STORE or DEVICE");
  }
  if (!spec.rules.default_policy().empty()) {
    spec.default_policy = PolicyFromName(spec.rules.default_policy());
    if (spec.default_policy == v1::CONFLICT_POLICY_UNSPECIFIED) {
      return Status::InvalidArgument(spec.descriptor->full_name() + ": unknown policy \"" +
                                     spec.rules.default_policy() + "\"");
    }
  }
  for (int i = 0; i < spec.descriptor->field_count(); ++i) {
    const FD* f = spec.descriptor->field(i);
    const v1::FieldRules& rules = FieldRulesOf(f);
    const std::string field_where = spec.descriptor->full_name() + "." + f->name();
    if (!rules.default_policy().empty() &&
        PolicyFromName(rules.default_policy()) == v1::CONFLICT_POLICY_UNSPECIFIED) {
      return Status::InvalidArgument(field_where + ": unknown policy \"" + rules.default_policy() +
                                     "\"");
    }
    if (rules.scope() == v1::SCOPE_ROLE_UNSPECIFIED) continue;
    if (Status s = CheckScopeField(field_where, f, rules.scope()); !s.ok()) return s;
    spec.scope_fields.push_back({f, rules.scope()});
  }
  std::sort(spec.scope_fields.begin(), spec.scope_fields.end(),
            [](const ScopeField& a, const ScopeField& b) {
              return a.field->number() < b.field->number();
            });
  if (spec.rules.access() == v1::ACCESS_RULE_STORE &&
      spec.FieldWithRole(v1::SCOPE_ROLE_STORES) == nullptr &&
      spec.FieldWithRole(v1::SCOPE_ROLE_HOME_STORE) == nullptr) {
    return Status::InvalidArgument(spec.descriptor->full_name() +
                                   ": access STORE needs a field with scope STORES or HOME_STORE");
  }
  if (spec.rules.access() == v1::ACCESS_RULE_DEVICE &&
      spec.FieldWithRole(v1::SCOPE_ROLE_DEVICE) == nullptr) {
    return Status::InvalidArgument(spec.descriptor->full_name() +
                                   ": access DEVICE needs a field with scope DEVICE");
  }
  return spec;
}

}  // namespace

const FD* EntitySpec::FieldWithRole(v1::ScopeRole role) const {
  for (const ScopeField& s : scope_fields) {
    if (s.role == role) return s.field;
  }
  return nullptr;
}

bool EntitySpec::IsScopeField(std::string_view path) const {
  const std::string_view top = path.substr(0, path.find('.'));
  for (const ScopeField& s : scope_fields) {
    if (s.field->name() == top) return true;
  }
  return false;
}

bool EntitySpec::TerminalMay(v1::Operation operation) const {
  return std::find(terminal_operations.begin(), terminal_operations.end(), operation) !=
         terminal_operations.end();
}

Result<EntityCatalog> EntityCatalog::Build(const pb::Descriptor* record) {
  const pb::OneofDescriptor* oneof = record->FindOneofByName("entity");
  if (oneof == nullptr) {
    return Status::InvalidArgument(record->full_name() + " has no oneof named entity");
  }
  EntityCatalog catalog;
  for (int i = 0; i < oneof->field_count(); ++i) {
    Result<EntitySpec> spec = ReadEntity(oneof->field(i));
    if (!spec.ok()) return spec.status();
    catalog.entities_.push_back(std::move(spec).value());
  }
  return catalog;
}

const EntityCatalog& EntityCatalog::Default() {
  static const EntityCatalog* const kCatalog = [] {
    Result<EntityCatalog> built = Build(v1::Record::descriptor());
    if (!built.ok()) {
      // The proto in this binary is inconsistent: nothing type-specific can
      // be decided. EntityCatalogTest fails on the same message first.
      throw std::logic_error("crmsync entity catalog: " + built.status().message());
    }
    return new EntityCatalog(std::move(built).value());
  }();
  return *kCatalog;
}

const EntitySpec* EntityCatalog::Find(v1::EntityType type) const {
  for (const EntitySpec& e : entities_) {
    if (e.number == static_cast<int>(type)) return &e;
  }
  return nullptr;
}

const EntitySpec* EntityCatalog::FindByName(std::string_view name) const {
  for (const EntitySpec& e : entities_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

const v1::FieldRules& FieldRulesOf(const FD* field) {
  if (field == nullptr || !field->options().HasExtension(v1::field)) {
    return v1::FieldRules::default_instance();
  }
  return field->options().GetExtension(v1::field);
}

v1::ScopeKeys ScopeKeysOfEntity(const EntitySpec& spec, const pb::Message& entity) {
  v1::ScopeKeys keys;
  const pb::Reflection* r = entity.GetReflection();
  std::vector<std::string> stores;
  for (const ScopeField& s : spec.scope_fields) {
    const FD* f = s.field;
    switch (s.role) {
      case v1::SCOPE_ROLE_OWNER: keys.set_owner_user_id(r->GetString(entity, f)); break;
      case v1::SCOPE_ROLE_TEAM: keys.set_team_id(r->GetString(entity, f)); break;
      case v1::SCOPE_ROLE_VISIBILITY:
        keys.set_visibility(static_cast<v1::Visibility>(r->GetEnumValue(entity, f)));
        break;
      case v1::SCOPE_ROLE_TERRITORY: keys.set_territory(r->GetString(entity, f)); break;
      case v1::SCOPE_ROLE_STORES:
        if (f->is_repeated()) {
          for (int i = 0; i < r->FieldSize(entity, f); ++i) {
            stores.push_back(r->GetRepeatedString(entity, f, i));
          }
        } else if (!r->GetString(entity, f).empty()) {
          stores.push_back(r->GetString(entity, f));
        }
        break;
      case v1::SCOPE_ROLE_DEVICE: keys.set_device_id(r->GetString(entity, f)); break;
      default: break;  // HOME_STORE: see the header
    }
  }
  // Sorted and unique, so equal records give equal keys.
  std::sort(stores.begin(), stores.end());
  stores.erase(std::unique(stores.begin(), stores.end()), stores.end());
  for (std::string& s : stores) *keys.add_store_ids() = std::move(s);
  return keys;
}

void SetScopeKeysOfEntity(const EntitySpec& spec, const v1::ScopeKeys& keys, pb::Message* entity) {
  const pb::Reflection* r = entity->GetReflection();
  for (const ScopeField& s : spec.scope_fields) {
    const FD* f = s.field;
    switch (s.role) {
      case v1::SCOPE_ROLE_OWNER: r->SetString(entity, f, keys.owner_user_id()); break;
      case v1::SCOPE_ROLE_TEAM: r->SetString(entity, f, keys.team_id()); break;
      case v1::SCOPE_ROLE_VISIBILITY: r->SetEnumValue(entity, f, keys.visibility()); break;
      case v1::SCOPE_ROLE_TERRITORY: r->SetString(entity, f, keys.territory()); break;
      case v1::SCOPE_ROLE_STORES:
        if (f->is_repeated()) {
          r->ClearField(entity, f);
          for (const std::string& store : keys.store_ids()) r->AddString(entity, f, store);
        } else {
          r->SetString(entity, f, keys.store_ids().empty() ? "" : keys.store_ids(0));
        }
        break;
      case v1::SCOPE_ROLE_DEVICE: r->SetString(entity, f, keys.device_id()); break;
      default: break;
    }
  }
}

v1::Operation OperationFromName(std::string_view name) {
  return static_cast<v1::Operation>(EnumFromName(v1::Operation_descriptor(), "OPERATION_", name));
}

}  // namespace crmsync::sync
