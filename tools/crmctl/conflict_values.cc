#include "conflict_values.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/timestamp.pb.h>

#include <map>
#include <sstream>

#include "table.h"

namespace crmsync::crmctl {
namespace {

namespace pb = ::google::protobuf;

}  // namespace

std::string ScalarTextIn(const pb::Message& m, const pb::FieldDescriptor* f, int index,
                         const ScalarStyle& style) {
  const pb::Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return std::to_string(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
    case pb::FieldDescriptor::CPPTYPE_INT64:
      return std::to_string(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return std::to_string(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return std::to_string(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_FLOAT: {
      std::ostringstream s;
      if (style.double_digits > 0) s.precision(style.double_digits);
      if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_DOUBLE) {
        s << (rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
      } else {
        s << (rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
      }
      return s.str();
    }
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const pb::EnumValueDescriptor* e = rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f);
      return e->name();
    }
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      std::string v = rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      if (f->type() == pb::FieldDescriptor::TYPE_BYTES) return std::to_string(v.size()) + " bytes";
      return style.quote_strings ? "\"" + v + "\"" : v;
    }
    default: return "?";
  }
}

namespace {

std::string ScalarText(const pb::Message& m, const pb::FieldDescriptor* f, int index) {
  return ScalarTextIn(m, f, index, ScalarStyle{});
}

void Flatten(const pb::Message& m, const std::string& prefix,
             std::map<std::string, std::string>* out);

// The leaves of field `f` of `m` under the name `name`.
void FlattenField(const pb::Message& m, const pb::FieldDescriptor* f, const std::string& name,
                  std::map<std::string, std::string>* out) {
  const pb::Reflection* r = m.GetReflection();
  if (f->is_repeated()) {
    const int n = r->FieldSize(m, f);
    if (n == 0) return;
    std::string list = "[";
    for (int i = 0; i < n; ++i) {
      if (i > 0) list += ", ";
      if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        std::map<std::string, std::string> inner;
        Flatten(r->GetRepeatedMessage(m, f, i), "", &inner);
        std::string item = "{";
        for (const auto& [k, v] : inner) item += (item.size() > 1 ? ", " : "") + k + ": " + v;
        list += item + "}";
      } else {
        list += ScalarText(m, f, i);
      }
    }
    (*out)[name] = list + "]";
    return;
  }
  if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
    if (!r->HasField(m, f)) return;
    const pb::Message& sub = r->GetMessage(m, f);
    if (sub.GetDescriptor() == pb::Timestamp::descriptor()) {
      (*out)[name] = FormatTime(static_cast<const pb::Timestamp&>(sub));
      return;
    }
    Flatten(sub, name + ".", out);
    return;
  }
  (*out)[name] = ScalarText(m, f, 0);
}

void Flatten(const pb::Message& m, const std::string& prefix,
             std::map<std::string, std::string>* out) {
  std::vector<const pb::FieldDescriptor*> fields;
  m.GetReflection()->ListFields(m, &fields);  // set fields only
  for (const pb::FieldDescriptor* f : fields) FlattenField(m, f, prefix + f->name(), out);
}

// The leaves of `path` (FieldMask syntax, relative to the entity) in the
// entity message `record` holds.
std::map<std::string, std::string> Leaves(const v1::Record& record, const std::string& path) {
  std::map<std::string, std::string> out;
  std::vector<const pb::FieldDescriptor*> set;
  record.GetReflection()->ListFields(record, &set);
  if (set.empty()) return out;
  const pb::Message* m = &record.GetReflection()->GetMessage(record, set.front());
  std::string name;
  std::istringstream parts(path);
  std::string part;
  std::vector<std::string> segments;
  while (std::getline(parts, part, '.')) segments.push_back(part);
  for (size_t i = 0; i < segments.size(); ++i) {
    const pb::FieldDescriptor* f = m->GetDescriptor()->FindFieldByName(segments[i]);
    if (f == nullptr) return out;
    name += (name.empty() ? "" : ".") + segments[i];
    const pb::Reflection* r = m->GetReflection();
    const bool last = i + 1 == segments.size();
    if (f->is_map() && !last) {
      // A custom field: "custom.region" names one entry of the map.
      const std::string& key = segments[i + 1];
      const pb::Descriptor* entry_type = f->message_type();
      for (int k = 0; k < r->FieldSize(*m, f); ++k) {
        const pb::Message& entry = r->GetRepeatedMessage(*m, f, k);
        const pb::Reflection* er = entry.GetReflection();
        if (er->GetString(entry, entry_type->map_key()) != key) continue;
        std::map<std::string, std::string> inner;
        FlattenField(entry, entry_type->map_value(), "", &inner);
        const std::string entry_name = name + "." + key;
        if (inner.size() == 1) {
          out[entry_name] = inner.begin()->second;  // the value of its kind
        } else {
          for (const auto& [k2, v] : inner) out[entry_name + k2] = v;
        }
      }
      return out;
    }
    if (last || f->is_repeated() || f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated() || f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE ||
          r->HasField(*m, f)) {
        FlattenField(*m, f, name, &out);
      }
      return out;
    }
    if (!r->HasField(*m, f)) return out;
    m = &r->GetMessage(*m, f);
  }
  return out;
}

}  // namespace

std::vector<ValueRow> ConflictValueRows(const v1::Conflict& conflict) {
  const auto base = Leaves(conflict.base_value(), conflict.field_path());
  const auto server = Leaves(conflict.server_value(), conflict.field_path());
  const auto client = Leaves(conflict.client_value(), conflict.field_path());
  std::map<std::string, ValueRow> rows;
  auto put = [&](const std::map<std::string, std::string>& side, std::string ValueRow::*member) {
    for (const auto& [k, v] : side) {
      ValueRow& row = rows[k];
      row.field = k;
      row.*member = v;
    }
  };
  put(base, &ValueRow::base);
  put(server, &ValueRow::server);
  put(client, &ValueRow::client);
  std::vector<ValueRow> all, differing;
  for (auto& [k, row] : rows) {
    for (std::string* v : {&row.base, &row.server, &row.client}) {
      if (v->empty()) *v = "-";
    }
    if (!(row.base == row.server && row.server == row.client)) differing.push_back(row);
    all.push_back(row);
  }
  if (all.empty()) all.push_back({conflict.field_path(), "-", "-", "-"});
  return differing.empty() ? all : differing;
}

std::string ValueText(const v1::Record& partial, const std::string& path) {
  const auto leaves = Leaves(partial, path);
  if (leaves.empty()) return "-";
  if (leaves.size() == 1 && leaves.begin()->first == path) return leaves.begin()->second;
  std::string out;
  for (const auto& [k, v] : leaves) {
    out += (out.empty() ? "" : ", ") + k.substr(path.size() + 1) + "=" + v;
  }
  return out;
}

std::string SideSummary(const std::vector<ValueRow>& rows, bool server) {
  std::string out;
  for (const ValueRow& row : rows) {
    if (!out.empty()) out += ", ";
    const std::string leaf = row.field.substr(row.field.rfind('.') + 1);
    const bool nested = row.field.find('.') != std::string::npos;
    out += (nested ? leaf + "=" : "") + (server ? row.server : row.client);
  }
  return out.size() > 48 ? out.substr(0, 45) + "..." : out;
}

}  // namespace crmsync::crmctl
