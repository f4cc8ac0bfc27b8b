// crmctl import: loads a CSV file (with an optional column mapping) or JSON
// lines into the tenant through AdminService.ImportRecords, in batches,
// with a progress bar on a terminal. Resumable: the server keeps how far
// an import got (GetImport), and a progress file beside the rejects file
// keeps how far the rejects file is written. Rows the server (or the file's
// own parsing) refused go to the rejects file with their reasons.
#include <google/protobuf/util/json_util.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "commands.h"
#include "crmsync/sync/entity_catalog.h"
#include "crmsync/sync/record_model.h"
#include "crmsync/sync/text.h"
#include "crmsync/v1/admin.grpc.pb.h"
#include "files.h"

namespace crmsync::crmctl {

namespace v1 = ::crmsync::v1;
namespace pb = ::google::protobuf;

namespace {

using Clock = std::chrono::steady_clock;

struct ImportOptions {
  std::string file;
  std::string type;     // default entity type ("lead")
  std::string format;   // "csv", "jsonl" or "" (by the file's extension)
  std::string mapping;  // CSV column mapping (JSON)
  std::string import_id;
  std::string rejects;           // default: FILE.rejects.csv
  std::vector<std::string> set;  // field=value for rows without one
  std::string channel = "import";
  std::string precision = "reported";
  int batch_size = 500;
  bool progress = false;     // force the progress bar
  bool no_progress = false;  // never draw it
};

// ---------------------------------------------------------------- input

// One RFC 4180 record: cells, and the record's text as it was in the file.
// Quoted cells may hold commas, quotes ("") and line breaks. False at the
// end of the input; `error` is set for a quote left open at the end.
bool ReadCsvRecord(std::istream& in, std::vector<std::string>* cells, std::string* raw,
                   std::string* error) {
  cells->clear();
  raw->clear();
  std::string line;
  if (!std::getline(in, line)) return false;
  std::string cell;
  bool quoted = false;
  for (;;) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    *raw += line;
    for (size_t i = 0; i < line.size(); ++i) {
      const char ch = line[i];
      if (quoted) {
        if (ch == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            cell += '"';
            ++i;
          } else {
            quoted = false;
          }
        } else {
          cell += ch;
        }
      } else if (ch == '"') {
        quoted = true;
      } else if (ch == ',') {
        cells->push_back(std::move(cell));
        cell.clear();
      } else {
        cell += ch;
      }
    }
    if (!quoted) break;
    // A line break inside a quoted cell.
    if (!std::getline(in, line)) {
      *error = "a quoted cell is not closed before the end of the file";
      break;
    }
    cell += '\n';
    *raw += '\n';
  }
  cells->push_back(std::move(cell));
  return true;
}

// "status" text to an enum value's name: the full name ("LEAD_STATUS_NEW")
// or the part after the type's prefix in any case ("new", "closed-won").
std::optional<std::string> EnumValueName(const pb::EnumDescriptor* e, const std::string& text) {
  if (e->FindValueByName(text) != nullptr) return text;
  std::string prefix = e->value(0)->name();
  const size_t cut = prefix.rfind("UNSPECIFIED");
  prefix = cut == std::string::npos ? "" : prefix.substr(0, cut);
  std::string name = prefix;
  for (char ch : text) {
    name += static_cast<char>(ch == '-' || ch == ' ' ? '_' : absl::ascii_toupper(ch));
  }
  if (e->FindValueByName(name) != nullptr) return name;
  return std::nullopt;
}

std::string EnumChoices(const pb::EnumDescriptor* e) {
  std::string prefix = e->value(0)->name();
  const size_t cut = prefix.rfind("UNSPECIFIED");
  prefix = cut == std::string::npos ? "" : prefix.substr(0, cut);
  std::string out;
  for (int i = 1; i < e->value_count(); ++i) {
    std::string n = e->value(i)->name().substr(prefix.size());
    out += (out.empty() ? "" : ", ") + absl::AsciiStrToLower(n);
  }
  return out;
}

// The JSON value (proto3 JSON mapping) of one scalar of field `f` written
// as `text` in a cell.
bool ScalarJson(const pb::FieldDescriptor* f, const std::string& text, nlohmann::json* out,
                std::string* error) {
  using FD = pb::FieldDescriptor;
  switch (f->cpp_type()) {
    case FD::CPPTYPE_STRING: *out = text; return true;
    case FD::CPPTYPE_INT32:
    case FD::CPPTYPE_INT64:
    case FD::CPPTYPE_UINT32:
    case FD::CPPTYPE_UINT64: {
      int64_t v = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || end != text.data() + text.size()) {
        *error = "'" + text + "' is not a whole number";
        return false;
      }
      *out = v;
      return true;
    }
    case FD::CPPTYPE_DOUBLE:
    case FD::CPPTYPE_FLOAT: {
      char* end = nullptr;
      errno = 0;
      const double v = std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size() || errno != 0 || !std::isfinite(v)) {
        *error = "'" + text + "' is not a number";
        return false;
      }
      *out = v;
      return true;
    }
    case FD::CPPTYPE_BOOL: {
      const std::string t = absl::AsciiStrToLower(text);
      if (t == "true" || t == "yes" || t == "1") {
        *out = true;
      } else if (t == "false" || t == "no" || t == "0") {
        *out = false;
      } else {
        *error = "'" + text + "' is not true or false";
        return false;
      }
      return true;
    }
    case FD::CPPTYPE_ENUM: {
      auto name = EnumValueName(f->enum_type(), text);
      if (!name) {
        *error = "'" + text + "' is not one of " + EnumChoices(f->enum_type());
        return false;
      }
      *out = *name;
      return true;
    }
    case FD::CPPTYPE_MESSAGE:
      if (f->message_type()->full_name() == "google.protobuf.Timestamp") {
        *out = text;  // RFC 3339; the proto parser checks it
        return true;
      }
      try {
        *out = nlohmann::json::parse(text);
      } catch (const std::exception&) {
        *error = "'" + text + "' is not a JSON object";
        return false;
      }
      return true;
  }
  *error = "unsupported field type";
  return false;
}

// Whether a cell for `f` can be set on the message directly: a plain
// scalar (not bytes, which JSON writes in base64, nor a message or a list).
bool IsPlainScalar(const pb::FieldDescriptor* f) {
  using FD = pb::FieldDescriptor;
  return !f->is_repeated() && f->cpp_type() != FD::CPPTYPE_MESSAGE && f->type() != FD::TYPE_BYTES;
}

// Sets the plain scalar `f` of `m` from `text` in a cell, with the checks
// (and messages) of the JSON route: ScalarJson's, then the field's range.
bool SetPlainScalar(pb::Message* m, const pb::FieldDescriptor* f, const std::string& text,
                    std::string* error) {
  using FD = pb::FieldDescriptor;
  nlohmann::json v;
  if (!ScalarJson(f, text, &v, error)) return false;
  const pb::Reflection* r = m->GetReflection();
  auto out_of_range = [&] {
    *error = "'" + text + "' is out of range for " + f->name();
    return false;
  };
  switch (f->cpp_type()) {
    case FD::CPPTYPE_STRING: r->SetString(m, f, text); return true;
    case FD::CPPTYPE_INT32: {
      const auto n = v.get<int64_t>();
      if (n < INT32_MIN || n > INT32_MAX) return out_of_range();
      r->SetInt32(m, f, static_cast<int32_t>(n));
      return true;
    }
    case FD::CPPTYPE_INT64: r->SetInt64(m, f, v.get<int64_t>()); return true;
    case FD::CPPTYPE_UINT32: {
      const auto n = v.get<int64_t>();
      if (n < 0 || n > UINT32_MAX) return out_of_range();
      r->SetUInt32(m, f, static_cast<uint32_t>(n));
      return true;
    }
    case FD::CPPTYPE_UINT64: {
      const auto n = v.get<int64_t>();
      if (n < 0) return out_of_range();
      r->SetUInt64(m, f, static_cast<uint64_t>(n));
      return true;
    }
    case FD::CPPTYPE_DOUBLE: r->SetDouble(m, f, v.get<double>()); return true;
    case FD::CPPTYPE_FLOAT: {
      const auto d = v.get<double>();
      if (std::fabs(d) > FLT_MAX) return out_of_range();
      r->SetFloat(m, f, static_cast<float>(d));
      return true;
    }
    case FD::CPPTYPE_BOOL: r->SetBool(m, f, v.get<bool>()); return true;
    case FD::CPPTYPE_ENUM:
      r->SetEnum(m, f, f->enum_type()->FindValueByName(v.get<std::string>()));
      return true;
    case FD::CPPTYPE_MESSAGE: break;
  }
  *error = "unsupported field type";
  return false;
}

// The field at dotted `path` of `d` (nested messages), or null.
const pb::FieldDescriptor* FieldAt(const pb::Descriptor* d, const std::string& path) {
  const pb::FieldDescriptor* f = nullptr;
  for (const std::string& part : std::vector<std::string>(absl::StrSplit(path, '.'))) {
    if (d == nullptr) return nullptr;
    f = d->FindFieldByName(part);
    if (f == nullptr) return nullptr;
    d = f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE && !f->is_repeated()
            ? f->message_type()
            : nullptr;
  }
  return f;
}

// Puts `value` at dotted `path` in the JSON object `root`.
void PutPath(nlohmann::json* root, const std::string& path, nlohmann::json value) {
  nlohmann::json* at = root;
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i + 1 < parts.size(); ++i) at = &(*at)[parts[i]];
  (*at)[parts.back()] = std::move(value);
}

// The JSON of a CustomValue of `kind` written as `text` in a cell: money as
// "12.50 EUR" (or "EUR 12.50"; two decimals), multi-select as "a;b".
bool CustomValueJson(v1::CustomFieldKind kind, const std::string& text, nlohmann::json* out,
                     std::string* error) {
  const pb::FieldDescriptor* number = v1::CustomValue::descriptor()->FindFieldByName("number");
  const pb::FieldDescriptor* boolean = v1::CustomValue::descriptor()->FindFieldByName("boolean");
  nlohmann::json v;
  switch (kind) {
    case v1::CUSTOM_FIELD_KIND_TEXT: *out = {{"text", text}}; return true;
    case v1::CUSTOM_FIELD_KIND_DATE: *out = {{"date", text}}; return true;
    case v1::CUSTOM_FIELD_KIND_ONE_OF: *out = {{"choice", text}}; return true;
    case v1::CUSTOM_FIELD_KIND_NUMBER:
      if (!ScalarJson(number, text, &v, error)) return false;
      *out = {{"number", v}};
      return true;
    case v1::CUSTOM_FIELD_KIND_BOOLEAN:
      if (!ScalarJson(boolean, text, &v, error)) return false;
      *out = {{"boolean", v}};
      return true;
    case v1::CUSTOM_FIELD_KIND_MULTI_SELECT: {
      nlohmann::json values = nlohmann::json::array();
      for (absl::string_view part : absl::StrSplit(text, ';')) {
        values.push_back(std::string(absl::StripAsciiWhitespace(part)));
      }
      *out = {{"choices", {{"values", values}}}};
      return true;
    }
    case v1::CUSTOM_FIELD_KIND_MONEY: {
      std::vector<std::string> parts = absl::StrSplit(text, ' ', absl::SkipEmpty());
      if (parts.size() == 2 && parts[0].size() == 3 && absl::ascii_isalpha(parts[0][0])) {
        std::swap(parts[0], parts[1]);
      }
      char* end = nullptr;
      const double amount = parts.size() == 2 ? std::strtod(parts[0].c_str(), &end) : 0;
      if (parts.size() != 2 || end != parts[0].c_str() + parts[0].size() ||
          !std::isfinite(amount)) {
        *error = "'" + text + "' is not an amount with its currency, like 12.50 EUR";
        return false;
      }
      *out = {{"money",
               {{"currency_code", parts[1]},
                {"amount_minor", static_cast<int64_t>(std::llround(amount * 100))}}}};
      return true;
    }
    default: *error = "the custom field has no kind"; return false;
  }
}

// One row read from the file: what to send, or why it cannot be sent.
struct InputRow {
  int64_t row = 0;
  std::string raw;    // the row's text in the file
  std::string error;  // refused before sending
  v1::ImportRow import;
};

// Fills `r->import` from the entity's fields as JSON (`values`, proto field
// names), setting exactly the fields in `paths`.
bool BuildRow(v1::EntityType type, const nlohmann::json& values,
              const std::vector<std::string>& paths, InputRow* r) {
  auto id = values.find("id");
  if (id == values.end() || !id->is_string() || id->get<std::string>().empty()) {
    r->error = "the row has no id";
    return false;
  }
  v1::ImportRow& row = r->import;
  row.set_row(r->row);
  row.mutable_record()->set_entity_type(type);
  row.mutable_record()->set_id(id->get<std::string>());
  pb::Message* entity = sync::MutableEntity(row.mutable_values(), type);
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = pb::util::JsonStringToMessage(values.dump(), entity, options);
  if (!status.ok()) {
    r->error = "bad value: " + std::string(status.message());
    return false;
  }
  for (const std::string& p : paths) {
    if (p != "id") row.mutable_update_mask()->add_paths(p);
  }
  return true;
}

// Constants for rows that leave a field empty (--set, the mapping's "set").
using Defaults = std::map<std::string, std::string>;

class CsvSource {
 public:
  // The header names the columns; `mapping` (may be null) renames or drops
  // them and names the id column.
  // `custom`: the type's custom fields by name (columns "custom.<name>").
  bool Open(std::istream* in, v1::EntityType type, const nlohmann::json* mapping,
            const Defaults& defaults, const std::map<std::string, v1::CustomField>& custom,
            std::string* error) {
    in_ = in;
    type_ = type;
    std::vector<std::string> header;
    std::string raw;
    if (!ReadCsvRecord(*in_, &header, &raw, error) || !error->empty()) {
      if (error->empty()) *error = "the file is empty (a CSV import needs a header line)";
      return false;
    }
    if (!header.empty() && header[0].rfind("\xEF\xBB\xBF", 0) == 0) header[0] = header[0].substr(3);
    std::map<std::string, nlohmann::json> renames;
    std::string id_column;
    if (mapping != nullptr) {
      if (mapping->contains("columns")) {
        for (const auto& [k, v] : mapping->at("columns").items()) renames[k] = v;
      }
      id_column = mapping->value("id", "");
      id_prefix_ = mapping->value("id_prefix", "");
    }
    const pb::Descriptor* d = sync::EntityDescriptor(type);
    std::string type_name = sync::EntityTypeName(type);
    for (size_t i = 0; i < header.size(); ++i) {
      const std::string& name = header[i];
      std::string path = name;
      auto rename = renames.find(name);
      if (rename != renames.end()) {
        if (rename->second.is_null()) {
          fields_.push_back(nullptr);
          kinds_.push_back(v1::CUSTOM_FIELD_KIND_UNSPECIFIED);
          paths_.emplace_back();
          continue;
        }
        path = rename->second.get<std::string>();
      } else if (name == "seq" || name == "kind" || name == "version" || name == "changed_fields") {
        // What crmctl export --format csv adds: not fields.
        fields_.push_back(nullptr);
        kinds_.push_back(v1::CUSTOM_FIELD_KIND_UNSPECIFIED);
        paths_.emplace_back();
        continue;
      }
      if (name == id_column) path = "id";
      if (auto kind = CustomKind(custom, path, type_name, error)) {
        if (*kind == v1::CUSTOM_FIELD_KIND_UNSPECIFIED) return false;
        fields_.push_back(d->FindFieldByName("custom"));
        kinds_.push_back(*kind);
        paths_.push_back(path);
        continue;
      }
      const pb::FieldDescriptor* f = FieldAt(d, path);
      if (f == nullptr) {
        *error = "column '" + name + "' is not a field of " + type_name +
                 (rename != renames.end() ? " (mapped to '" + path + "')" : "") +
                 ": map it to a field, or to null to skip it, in the --mapping file";
        return false;
      }
      fields_.push_back(f);
      kinds_.push_back(v1::CUSTOM_FIELD_KIND_UNSPECIFIED);
      paths_.push_back(path);
      if (path == "id") id_index_ = static_cast<int>(i);
    }
    if (id_index_ < 0) {
      *error =
          "no column gives the record id: name one 'id', or give \"id\": COLUMN in the "
          "--mapping file";
      return false;
    }
    for (const auto& [path, text] : defaults) {
      if (!sync::IsValidUtf8(text)) {
        *error = "--set " + path + ": the value is not UTF-8 text";
        return false;
      }
      if (auto kind = CustomKind(custom, path, type_name, error)) {
        if (*kind == v1::CUSTOM_FIELD_KIND_UNSPECIFIED) return false;
        defaults_.push_back({path, d->FindFieldByName("custom"), text, *kind});
        continue;
      }
      const pb::FieldDescriptor* f = FieldAt(d, path);
      if (f == nullptr) {
        *error = "--set " + path + ": not a field of " + type_name;
        return false;
      }
      defaults_.push_back({path, f, text, v1::CUSTOM_FIELD_KIND_UNSPECIFIED});
    }
    // Rows of plain top-level scalars only (the usual CSV) are set on the
    // message directly; others go through JSON and the proto JSON parser.
    plain_ = true;
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (fields_[i] == nullptr) continue;
      plain_ = plain_ && kinds_[i] == v1::CUSTOM_FIELD_KIND_UNSPECIFIED &&
               paths_[i].find('.') == std::string::npos && IsPlainScalar(fields_[i]);
    }
    for (const Default& d : defaults_) {
      plain_ = plain_ && d.kind == v1::CUSTOM_FIELD_KIND_UNSPECIFIED &&
               d.path.find('.') == std::string::npos && IsPlainScalar(d.field);
    }
    return true;
  }

  bool Next(InputRow* r) {
    std::vector<std::string> cells;
    std::string error;
    if (!ReadCsvRecord(*in_, &cells, &r->raw, &error)) return false;
    r->row = ++row_;
    r->error.clear();
    r->import.Clear();
    if (!error.empty()) {
      r->error = error;
      return true;
    }
    if (cells.size() == 1 && cells[0].empty()) {
      r->error = "empty line";
      return true;
    }
    if (cells.size() != fields_.size()) {
      r->error = "the row has " + std::to_string(cells.size()) + " cells, the header " +
                 std::to_string(fields_.size());
      return true;
    }
    // Named in the rejects file even when the row is refused here.
    r->import.mutable_record()->set_id(id_prefix_ + cells[id_index_]);
    for (size_t i = 0; i < cells.size(); ++i) {
      if (fields_[i] != nullptr && !sync::IsValidUtf8(cells[i])) {
        r->error = paths_[i] + ": the cell is not UTF-8 text (save the file as UTF-8)";
        return true;
      }
    }
    if (plain_) {
      PlainRow(cells, r);
      return true;
    }
    nlohmann::json values = nlohmann::json::object();
    std::vector<std::string> paths;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (fields_[i] == nullptr || cells[i].empty()) continue;
      const std::string text = static_cast<int>(i) == id_index_ ? id_prefix_ + cells[i] : cells[i];
      if (!Put(paths_[i], fields_[i], kinds_[i], text, &values, &paths, &r->error)) return true;
    }
    for (const Default& d : defaults_) {
      if (std::find(paths.begin(), paths.end(), d.path) != paths.end()) continue;
      if (!Put(d.path, d.field, d.kind, d.text, &values, &paths, &r->error)) return true;
    }
    BuildRow(type_, values, paths, r);
    return true;
  }

 private:
  struct Default {
    std::string path;
    const pb::FieldDescriptor* field;
    std::string text;
    v1::CustomFieldKind kind;
  };

  // Next() for a file of plain top-level scalars: what BuildRow makes of
  // the same row through JSON, set on the message directly.
  void PlainRow(const std::vector<std::string>& cells, InputRow* r) {
    v1::ImportRow& row = r->import;
    pb::Message* entity = sync::MutableEntity(row.mutable_values(), type_);
    std::vector<std::string> paths;
    std::string id;
    auto put = [&](const std::string& path, const pb::FieldDescriptor* f, const std::string& text) {
      std::string why;
      if (!SetPlainScalar(entity, f, text, &why)) {
        r->error = path + ": " + why;
        return false;
      }
      if (path == "id") id = text;
      paths.push_back(path);
      return true;
    };
    for (size_t i = 0; i < cells.size(); ++i) {
      if (fields_[i] == nullptr || cells[i].empty()) continue;
      const std::string text = static_cast<int>(i) == id_index_ ? id_prefix_ + cells[i] : cells[i];
      if (!put(paths_[i], fields_[i], text)) return;
    }
    for (const Default& d : defaults_) {
      if (std::find(paths.begin(), paths.end(), d.path) != paths.end()) continue;
      if (!put(d.path, d.field, d.text)) return;
    }
    if (id.empty()) {
      r->error = "the row has no id";
      return;
    }
    row.set_row(r->row);
    row.mutable_record()->set_entity_type(type_);
    row.mutable_record()->set_id(id);
    for (const std::string& p : paths) {
      if (p != "id") row.mutable_update_mask()->add_paths(p);
    }
  }

  // For a path "custom.<name>": the field's kind, or UNSPECIFIED with
  // `error` set when the type has no such field; nullopt for other paths.
  static std::optional<v1::CustomFieldKind> CustomKind(
      const std::map<std::string, v1::CustomField>& custom, const std::string& path,
      const std::string& type_name, std::string* error) {
    if (path.rfind("custom.", 0) != 0) return std::nullopt;
    const auto it = custom.find(path.substr(7));
    if (it == custom.end()) {
      *error = "'" + path + "': " + type_name + " has no custom field '" + path.substr(7) +
               "' (crmctl fields list " + type_name + ")";
      return v1::CUSTOM_FIELD_KIND_UNSPECIFIED;
    }
    return it->second.kind();
  }

  static bool Put(const std::string& path, const pb::FieldDescriptor* f, v1::CustomFieldKind kind,
                  const std::string& text, nlohmann::json* values, std::vector<std::string>* paths,
                  std::string* error) {
    nlohmann::json v;
    std::string why;
    if (kind != v1::CUSTOM_FIELD_KIND_UNSPECIFIED) {
      if (!CustomValueJson(kind, text, &v, &why)) {
        *error = path + ": " + why;
        return false;
      }
    } else if (f->is_repeated()) {
      v = nlohmann::json::array();
      for (const std::string& part : std::vector<std::string>(absl::StrSplit(text, ';'))) {
        nlohmann::json e;
        if (!ScalarJson(f, part, &e, &why)) {
          *error = path + ": " + why;
          return false;
        }
        v.push_back(std::move(e));
      }
    } else if (!ScalarJson(f, text, &v, &why)) {
      *error = path + ": " + why;
      return false;
    }
    PutPath(values, path, std::move(v));
    paths->push_back(path);
    return true;
  }

  std::istream* in_ = nullptr;
  v1::EntityType type_ = v1::ENTITY_TYPE_UNSPECIFIED;
  std::vector<const pb::FieldDescriptor*> fields_;  // null: column skipped
  std::vector<v1::CustomFieldKind> kinds_;          // of custom field columns
  std::vector<std::string> paths_;
  std::vector<Default> defaults_;
  std::string id_prefix_;
  int id_index_ = -1;
  bool plain_ = false;  // every column a plain top-level scalar (PlainRow)
  int64_t row_ = 0;
};

// JSON lines: either a record's fields ({"id": ..., "first_name": ...}, of
// the --type), or a line of crmctl export ({"type", "id", "kind",
// "values"}; only upserts).
class JsonlSource {
 public:
  JsonlSource(std::istream* in, v1::EntityType type, Defaults defaults)
      : in_(in), type_(type), defaults_(std::move(defaults)) {}

  bool Next(InputRow* r) {
    if (!std::getline(*in_, r->raw)) return false;
    if (!r->raw.empty() && r->raw.back() == '\r') r->raw.pop_back();
    r->row = ++row_;
    r->error.clear();
    r->import.Clear();
    nlohmann::json line;
    try {
      line = nlohmann::json::parse(r->raw);
    } catch (const std::exception& e) {
      r->error = r->raw.empty() ? "empty line" : std::string("not JSON: ") + e.what();
      return true;
    }
    if (!line.is_object()) {
      r->error = "the line is not a JSON object";
      return true;
    }
    v1::EntityType type = type_;
    nlohmann::json values = line;
    if (line.contains("values") && line.contains("kind")) {
      if (line.value("kind", "") != "upsert") {
        r->error = "a '" + line.value("kind", "") + "' line of an export cannot be imported";
        return true;
      }
      const sync::EntitySpec* spec =
          sync::EntityCatalog::Default().FindByName(line.value("type", ""));
      if (spec == nullptr) {
        r->error = "unknown type '" + line.value("type", "") + "'";
        return true;
      }
      type = spec->type();
      values = line["values"];
      if (!values.is_object()) {
        r->error = "values is not a JSON object";
        return true;
      }
      values["id"] = line.value("id", "");
    }
    for (const auto& [path, text] : defaults_) {
      if (!values.contains(path)) values[path] = text;
    }
    std::vector<std::string> paths;
    for (const auto& [k, v] : values.items()) paths.push_back(k);
    BuildRow(type, values, paths, r);
    return true;
  }

 private:
  std::istream* in_;
  v1::EntityType type_;
  Defaults defaults_;
  int64_t row_ = 0;
};

// ------------------------------------------------------------ progress

// How far the rejects file is written, kept beside it (written whole to a
// temporary file, synced, renamed over the old one).
struct Progress {
  std::string import_id;
  int64_t rows_done = 0;
  int64_t rejects_bytes = 0;
  int64_t applied = 0, unchanged = 0, merged = 0, conflicts = 0, rejected = 0;
};

bool LoadProgress(const std::string& path, Progress* p, std::string* error) {
  std::ifstream in(path);
  if (!in) return true;
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    p->import_id = j.at("import_id").get<std::string>();
    p->rows_done = j.at("rows_done").get<int64_t>();
    p->rejects_bytes = j.at("rejects_bytes").get<int64_t>();
    p->applied = j.value("applied", int64_t{0});
    p->unchanged = j.value("unchanged", int64_t{0});
    p->merged = j.value("merged", int64_t{0});
    p->conflicts = j.value("conflicts", int64_t{0});
    p->rejected = j.value("rejected", int64_t{0});
  } catch (const std::exception& e) {
    *error = "the progress file " + path + " is not one crmctl import wrote: " + e.what();
    return false;
  }
  return true;
}

bool SaveProgress(const std::string& path, const Progress& p, std::string* error) {
  nlohmann::json j = {{"import_id", p.import_id},         {"rows_done", p.rows_done},
                      {"rejects_bytes", p.rejects_bytes}, {"applied", p.applied},
                      {"unchanged", p.unchanged},         {"merged", p.merged},
                      {"conflicts", p.conflicts},         {"rejected", p.rejected}};
  return ReplaceFile(path, j.dump() + "\n", "progress file", error);
}

std::string Duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  }
  return buf;
}

// A one-line bar on stderr, redrawn at most five times a second.
class ProgressBar {
 public:
  ProgressBar(bool enabled, int64_t total, int64_t start)
      : enabled_(enabled), total_(total), start_row_(start), started_(Clock::now()) {}

  void Update(int64_t row, bool final = false) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (!final && now - drawn_ < std::chrono::milliseconds(200)) return;
    drawn_ = now;
    const double elapsed = std::chrono::duration<double>(now - started_).count();
    const double rate = elapsed > 0 ? static_cast<double>(row - start_row_) / elapsed : 0;
    const double done = total_ > 0 ? std::min(1.0, static_cast<double>(row) / total_) : 0;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(done * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kWidth - filled), '.');
    std::string eta = "--";
    if (rate > 0 && total_ > row) eta = Duration(static_cast<double>(total_ - row) / rate);
    if (final) eta = Duration(elapsed) + " in all";
    std::fprintf(stderr, "\r[%s] %3d%% %lld/%lld rows  %.0f rows/s  ETA %s   ", bar.c_str(),
                 static_cast<int>(done * 100), static_cast<long long>(row),
                 static_cast<long long>(total_), rate, eta.c_str());
    if (final) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

  // Ends the bar's line before a message.
  void Break() {
    if (enabled_ && drawn_ != Clock::time_point{}) std::fputc('\n', stderr);
  }

 private:
  bool enabled_;
  int64_t total_;
  int64_t start_row_;
  Clock::time_point started_;
  Clock::time_point drawn_{};
};

// ------------------------------------------------------------- import

// FNV-1a of the file and its number of lines: the default import id names
// the file's content, so that the same file resumes and another one starts
// afresh.
bool ScanFile(const std::string& path, uint64_t* hash, int64_t* lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  uint64_t h = 1469598103934665603ULL;
  int64_t n = 0;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    const std::streamsize got = in.gcount();
    for (std::streamsize i = 0; i < got; ++i) {
      h = (h ^ static_cast<unsigned char>(buf[i])) * 1099511628211ULL;
      if (buf[i] == '\n') ++n;
    }
  }
  *hash = h;
  *lines = n;
  return true;
}

std::string DefaultImportId(const std::string& file, uint64_t hash) {
  std::string stem = file.substr(file.find_last_of('/') + 1);
  if (const size_t dot = stem.find('.'); dot != std::string::npos && dot > 0) stem.resize(dot);
  std::string id;
  for (char ch : stem) {
    id += absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ? ch : '-';
  }
  if (id.size() > 40) id.resize(40);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return (id.empty() ? "import" : id) + "-" + std::string(hex, 12);
}

bool ParseEnumOption(const std::string& prefix, const std::string& text,
                     const pb::EnumDescriptor* e, int* out) {
  std::string name = prefix;
  for (char ch : text) name += static_cast<char>(ch == '-' ? '_' : absl::ascii_toupper(ch));
  const pb::EnumValueDescriptor* v = e->FindValueByName(name);
  if (v == nullptr || v->number() == 0) return false;
  *out = v->number();
  return true;
}

bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::ABORTED || code == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

// `reconnect` opens a new connection, renewing a saved session whose
// access token expired during a long import (null when that failed).
int CmdImport(std::unique_ptr<Connection> conn,
              const std::function<std::unique_ptr<Connection>()>& reconnect,
              const ImportOptions& o) {
  const Connection* c = conn.get();
  std::string format = o.format;
  if (format.empty()) {
    const bool jsonl = o.file.size() > 6 && (o.file.rfind(".jsonl") == o.file.size() - 6 ||
                                             o.file.rfind(".ndjson") == o.file.size() - 7);
    format = jsonl ? "jsonl" : "csv";
  }
  const sync::EntitySpec* spec = sync::EntityCatalog::Default().FindByName(o.type);
  nlohmann::json mapping;
  if (!o.mapping.empty()) {
    std::ifstream in(o.mapping);
    if (!in) {
      std::fprintf(stderr, "crmctl: cannot read the mapping file %s\n", o.mapping.c_str());
      return kExitUsage;
    }
    try {
      mapping = nlohmann::json::parse(in);
      if (!mapping.is_object()) throw std::runtime_error("not a JSON object");
      if (mapping.contains("type") && o.type.empty()) {
        spec = sync::EntityCatalog::Default().FindByName(mapping.at("type").get<std::string>());
      }
      if (mapping.contains("columns")) {
        for (const auto& [k, v] : mapping.at("columns").items()) {
          if (!v.is_null() && !v.is_string()) {
            throw std::runtime_error("columns." + k + " must be a field name or null");
          }
        }
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "crmctl: the mapping file %s: %s\n", o.mapping.c_str(), e.what());
      return kExitUsage;
    }
  }
  if (spec == nullptr && !o.type.empty()) {
    std::fprintf(stderr, "crmctl: --type: unknown entity type '%s'\n", o.type.c_str());
    return kExitUsage;
  }
  if (spec == nullptr && format == "csv") {
    std::fprintf(stderr, "crmctl: a CSV import needs --type (or \"type\" in the --mapping file)\n");
    return kExitUsage;
  }
  const v1::EntityType type = spec ? spec->type() : v1::ENTITY_TYPE_LEAD;
  Defaults defaults;
  if (mapping.contains("set")) {
    for (const auto& [k, v] : mapping.at("set").items()) {
      defaults[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
  }
  for (const std::string& kv : o.set) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "crmctl: --set takes FIELD=VALUE, not '%s'\n", kv.c_str());
      return kExitUsage;
    }
    defaults[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  int channel = 0;
  int precision = 0;
  if (!ParseEnumOption("CHANNEL_", o.channel, v1::Channel_descriptor(), &channel) ||
      channel == v1::CHANNEL_SYSTEM) {
    std::fprintf(stderr,
                 "crmctl: --channel: import, call-center, web, social, email, store-terminal, "
                 "field-app or admin (not '%s')\n",
                 o.channel.c_str());
    return kExitUsage;
  }
  if (!ParseEnumOption("PRECISION_", o.precision, v1::Precision_descriptor(), &precision)) {
    std::fprintf(stderr,
                 "crmctl: --precision: inferred, reported, self-reported or verified (not '%s')\n",
                 o.precision.c_str());
    return kExitUsage;
  }

  uint64_t hash = 0;
  int64_t lines = 0;
  if (!ScanFile(o.file, &hash, &lines)) {
    std::fprintf(stderr, "crmctl: cannot read %s: %s\n", o.file.c_str(), std::strerror(errno));
    return kExitUsage;
  }
  const std::string import_id = o.import_id.empty() ? DefaultImportId(o.file, hash) : o.import_id;
  const std::string rejects_path = o.rejects.empty() ? o.file + ".rejects.csv" : o.rejects;
  const std::string progress_path = rejects_path + ".progress";

  // The type's custom fields, for columns "custom.<name>" (removed ones too:
  // the server says why their values are refused).
  std::map<std::string, v1::CustomField> custom;
  if (format == "csv") {
    auto fields_stub = v1::AdminService::NewStub(c->channel());
    grpc::ClientContext ctx;
    c->Prepare(&ctx);
    v1::ListCustomFieldsRequest req;
    req.set_entity_type(type);
    req.set_include_removed(true);
    v1::ListCustomFieldsResponse resp;
    grpc::Status s = fields_stub->ListCustomFields(&ctx, req, &resp);
    if (!s.ok()) return ReportRpcError(s, "import (reading the custom fields)");
    for (const v1::CustomField& f : resp.fields()) custom[f.name()] = f;
  }

  std::ifstream in(o.file, std::ios::binary);
  std::string error;
  CsvSource csv;
  std::optional<JsonlSource> jsonl;
  if (format == "csv") {
    if (!csv.Open(&in, type, mapping.is_object() ? &mapping : nullptr, defaults, custom, &error)) {
      std::fprintf(stderr, "crmctl: %s: %s\n", o.file.c_str(), error.c_str());
      return kExitUsage;
    }
  } else {
    jsonl.emplace(&in, type, defaults);
  }
  auto next = [&](InputRow* r) { return jsonl ? jsonl->Next(r) : csv.Next(r); };

  // Where the import stands: the server's rows, and the rejects written.
  auto stub = v1::AdminService::NewStub(c->channel());
  int64_t server_through = 0;
  {
    v1::GetImportRequest req;
    req.set_import_id(import_id);
    v1::GetImportResponse resp;
    grpc::ClientContext ctx;
    c->Prepare(&ctx);
    grpc::Status s = stub->GetImport(&ctx, req, &resp);
    if (s.ok()) {
      server_through = resp.rows_through();
    } else if (s.error_code() != grpc::StatusCode::NOT_FOUND) {
      return ReportRpcError(s, "import");
    }
  }
  Progress progress;
  if (!LoadProgress(progress_path, &progress, &error)) {
    std::fprintf(stderr, "crmctl: %s\n", error.c_str());
    return kExitUsage;
  }
  if (progress.import_id != import_id) progress = Progress{import_id};
  if (server_through == 0 && progress.rows_done > 0) {
    // The server holds nothing of this import (another server, or one
    // whose data was reset): it starts over, and so do its counts and
    // rejects.
    std::fprintf(stderr,
                 "crmctl: the server holds no rows of import %s; starting it over (%s is "
                 "written anew)\n",
                 import_id.c_str(), rejects_path.c_str());
    progress = Progress{import_id};
  }
  int64_t skip_through = std::min(progress.rows_done, server_through);
  if (server_through > 0 && progress.rows_done == 0) {
    // The server has rows of this import, but this rejects file knows of
    // none of them: go on after them; their rejects were written elsewhere.
    skip_through = server_through;
    std::fprintf(stderr,
                 "crmctl: import %s already holds rows up to %lld; going on after them (rows "
                 "rejected before are not in %s)\n",
                 import_id.c_str(), static_cast<long long>(server_through), rejects_path.c_str());
  } else if (skip_through > 0) {
    std::fprintf(stderr, "crmctl: resuming import %s after row %lld\n", import_id.c_str(),
                 static_cast<long long>(skip_through));
  }
  progress.rows_done = skip_through;

  int fd = open(rejects_path.c_str(), O_WRONLY | O_CREAT, 0644);
  if (fd < 0 || ftruncate(fd, progress.rejects_bytes) != 0 ||
      lseek(fd, progress.rejects_bytes, SEEK_SET) < 0) {
    std::fprintf(stderr, "crmctl: cannot write %s: %s\n", rejects_path.c_str(),
                 std::strerror(errno));
    if (fd >= 0) close(fd);
    return kExitFailed;
  }
  auto append = [&](const std::string& text) {
    if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) return false;
    progress.rejects_bytes += static_cast<int64_t>(text.size());
    return true;
  };
  if (progress.rejects_bytes == 0 && !append("row,id,reason,source\n")) {
    std::fprintf(stderr, "crmctl: cannot write %s: %s\n", rejects_path.c_str(),
                 std::strerror(errno));
    close(fd);
    return kExitFailed;
  }

  const bool tty = isatty(STDERR_FILENO) == 1;
  ProgressBar bar((tty || o.progress) && !o.no_progress, lines - (format == "csv" ? 1 : 0),
                  skip_through);
  int code = kExitOk;
  // One batch: its rows, and what it adds to the rejects file.
  struct Batch {
    std::vector<InputRow> rows;
    std::map<int64_t, std::string> refused;  // row -> its line in the rejects file
    int64_t last_row = 0;                    // the last row read, refused ones too
    bool eof = false;
  };
  // Reads the next batch; rows refused while reading go to its rejects.
  auto read_batch = [&]() {
    Batch b;
    while (static_cast<int>(b.rows.size()) < o.batch_size) {
      InputRow r;
      if (!next(&r)) {
        b.eof = true;
        break;
      }
      if (r.row <= skip_through) continue;
      if (!r.error.empty()) {
        if (r.error == "empty line") continue;
        b.refused[r.row] = std::to_string(r.row) + "," + CsvCell(r.import.record().id()) + "," +
                           CsvCell(r.error) + "," + CsvCell(r.raw) + "\n";
        b.last_row = r.row;
        continue;
      }
      b.last_row = r.row;
      b.rows.push_back(std::move(r));
    }
    return b;
  };
  // The session batches go through, shared by the two on their way; a
  // renewal (the access token expired during a long import) replaces it
  // for both.
  std::mutex session_mu;
  std::shared_ptr<const Connection> session_conn(std::move(conn));
  std::shared_ptr<v1::AdminService::Stub> session_stub(std::move(stub));
  int session_renewals = 0;
  // Sends a batch, again while the failure is retryable; on its own thread,
  // so the next batch is read meanwhile. `follows`: the last row of the
  // batch sent before it (0: none); `kept`: the rows whose rejects are on
  // disk (the server may drop their results).
  auto send = [&](const Batch& b, int64_t follows, int64_t kept, v1::ImportRecordsResponse* resp) {
    v1::ImportRecordsRequest req;
    req.set_import_id(import_id);
    req.set_channel(static_cast<v1::Channel>(channel));
    req.set_precision(static_cast<v1::Precision>(precision));
    req.set_follows_row(follows);
    req.set_results_kept_through(kept);
    for (const InputRow& r : b.rows) *req.add_rows() = r.import;
    grpc::Status s;
    bool renewed = false;
    for (int attempt = 0;; ++attempt) {
      std::shared_ptr<const Connection> sc;
      std::shared_ptr<v1::AdminService::Stub> st;
      int renewals = 0;
      {
        std::lock_guard<std::mutex> lock(session_mu);
        sc = session_conn;
        st = session_stub;
        renewals = session_renewals;
      }
      grpc::ClientContext ctx;
      sc->Prepare(&ctx);
      s = st->ImportRecords(&ctx, req, resp);
      if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED && !renewed) {
        // Renew the session once (unless the other batch just did) and
        // send the batch again.
        renewed = true;
        std::lock_guard<std::mutex> lock(session_mu);
        if (session_renewals != renewals) continue;
        if (auto fresh = reconnect()) {
          session_conn = std::move(fresh);
          session_stub = v1::AdminService::NewStub(session_conn->channel());
          ++session_renewals;
          continue;
        }
      }
      if (s.ok()) renewed = false;
      if (s.ok() || !Retryable(s.error_code()) || attempt >= 30) break;
      // The batch is idempotent: send it again after a pause (the
      // server's hint when it is rate limiting).
      std::smatch wait;
      const std::string message = s.error_message();
      int64_t ms = std::min<int64_t>(200LL << std::min(attempt, 5), 5000);
      if (std::regex_search(message, wait, std::regex("retry in ([0-9]+) ms"))) {
        ms = std::stoll(wait[1]);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    return s;
  };
  // Counts the server's answers for `b` and adds its rejected rows to
  // `b.refused`; false (with a message) when the answer does not fit.
  auto take_results = [&](Batch& b, const v1::ImportRecordsResponse& resp) {
    if (resp.results_size() != static_cast<int>(b.rows.size())) {
      std::fprintf(stderr, "crmctl: the server answered %d results for %zu rows\n",
                   resp.results_size(), b.rows.size());
      return false;
    }
    for (size_t i = 0; i < b.rows.size(); ++i) {
      const v1::ImportRowResult& r = resp.results(static_cast<int>(i));
      const InputRow& in_row = b.rows[i];
      if (r.reject_reason() == v1::REJECT_REASON_RESULT_PRUNED) {
        // Loaded by an earlier run (the server's position can lag behind
        // after it crashed): already in, not applied again.
        ++progress.unchanged;
        continue;
      }
      switch (r.outcome()) {
        case v1::MUTATION_OUTCOME_REJECTED:
          b.refused[in_row.row] = std::to_string(in_row.row) + "," +
                                  CsvCell(in_row.import.record().id()) + "," +
                                  CsvCell(r.message()) + "," + CsvCell(in_row.raw) + "\n";
          break;
        case v1::MUTATION_OUTCOME_MERGED: ++progress.merged; break;
        case v1::MUTATION_OUTCOME_CONFLICT: ++progress.conflicts; break;
        default:
          if (r.change_seq() == 0) {
            ++progress.unchanged;
          } else {
            ++progress.applied;
          }
      }
    }
    return true;
  };
  // The progress file on disk: how far it says, and how much of the
  // rejects file is synced.
  int64_t saved_rows = progress.rows_done;
  int64_t synced_bytes = -1;
  auto saved_at = std::chrono::steady_clock::now();
  // Syncs the rejects written so far, then replaces the progress file.
  auto save = [&] {
    if (progress.rejects_bytes != synced_bytes && fsync(fd) != 0) {
      error = "cannot write " + rejects_path + ": " + std::strerror(errno);
      return false;
    }
    synced_bytes = progress.rejects_bytes;
    if (!SaveProgress(progress_path, progress, &error)) return false;
    saved_rows = progress.rows_done;
    saved_at = std::chrono::steady_clock::now();
    return true;
  };
  // Writes a settled batch's rejects, and the progress file that says so
  // whenever it matters: the batch had rejects (the server drops them when
  // the next batch arrives, so they are on disk before it goes), the file
  // ends, or a second has passed. Otherwise the file may lag a second
  // behind: a run killed then sends those rows again, and the server
  // answers that they are in (counted unchanged). Two syncs per batch
  // would be a tenth of an import's time.
  auto settle = [&](const Batch& b) {
    std::string lines_out;
    for (const auto& [row, line] : b.refused) lines_out += line;
    if (!lines_out.empty() && !append(lines_out)) {
      std::fprintf(stderr, "crmctl: cannot write %s: %s\n", rejects_path.c_str(),
                   std::strerror(errno));
      return false;
    }
    progress.rejected += static_cast<int64_t>(b.refused.size());
    progress.rows_done = std::max(progress.rows_done, b.last_row);
    if ((!b.refused.empty() || b.eof ||
         std::chrono::steady_clock::now() - saved_at >= std::chrono::seconds(1)) &&
        !save()) {
      std::fprintf(stderr, "crmctl: %s\n", error.c_str());
      return false;
    }
    bar.Update(progress.rows_done, b.eof);
    return true;
  };

  // Two batches on their way, so that the server never waits for this
  // side: the second names the first's last row (the server applies it
  // once that row is in) and the rows whose rejects are on disk (the
  // server keeps the results of the others). Batches are settled in order;
  // one is sent when the one before the other on its way was settled.
  // Only once the server said it takes follows_row: an older one would
  // apply two batches on their way in either order.
  size_t in_flight = 1;
  struct Sent {
    Batch batch;
    int64_t follows = 0;
    v1::ImportRecordsResponse resp;
    std::future<grpc::Status> status;  // invalid: nothing to send
  };
  std::deque<std::unique_ptr<Sent>> queue;
  int64_t last_sent = 0;  // the last row sent by this run
  bool read_all = false;
  for (;;) {
    while (!read_all && queue.size() < in_flight) {
      auto next_batch = std::make_unique<Sent>();
      next_batch->batch = read_batch();
      read_all = next_batch->batch.eof;
      if (!next_batch->batch.rows.empty()) {
        next_batch->follows = last_sent;
        last_sent = next_batch->batch.rows.back().row;
        next_batch->status = std::async(std::launch::async, send, std::cref(next_batch->batch),
                                        next_batch->follows, progress.rows_done, &next_batch->resp);
      }
      queue.push_back(std::move(next_batch));
    }
    Sent& front = *queue.front();
    if (front.status.valid()) {
      grpc::Status s = front.status.get();
      if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION && front.follows > 0) {
        // It reached the server before the batch it follows was in (on
        // another instance, or not yet begun); that one is answered now.
        front.resp.Clear();
        s = send(front.batch, front.follows, progress.rows_done, &front.resp);
      }
      if (!s.ok()) {
        bar.Break();
        code = ReportRpcError(s, "import");
        std::fprintf(stderr, "crmctl: run the same command again to resume after row %lld\n",
                     static_cast<long long>(progress.rows_done));
        break;
      }
      if (!take_results(front.batch, front.resp)) {
        code = kExitFailed;
        break;
      }
      if (front.resp.takes_follows_row()) in_flight = 2;
    }
    // Settled before another batch goes: that one tells the server the
    // rows whose results it may drop.
    if (!settle(front.batch)) {
      code = kExitFailed;
      break;
    }
    if (front.batch.eof) break;
    queue.pop_front();
  }
  // A run that stops on an error waits for the batch still on its way (it
  // is not settled: the next run sends it again and gets its answers).
  for (auto& q : queue) {
    if (q->status.valid()) q->status.wait();
  }
  // A run that stops on an error says where the next one resumes.
  if (progress.rows_done != saved_rows && !save()) {
    std::fprintf(stderr, "crmctl: %s\n", error.c_str());
    if (code == kExitOk) code = kExitFailed;
  }
  close(fd);
  if (code != kExitOk) return code;
  std::fprintf(stderr,
               "crmctl: import %s: %lld rows applied, %lld unchanged, %lld merged, %lld with "
               "conflicts, %lld rejected%s%s\n",
               import_id.c_str(), static_cast<long long>(progress.applied),
               static_cast<long long>(progress.unchanged), static_cast<long long>(progress.merged),
               static_cast<long long>(progress.conflicts),
               static_cast<long long>(progress.rejected),
               progress.rejected > 0 ? " (reasons in " : "",
               progress.rejected > 0 ? (rejects_path + ")").c_str() : "");
  return progress.rejected > 0 ? kExitFailed : kExitOk;
}

}  // namespace

void AddImportCommands(CLI::App* app, const CommandContext& ctx) {
  auto o = std::make_shared<ImportOptions>();
  auto* imp = app->add_subcommand(
      "import",
      "Import records from a CSV file (header = field names, or a --mapping) or JSON lines, "
      "in idempotent batches; run it again to resume after an interruption");
  imp->add_option("file", o->file, "The file to import")->required();
  imp->add_option(
      "--type", o->type,
      "Entity type of the rows, e.g. lead (JSON lines of crmctl export name their own)");
  imp->add_option("--format", o->format, "csv or jsonl (default: by the file's extension)")
      ->check(CLI::IsMember({"csv", "jsonl"}));
  imp->add_option("--mapping", o->mapping,
                  "CSV column mapping, JSON: {\"type\": \"lead\", \"id\": \"External ID\", "
                  "\"id_prefix\": \"legacy-\", \"columns\": {\"E-mail\": \"email\", \"Notes\": "
                  "null}, \"set\": {\"team_id\": \"team-north\"}}");
  imp->add_option("--set", o->set,
                  "FIELD=VALUE for every row that leaves the field empty (repeatable), e.g. "
                  "--set owner_user_id=u-alice");
  imp->add_option("--import-id", o->import_id,
                  "Name of the import (default: the file's name and a hash of its content, so "
                  "the same file resumes)");
  imp->add_option("--rejects", o->rejects,
                  "Where rejected rows go, with their reasons, as CSV (default: FILE.rejects.csv; "
                  "its progress is kept in REJECTS.progress)");
  imp->add_option("--channel", o->channel, "Channel stamped on the values (default import)");
  imp->add_option("--precision", o->precision,
                  "Precision stamped on the values: inferred, reported (default), self-reported, "
                  "verified");
  imp->add_option("--batch-size", o->batch_size, "Rows per request")->check(CLI::Range(1, 500));
  imp->add_flag("--progress", o->progress, "Draw the progress bar even when not on a terminal");
  imp->add_flag("--no-progress", o->no_progress, "Never draw the progress bar");
  imp->callback([ctx, o] {
    if (auto c = ctx.connect()) *ctx.code = CmdImport(std::move(c), ctx.connect, *o);
  });
}

}  // namespace crmsync::crmctl
