#include "custom_fields.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/str_join.h"
#include "crmsync/sync/field_path.h"
#include "crmsync/sync/record_model.h"
#include "re2/re2.h"

namespace crmsync::server {

namespace pb = ::google::protobuf;

namespace {

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

std::string KindName(v1::CustomFieldKind kind) {
  switch (kind) {
    case v1::CUSTOM_FIELD_KIND_TEXT: return "text";
    case v1::CUSTOM_FIELD_KIND_NUMBER: return "number";
    case v1::CUSTOM_FIELD_KIND_MONEY: return "money";
    case v1::CUSTOM_FIELD_KIND_DATE: return "date";
    case v1::CUSTOM_FIELD_KIND_BOOLEAN: return "boolean";
    case v1::CUSTOM_FIELD_KIND_ONE_OF: return "one-of";
    case v1::CUSTOM_FIELD_KIND_MULTI_SELECT: return "multi-select";
    default: return "unspecified";
  }
}

// The value member each kind takes.
v1::CustomValue::ValueCase CaseOf(v1::CustomFieldKind kind) {
  switch (kind) {
    case v1::CUSTOM_FIELD_KIND_TEXT: return v1::CustomValue::kText;
    case v1::CUSTOM_FIELD_KIND_NUMBER: return v1::CustomValue::kNumber;
    case v1::CUSTOM_FIELD_KIND_MONEY: return v1::CustomValue::kMoney;
    case v1::CUSTOM_FIELD_KIND_DATE: return v1::CustomValue::kDate;
    case v1::CUSTOM_FIELD_KIND_BOOLEAN: return v1::CustomValue::kBoolean;
    case v1::CUSTOM_FIELD_KIND_ONE_OF: return v1::CustomValue::kChoice;
    case v1::CUSTOM_FIELD_KIND_MULTI_SELECT: return v1::CustomValue::kChoices;
    default: return v1::CustomValue::VALUE_NOT_SET;
  }
}

std::string CaseName(v1::CustomValue::ValueCase c) {
  const pb::FieldDescriptor* f = v1::CustomValue::descriptor()->FindFieldByNumber(c);
  return f == nullptr ? "nothing" : f->name();
}

// Characters of UTF-8 text (bytes that do not continue a sequence).
size_t Utf8Length(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

bool IsIsoDate(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  const int year = std::stoi(s.substr(0, 4));
  const int month = std::stoi(s.substr(5, 2));
  const int day = std::stoi(s.substr(8, 2));
  if (month < 1 || month > 12 || day < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

std::string Number(double v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

absl::Status CheckBounds(const v1::CustomField& def, const std::string& path, double v) {
  if (def.has_min() && v < def.min())
    return Invalid(path + " must be at least " + Number(def.min()));
  if (def.has_max() && v > def.max())
    return Invalid(path + " must be at most " + Number(def.max()));
  return absl::OkStatus();
}

bool IsOption(const v1::CustomField& def, const std::string& v) {
  return std::find(def.options().begin(), def.options().end(), v) != def.options().end();
}

absl::Status CheckValue(const v1::CustomField& def, const v1::CustomValue& v,
                        const std::string& path) {
  if (v.value_case() != CaseOf(def.kind())) {
    return Invalid(path + " is a " + KindName(def.kind()) + " field (value member '" +
                   CaseName(CaseOf(def.kind())) + "'); the value given is '" +
                   CaseName(v.value_case()) + "'");
  }
  switch (def.kind()) {
    case v1::CUSTOM_FIELD_KIND_TEXT: {
      const size_t n = Utf8Length(v.text());
      if (def.min_length() > 0 && n < static_cast<size_t>(def.min_length())) {
        return Invalid(path + " must be at least " + std::to_string(def.min_length()) +
                       " characters long");
      }
      if (def.max_length() > 0 && n > static_cast<size_t>(def.max_length())) {
        return Invalid(path + " must be at most " + std::to_string(def.max_length()) +
                       " characters long");
      }
      if (!def.pattern().empty()) {
        const RE2 re(def.pattern(), RE2::Quiet);
        if (!re.ok() || !RE2::FullMatch(v.text(), re)) {
          return Invalid(path + " '" + v.text() + "' does not match the pattern " + def.pattern());
        }
      }
      return absl::OkStatus();
    }
    case v1::CUSTOM_FIELD_KIND_NUMBER: return CheckBounds(def, path, v.number());
    case v1::CUSTOM_FIELD_KIND_MONEY: {
      const std::string& code = v.money().currency_code();
      if (code.size() != 3 ||
          !std::all_of(code.begin(), code.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
        return Invalid(path + " needs a three-letter ISO 4217 currency code (\"EUR\"), not '" +
                       code + "'");
      }
      return CheckBounds(def, path, static_cast<double>(v.money().amount_minor()));
    }
    case v1::CUSTOM_FIELD_KIND_DATE:
      if (!IsIsoDate(v.date())) {
        return Invalid(path + " '" + v.date() + "' is not a date (YYYY-MM-DD)");
      }
      return absl::OkStatus();
    case v1::CUSTOM_FIELD_KIND_ONE_OF:
      if (!IsOption(def, v.choice())) {
        return Invalid(path + " '" + v.choice() +
                       "' is not one of: " + absl::StrJoin(def.options(), ", "));
      }
      return absl::OkStatus();
    case v1::CUSTOM_FIELD_KIND_MULTI_SELECT: {
      std::set<std::string> seen;
      for (const std::string& c : v.choices().values()) {
        if (!IsOption(def, c)) {
          return Invalid(path + " '" + c +
                         "' is not one of: " + absl::StrJoin(def.options(), ", "));
        }
        if (!seen.insert(c).second) return Invalid(path + " names '" + c + "' twice");
      }
      return absl::OkStatus();
    }
    default: return absl::OkStatus();
  }
}

const pb::FieldDescriptor* CustomMap(v1::EntityType type) {
  const pb::Descriptor* d = sync::EntityDescriptor(type);
  if (d == nullptr) return nullptr;
  const pb::FieldDescriptor* f = d->FindFieldByName(kCustomMapField);
  return f != nullptr && sync::IsKeyedMapField(f) &&
                 f->message_type()->map_value()->message_type() == v1::CustomValue::descriptor()
             ? f
             : nullptr;
}

// The value of custom field `name` in `entity`, or nullptr.
const v1::CustomValue* ValueOf(const pb::Message& entity, const pb::FieldDescriptor* map,
                               const std::string& name) {
  const pb::Reflection* r = entity.GetReflection();
  const pb::Descriptor* entry_type = map->message_type();
  const int n = r->FieldSize(entity, map);
  for (int i = 0; i < n; ++i) {
    const pb::Message& entry = r->GetRepeatedMessage(entity, map, i);
    if (entry.GetReflection()->GetString(entry, entry_type->map_key()) != name) continue;
    return pb::DynamicCastToGenerated<v1::CustomValue>(
        &entry.GetReflection()->GetMessage(entry, entry_type->map_value()));
  }
  return nullptr;
}

// The custom fields `m` writes, by name.
std::vector<std::string> WrittenNames(const v1::Mutation& m, const pb::FieldDescriptor* map,
                                      const pb::Message& values) {
  std::vector<std::string> names;
  const std::string prefix = std::string(kCustomMapField) + ".";
  if (m.update_mask().paths_size() == 0) {
    for (const std::string& p : sync::KeyedMapPaths(values, values, map)) {
      names.push_back(p.substr(prefix.size()));
    }
    return names;
  }
  for (const std::string& p : m.update_mask().paths()) {
    if (p.compare(0, prefix.size(), prefix) == 0) names.push_back(p.substr(prefix.size()));
  }
  return names;
}

absl::StatusOr<CustomFieldSet> ToSet(const std::vector<v1::RecordState>& states) {
  CustomFieldSet out;
  for (const v1::RecordState& s : states) {
    if (s.deleted() || !s.data().has_custom_field()) continue;
    out[s.data().custom_field().name()] = s.data().custom_field();
  }
  return out;
}

class DefinitionCheck final : public MutationHooks {
 public:
  std::optional<v1::MutationResult> Check(const v1::Mutation& m, const v1::RecordState* current,
                                          const sync::MergeResult& merged) override {
    if (merged.outcome == v1::MUTATION_OUTCOME_REJECTED || merged.new_state.deleted()) {
      return std::nullopt;
    }
    const v1::CustomField* previous =
        current != nullptr && !current->deleted() ? &current->data().custom_field() : nullptr;
    absl::Status s = ValidateCustomField(merged.new_state.data().custom_field(), previous);
    if (s.ok()) return std::nullopt;
    return RejectedResult(m, v1::REJECT_REASON_VALIDATION, std::string(s.message()));
  }
};

class Hooks final : public EntityHooks {
 public:
  std::unique_ptr<MutationHooks> ForMutation(const v1::Mutation& m) const override {
    return std::make_unique<DefinitionCheck>();
  }
  absl::Status AfterPut(PushTxn& txn, const v1::RecordState* current,
                        const v1::RecordState& state) const override {
    std::vector<int64_t> keys;
    if (!state.deleted()) keys.push_back(state.data().custom_field().entity_type());
    return txn.tx().SetIndexKeys(state.ref(), IndexKind::kCustomFieldOf, keys);
  }
};

}  // namespace

bool HasCustomFields(v1::EntityType type) { return CustomMap(type) != nullptr; }

std::string CustomFieldId(v1::EntityType type, const std::string& name) {
  return sync::EntityTypeName(type) + "." + name;
}

absl::StatusOr<CustomFieldSet> LoadCustomFields(WriteTx& tx, v1::EntityType type) {
  auto states = tx.FindIndexed(IndexKind::kCustomFieldOf, v1::ENTITY_TYPE_CUSTOM_FIELD,
                               {KeyRange{type, type}}, 0);
  if (!states.ok()) return states.status();
  return ToSet(*states);
}

absl::StatusOr<CustomFieldSet> LoadCustomFields(ChangeLog& changes, const std::string& tenant_id,
                                                v1::EntityType type) {
  auto states = changes.FindIndexed(tenant_id, IndexKind::kCustomFieldOf,
                                    v1::ENTITY_TYPE_CUSTOM_FIELD, {KeyRange{type, type}}, 0);
  if (!states.ok()) return states.status();
  return ToSet(*states);
}

bool NeedsCustomFields(const v1::Mutation& m, const v1::RecordState* current) {
  if (m.operation() != v1::OPERATION_UPSERT) return false;
  const pb::FieldDescriptor* map = CustomMap(m.record().entity_type());
  if (map == nullptr) return false;
  if (current == nullptr) return true;  // a create: required fields
  const pb::Message* values = sync::EntityOrDefault(m.values(), m.record().entity_type());
  return values != nullptr && !WrittenNames(m, map, *values).empty();
}

absl::Status CheckCustomValues(const CustomFieldSet& fields, const v1::Mutation& m,
                               const v1::RecordState* current) {
  if (m.operation() != v1::OPERATION_UPSERT) return absl::OkStatus();
  const v1::EntityType type = m.record().entity_type();
  const pb::FieldDescriptor* map = CustomMap(type);
  const pb::Message* values = sync::EntityOrDefault(m.values(), type);
  if (map == nullptr || values == nullptr) return absl::OkStatus();
  const std::string type_name = sync::EntityTypeName(type);
  std::set<std::string> given;
  for (const std::string& name : WrittenNames(m, map, *values)) {
    const std::string path = std::string(kCustomMapField) + "." + name;
    const auto it = fields.find(name);
    if (it == fields.end()) {
      return Invalid(path + ": " + type_name + " has no custom field '" + name +
                     "' (crmctl fields list " + type_name + ")");
    }
    const v1::CustomField& def = it->second;
    if (def.removed()) {
      return Invalid(path + ": custom field " + def.id() +
                     " was removed; its stored values are kept but hidden, and new values are "
                     "refused until an admin defines it again");
    }
    const v1::CustomValue* v = ValueOf(*values, map, name);
    if (v == nullptr || v->value_case() == v1::CustomValue::VALUE_NOT_SET) {
      if (def.required()) return Invalid(path + " is required: it cannot be cleared");
      continue;
    }
    if (auto s = CheckValue(def, *v, path); !s.ok()) return s;
    given.insert(name);
  }
  if (current == nullptr) {
    for (const auto& [name, def] : fields) {
      if (def.required() && !def.removed() && given.count(name) == 0) {
        return Invalid(std::string(kCustomMapField) + "." + name + " is required: a new " +
                       type_name + " needs a value");
      }
    }
  }
  return absl::OkStatus();
}

sync::PolicyTable WithCustomPolicies(const sync::PolicyTable& base, const CustomFieldSet& fields,
                                     const v1::Mutation& m) {
  sync::PolicyTable out = base;
  const v1::EntityType type = m.record().entity_type();
  const pb::FieldDescriptor* map = CustomMap(type);
  const pb::Message* values = sync::EntityOrDefault(m.values(), type);
  if (map == nullptr || values == nullptr) return out;
  for (const std::string& name : WrittenNames(m, map, *values)) {
    const auto it = fields.find(name);
    if (it == fields.end()) continue;
    const v1::ConflictPolicy p = it->second.policy() == v1::CONFLICT_POLICY_UNSPECIFIED
                                     ? v1::CONFLICT_POLICY_LWW
                                     : it->second.policy();
    // Set refuses only what ValidateCustomField refused already.
    (void)out.Set(type, std::string(kCustomMapField) + "." + name, p);
  }
  return out;
}

absl::Status ValidateCustomField(const v1::CustomField& f, const v1::CustomField* previous) {
  if (!HasCustomFields(f.entity_type())) {
    return Invalid(
        "custom fields can be added to account, contact, lead, opportunity, activity and "
        "calendar_event, not '" +
        sync::EntityTypeName(f.entity_type()) + "'");
  }
  if (!sync::IsValidMapKey(f.name())) {
    return Invalid("custom field name '" + f.name() +
                   "': use a-z, 0-9 and _, starting with a letter, at most 64 characters");
  }
  const std::string id = CustomFieldId(f.entity_type(), f.name());
  if (f.id() != id) return Invalid("the id of this custom field must be '" + id + "'");
  if (CaseOf(f.kind()) == v1::CustomValue::VALUE_NOT_SET) {
    return Invalid("custom field " + id +
                   " needs a kind: text, number, money, date, boolean, one-of or multi-select");
  }
  if (previous != nullptr && previous->kind() != f.kind()) {
    return Invalid("the kind of " + id + " cannot change (it is " + KindName(previous->kind()) +
                   ", and its stored values are): remove it and add a field with another name");
  }
  const bool choices =
      f.kind() == v1::CUSTOM_FIELD_KIND_ONE_OF || f.kind() == v1::CUSTOM_FIELD_KIND_MULTI_SELECT;
  if (choices && f.options().empty()) {
    return Invalid(id + " is " + KindName(f.kind()) + ": it needs its options");
  }
  if (!choices && !f.options().empty()) {
    return Invalid(id + " is " + KindName(f.kind()) + ": options are for one-of and multi-select");
  }
  std::set<std::string> seen;
  for (const std::string& o : f.options()) {
    if (o.empty()) return Invalid(id + ": an option cannot be empty");
    if (!seen.insert(o).second) return Invalid(id + ": option '" + o + "' is listed twice");
  }
  const bool text = f.kind() == v1::CUSTOM_FIELD_KIND_TEXT;
  if (!text && (f.min_length() != 0 || f.max_length() != 0 || !f.pattern().empty())) {
    return Invalid(id + " is " + KindName(f.kind()) + ": lengths and patterns are for text fields");
  }
  if (f.max_length() > 0 && f.min_length() > f.max_length()) {
    return Invalid(id + ": min_length " + std::to_string(f.min_length()) + " is above max_length " +
                   std::to_string(f.max_length()));
  }
  if (!f.pattern().empty()) {
    const RE2 re(f.pattern(), RE2::Quiet);
    if (!re.ok()) return Invalid(id + ": pattern '" + f.pattern() + "': " + re.error());
  }
  const bool number =
      f.kind() == v1::CUSTOM_FIELD_KIND_NUMBER || f.kind() == v1::CUSTOM_FIELD_KIND_MONEY;
  if (!number && (f.has_min() || f.has_max())) {
    return Invalid(id + " is " + KindName(f.kind()) + ": min and max are for number and money");
  }
  if ((f.has_min() && !std::isfinite(f.min())) || (f.has_max() && !std::isfinite(f.max()))) {
    return Invalid(id + ": min and max must be finite numbers");
  }
  if (f.has_min() && f.has_max() && f.min() > f.max()) {
    return Invalid(id + ": min " + Number(f.min()) + " is above max " + Number(f.max()));
  }
  switch (f.policy()) {
    case v1::CONFLICT_POLICY_UNSPECIFIED:
    case v1::CONFLICT_POLICY_LWW:
    case v1::CONFLICT_POLICY_SERVER_WINS:
    case v1::CONFLICT_POLICY_CLIENT_WINS:
    case v1::CONFLICT_POLICY_PROVENANCE:
    case v1::CONFLICT_POLICY_MANUAL: break;
    default:
      return Invalid(id + ": policy " + sync::PolicyName(f.policy()) +
                     " does not fit one value; use lww, server_wins, client_wins, provenance or "
                     "manual");
  }
  return absl::OkStatus();
}

const EntityHooks& CustomFieldHooks() {
  static const Hooks kHooks;
  return kHooks;
}

}  // namespace crmsync::server
