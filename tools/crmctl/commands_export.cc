// crmctl export: a tenant's records, or its changes after a cursor, as JSON
// lines or CSV, resumable (AdminService.ExportChanges).
#include <google/protobuf/util/json_util.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "commands.h"
#include "conflict_values.h"
#include "crmsync/sync/entity_catalog.h"
#include "crmsync/sync/record_model.h"
#include "crmsync/v1/admin.grpc.pb.h"
#include "files.h"

namespace crmsync::crmctl {

namespace v1 = ::crmsync::v1;
namespace pb = ::google::protobuf;

namespace {

struct ExportOptions {
  std::string types;   // "lead,contact"
  std::string format;  // "jsonl" or "csv"
  std::string since;   // a cursor
  std::string output;  // file; empty for stdout
  std::string state;   // resumable state file
  int page_size = 500;
};

// Where a resumable export stands: the cursor after the last page written
// and the size of the output then; and what it exports, so that a run with
// other --types or --format does not append to it.
struct ExportState {
  std::string cursor;
  int64_t output_bytes = 0;
  bool caught_up = false;
  std::string types;
  std::string format;
};

bool LoadState(const std::string& path, ExportState* state, std::string* error) {
  std::ifstream in(path);
  if (!in) return true;  // a first run
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    state->cursor = j.at("cursor").get<std::string>();
    state->output_bytes = j.at("output_bytes").get<int64_t>();
    state->caught_up = j.value("caught_up", false);
    state->types = j.value("types", "");
    state->format = j.value("format", "jsonl");
  } catch (const std::exception& e) {
    *error = "the state file " + path + " is not one crmctl export wrote: " + e.what();
    return false;
  }
  return true;
}

// Written whole to a temporary file, synced, then renamed over the old one.
bool SaveState(const std::string& path, const ExportState& state, std::string* error) {
  nlohmann::json j = {{"cursor", state.cursor},
                      {"output_bytes", state.output_bytes},
                      {"caught_up", state.caught_up},
                      {"types", state.types},
                      {"format", state.format}};
  return ReplaceFile(path, j.dump() + "\n", "state file", error);
}

std::string Lower(const std::string& name, const std::string& prefix) {
  return absl::AsciiStrToLower(name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name);
}

// CSV cells: strings as they are, doubles to the last digit.
constexpr ScalarStyle kCsvStyle{/*quote_strings=*/false, /*double_digits=*/17};

// The CSV columns of an entity: its fields, nested messages flattened
// ("address.city"); repeated fields are one column.
void Columns(const pb::Descriptor* d, const std::string& prefix, std::vector<std::string>* out) {
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE && !f->is_repeated() &&
        f->message_type()->full_name() != "google.protobuf.Timestamp") {
      Columns(f->message_type(), prefix + f->name() + ".", out);
    } else {
      out->push_back(prefix + f->name());
    }
  }
}

// The cell of `path` in `entity`: repeated values joined with ';'
// (messages as JSON), timestamps in RFC 3339.
std::string Cell(const pb::Message& entity, const std::string& path) {
  const pb::Message* m = &entity;
  std::string rest = path;
  for (size_t dot; (dot = rest.find('.')) != std::string::npos;) {
    const pb::FieldDescriptor* f = m->GetDescriptor()->FindFieldByName(rest.substr(0, dot));
    if (f == nullptr || !m->GetReflection()->HasField(*m, f)) return "";
    m = &m->GetReflection()->GetMessage(*m, f);
    rest = rest.substr(dot + 1);
  }
  const pb::FieldDescriptor* f = m->GetDescriptor()->FindFieldByName(rest);
  if (f == nullptr) return "";
  const pb::Reflection* r = m->GetReflection();
  auto message_text = [](const pb::Message& msg) {
    std::string json;
    pb::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    (void)pb::util::MessageToJsonString(msg, &json, options);
    if (json.size() >= 2 && json.front() == '"') json = json.substr(1, json.size() - 2);
    return json;
  };
  if (f->is_repeated()) {
    std::string out;
    for (int i = 0; i < r->FieldSize(*m, f); ++i) {
      if (i > 0) out += ";";
      out += f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE
                 ? message_text(r->GetRepeatedMessage(*m, f, i))
                 : ScalarTextIn(*m, f, i, kCsvStyle);
    }
    return out;
  }
  if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
    return r->HasField(*m, f) ? message_text(r->GetMessage(*m, f)) : "";
  }
  if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_ENUM && r->GetEnumValue(*m, f) == 0) {
    return "";
  }
  return ScalarTextIn(*m, f, -1, kCsvStyle);
}

class Exporter {
 public:
  Exporter(const ExportOptions& o, std::vector<v1::EntityType> types)
      : o_(o), types_(std::move(types)) {
    if (o_.format == "csv") {
      Columns(sync::EntityDescriptor(types_[0]), "", &columns_);
    }
  }

  std::string Header() const {
    std::string line = "seq,kind,version,changed_fields";
    for (const std::string& c : columns_) line += "," + CsvCell(c);
    return line + "\n";
  }

  // The lines of one page.
  std::string Lines(const v1::PullResponse& page) const {
    std::string text;
    for (const v1::Change& c : page.changes()) {
      const std::string kind = Lower(v1::ChangeKind_Name(c.kind()), "CHANGE_KIND_");
      if (o_.format == "csv") {
        std::string paths;
        for (const std::string& p : c.changed_fields().paths())
          paths += (paths.empty() ? "" : ";") + p;
        text += std::to_string(c.seq()) + "," + kind + "," + std::to_string(c.version()) + "," +
                CsvCell(paths);
        const pb::Message* entity = sync::EntityOrDefault(c.values(), types_[0]);
        for (const std::string& col : columns_) {
          // A notice (tombstone, erasure) names only the record.
          const bool named = c.kind() == v1::CHANGE_KIND_UPSERT || col == "id";
          std::string cell = named ? Cell(*entity, col) : "";
          if (col == "id" && cell.empty()) cell = c.record().id();
          text += "," + CsvCell(cell);
        }
        text += "\n";
        continue;
      }
      nlohmann::json j = {{"seq", c.seq()},
                          {"kind", kind},
                          {"type", sync::EntityTypeName(c.record().entity_type())},
                          {"id", c.record().id()},
                          {"version", c.version()}};
      if (c.kind() == v1::CHANGE_KIND_UPSERT) {
        j["changed_fields"] = std::vector<std::string>(c.changed_fields().paths().begin(),
                                                       c.changed_fields().paths().end());
        const pb::Message* entity = sync::EntityOf(c.values());
        std::string json = "{}";
        if (entity != nullptr) {
          pb::util::JsonPrintOptions options;
          options.preserve_proto_field_names = true;
          json.clear();
          (void)pb::util::MessageToJsonString(*entity, &json, options);
        }
        j["values"] = nlohmann::json::parse(json);
      }
      if (c.has_merged_into()) j["merged_into"] = c.merged_into().id();
      text += j.dump() + "\n";
    }
    return text;
  }

 private:
  const ExportOptions& o_;
  std::vector<v1::EntityType> types_;
  std::vector<std::string> columns_;
};

int CmdExport(const Connection& c, const ExportOptions& o) {
  std::vector<v1::EntityType> types;
  for (std::string rest = o.types; !rest.empty();) {
    const size_t comma = rest.find(',');
    const std::string name = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    const sync::EntitySpec* spec = sync::EntityCatalog::Default().FindByName(name);
    if (spec == nullptr) {
      std::fprintf(stderr, "crmctl: --types: unknown entity type '%s'\n", name.c_str());
      return kExitUsage;
    }
    types.push_back(spec->type());
  }
  if (o.format == "csv" && types.size() != 1) {
    std::fprintf(stderr, "crmctl: --format csv exports one type: give --types with one name\n");
    return kExitUsage;
  }
  if (!o.state.empty() && o.output.empty()) {
    std::fprintf(stderr, "crmctl: --state needs --output (a resumed export appends to it)\n");
    return kExitUsage;
  }
  ExportState state;
  std::string error;
  if (!o.state.empty() && !LoadState(o.state, &state, &error)) {
    std::fprintf(stderr, "crmctl: %s\n", error.c_str());
    return kExitUsage;
  }
  const bool resuming = !state.cursor.empty();
  if (resuming && !o.since.empty()) {
    std::fprintf(stderr, "crmctl: the state file already has a cursor; drop --since\n");
    return kExitUsage;
  }
  if (resuming && (state.types != o.types || state.format != o.format)) {
    std::fprintf(stderr,
                 "crmctl: the state file is of an export of %s as %s: give the same --types "
                 "and --format, or another state file\n",
                 state.types.empty() ? "every type" : state.types.c_str(), state.format.c_str());
    return kExitUsage;
  }
  if (!resuming) state.cursor = o.since;
  state.types = o.types;
  state.format = o.format;

  FILE* out = stdout;
  int fd = -1;
  if (!o.output.empty()) {
    fd = open(o.output.c_str(), O_WRONLY | O_CREAT, 0644);
    if (fd < 0) {
      std::fprintf(stderr, "crmctl: cannot open %s: %s\n", o.output.c_str(), std::strerror(errno));
      return kExitFailed;
    }
    // What a page that was cut off halfway left behind goes: the state
    // says how much of the file is whole.
    const int64_t keep = o.state.empty() ? 0 : state.output_bytes;
    if (ftruncate(fd, keep) != 0 || lseek(fd, keep, SEEK_SET) < 0) {
      std::fprintf(stderr, "crmctl: cannot truncate %s: %s\n", o.output.c_str(),
                   std::strerror(errno));
      close(fd);
      return kExitFailed;
    }
    state.output_bytes = keep;
    out = fdopen(fd, "w");
    if (out == nullptr) {
      std::fprintf(stderr, "crmctl: cannot write %s: %s\n", o.output.c_str(), std::strerror(errno));
      close(fd);
      return kExitFailed;
    }
  }
  Exporter exporter(o, types);
  auto write_all = [&](const std::string& text) {
    if (text.empty()) return true;
    if (std::fwrite(text.data(), 1, text.size(), out) != text.size() || std::fflush(out) != 0) {
      return false;
    }
    if (fd >= 0 && fsync(fileno(out)) != 0) return false;
    state.output_bytes += static_cast<int64_t>(text.size());
    return true;
  };
  int code = kExitOk;
  if (o.format == "csv" && state.output_bytes == 0 && !write_all(exporter.Header())) {
    code = kExitFailed;
  }

  auto stub = v1::AdminService::NewStub(c.channel());
  int64_t exported = 0;
  int throttled = 0;
  while (code == kExitOk) {
    v1::ExportChangesRequest req;
    req.set_cursor(state.cursor);
    req.set_page_size(o.page_size);
    for (v1::EntityType t : types) req.add_entity_types(t);
    v1::PullResponse page;
    grpc::ClientContext ctx;
    c.Prepare(&ctx);
    grpc::Status s = stub->ExportChanges(&ctx, req, &page);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && ++throttled <= 1000) {
      // Over the server's request rate: wait as told, then ask again.
      std::smatch wait;
      const std::string message = s.error_message();
      const bool hinted = std::regex_search(message, wait, std::regex("retry in ([0-9]+) ms"));
      std::this_thread::sleep_for(std::chrono::milliseconds(hinted ? std::stoll(wait[1]) : 1000));
      continue;
    }
    throttled = 0;
    if (!s.ok()) {
      code = ReportRpcError(s, "export");
      break;
    }
    if (!write_all(exporter.Lines(page))) {
      std::fprintf(stderr, "crmctl: cannot write the export: %s\n", std::strerror(errno));
      code = kExitFailed;
      break;
    }
    exported += page.changes_size();
    state.cursor = page.next_cursor();
    state.caught_up = !page.has_more();
    if (!o.state.empty() && !SaveState(o.state, state, &error)) {
      std::fprintf(stderr, "crmctl: %s\n", error.c_str());
      code = kExitFailed;
      break;
    }
    if (!page.has_more()) break;
  }
  if (out != stdout) std::fclose(out);
  if (code == kExitOk) {
    std::fprintf(stderr, "crmctl: exported %lld changes%s; for what changes next: --since %s%s\n",
                 static_cast<long long>(exported), resuming ? " (resumed)" : "",
                 state.cursor.c_str(), o.state.empty() ? "" : " (or the same --state)");
  }
  return code;
}

}  // namespace

void AddExportCommands(CLI::App* app, const CommandContext& ctx) {
  auto o = std::make_shared<ExportOptions>();
  o->format = "jsonl";
  auto* exp = app->add_subcommand(
      "export",
      "Export the tenant's records, or its changes after a cursor, as JSON lines or CSV; "
      "resumable with --state");
  exp->add_option("--types", o->types, "Entity types, e.g. lead,contact (default: every type)");
  exp->add_option("--format", o->format, "jsonl (one change per line) or csv (one type)")
      ->check(CLI::IsMember({"jsonl", "csv"}));
  exp->add_option("--since", o->since,
                  "Only changes after this cursor (printed at the end of an export)");
  exp->add_option("--output", o->output, "Write to this file instead of stdout");
  exp->add_option("--state", o->state,
                  "Resumable: the cursor and the output's length after each page are kept in "
                  "this file; a run with the same file goes on from there (after an "
                  "interruption, or later for what changed since)");
  exp->add_option("--page-size", o->page_size, "Changes per request")->check(CLI::Range(1, 10000));
  exp->callback([ctx, o] {
    if (auto c = ctx.connect()) *ctx.code = CmdExport(*c, *o);
  });
}

}  // namespace crmsync::crmctl
