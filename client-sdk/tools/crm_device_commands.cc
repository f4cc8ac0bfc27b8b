// crm-device commands.
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iomanip>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "crm_device.h"
#include "crmsync/sync/record_model.h"

namespace crmsync::client::device {
namespace {

namespace pb = ::google::protobuf;

int Report(Session* s, const absl::Status& status) {
  if (!status.ok()) s->err() << "crm-device: " << status.message() << "\n";
  return ExitCodeOf(status);
}

absl::StatusOr<v1::EntityType> ParseType(const std::string& name) {
  std::string n = name;
  if (n.size() > 1 && n.back() == 's') n.pop_back();  // "leads" -> "lead"
  v1::EntityType t = sync::EntityTypeFromName(n);
  if (t == v1::ENTITY_TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError("unknown entity type '" + name +
                                      "' (lead, account, contact, opportunity, activity, "
                                      "calendar_event, coupon, loyalty_account, conflict, store)");
  }
  return t;
}

// Sets "path=value" on `msg` by reflection (nested paths with '.', enums by
// name or number, repeated fields append).
absl::Status SetField(pb::Message* msg, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos) return absl::InvalidArgumentError("expected field=value");
  std::string path = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  for (;;) {
    const size_t dot = path.find('.');
    const std::string name = path.substr(0, dot);
    const pb::FieldDescriptor* f = msg->GetDescriptor()->FindFieldByName(name);
    if (f == nullptr) {
      return absl::InvalidArgumentError("no field '" + name + "' in " +
                                        msg->GetDescriptor()->name());
    }
    const pb::Reflection* r = msg->GetReflection();
    if (dot != std::string::npos) {
      if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated()) {
        return absl::InvalidArgumentError("'" + name + "' has no sub-fields");
      }
      msg = r->MutableMessage(msg, f);
      path = path.substr(dot + 1);
      continue;
    }
    try {
      switch (f->cpp_type()) {
        case pb::FieldDescriptor::CPPTYPE_STRING:
          f->is_repeated() ? r->AddString(msg, f, value) : r->SetString(msg, f, value);
          return absl::OkStatus();
        case pb::FieldDescriptor::CPPTYPE_INT32:
          f->is_repeated() ? r->AddInt32(msg, f, std::stoi(value))
                           : r->SetInt32(msg, f, std::stoi(value));
          return absl::OkStatus();
        case pb::FieldDescriptor::CPPTYPE_INT64:
          f->is_repeated() ? r->AddInt64(msg, f, std::stoll(value))
                           : r->SetInt64(msg, f, std::stoll(value));
          return absl::OkStatus();
        case pb::FieldDescriptor::CPPTYPE_UINT32:
          r->SetUInt32(msg, f, static_cast<uint32_t>(std::stoul(value)));
          return absl::OkStatus();
        case pb::FieldDescriptor::CPPTYPE_UINT64:
          r->SetUInt64(msg, f, std::stoull(value));
          return absl::OkStatus();
        case pb::FieldDescriptor::CPPTYPE_DOUBLE:
          r->SetDouble(msg, f, std::stod(value));
          return absl::OkStatus();
        case pb::FieldDescriptor::CPPTYPE_FLOAT:
          r->SetFloat(msg, f, std::stof(value));
          return absl::OkStatus();
        case pb::FieldDescriptor::CPPTYPE_BOOL:
          r->SetBool(msg, f, value == "true" || value == "1" || value == "yes");
          return absl::OkStatus();
        case pb::FieldDescriptor::CPPTYPE_ENUM: {
          const pb::EnumDescriptor* e = f->enum_type();
          const pb::EnumValueDescriptor* v = e->FindValueByName(value);
          if (v == nullptr) {
            // Short names: "new" for LEAD_STATUS_NEW.
            std::string prefix;
            for (char c : e->name()) {
              if (std::isupper(static_cast<unsigned char>(c)) && !prefix.empty()) prefix += '_';
              prefix += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            }
            std::string upper;
            for (char c : value)
              upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            v = e->FindValueByName(prefix + "_" + upper);
          }
          if (v == nullptr) v = e->FindValueByNumber(std::stoi(value));
          if (v == nullptr) return absl::InvalidArgumentError("bad value for " + name);
          r->SetEnum(msg, f, v);
          return absl::OkStatus();
        }
        default:
          return absl::InvalidArgumentError("'" + name + "' is a message: set its sub-fields");
      }
    } catch (const std::exception&) {
      return absl::InvalidArgumentError("bad value '" + value + "' for " + name);
    }
  }
}

std::string Describe(const v1::RecordState& state) {
  const pb::Message* e = sync::EntityOf(state.data());
  if (e == nullptr) return "";
  if (state.data().has_redemption()) {
    const v1::Redemption& r = state.data().redemption();
    std::string status = v1::RedemptionStatus_Name(r.status());
    status = status.substr(std::string("REDEMPTION_STATUS_").size());
    return "coupon " + r.coupon_id() + "\t" + status +
           (r.rejection_reason().empty() ? "" : ": " + r.rejection_reason());
  }
  if (state.data().has_possible_duplicate()) {
    // "lead-b: may be lead-a (u-alice, 0.99: email, name)"
    const v1::PossibleDuplicate& d = state.data().possible_duplicate();
    if (d.candidates().empty()) return d.record().id() + ": no likely duplicate left";
    std::string out = d.record().id() + ": may be";
    for (const v1::DuplicateCandidate& c : d.candidates()) {
      char score[16];
      std::snprintf(score, sizeof score, "%.2f", c.score());
      std::string reasons;
      for (const std::string& r : c.reasons()) reasons += (reasons.empty() ? "" : ", ") + r;
      out += (&c == &d.candidates(0) ? " " : "; ") + c.record().id() + " (" + c.owner_user_id() +
             ", " + score + ": " + reasons + ")";
    }
    return out;
  }
  if (state.data().has_loyalty_account()) {
    const v1::LoyaltyAccount& a = state.data().loyalty_account();
    return a.customer_name() + "\t" + std::to_string(a.points_balance()) + " points";
  }
  for (const char* field : {"name", "title", "subject", "customer_name"}) {
    const pb::FieldDescriptor* f = e->GetDescriptor()->FindFieldByName(field);
    if (f != nullptr) return e->GetReflection()->GetString(*e, f);
  }
  std::string out;
  for (const char* field : {"first_name", "last_name", "company"}) {
    const pb::FieldDescriptor* f = e->GetDescriptor()->FindFieldByName(field);
    if (f == nullptr) continue;
    const std::string v = e->GetReflection()->GetString(*e, f);
    if (v.empty()) continue;
    if (!out.empty()) out += std::string(field) == "company" ? ", " : " ";
    out += v;
  }
  return out;
}

// The definition of custom field `name` of `type` as this device holds it.
absl::StatusOr<v1::CustomField> LocalCustomField(Database* db, v1::EntityType type,
                                                 const std::string& name) {
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_CUSTOM_FIELD);
  ref.set_id(sync::EntityTypeName(type) + "." + name);
  auto def = db->Get(ref);
  if (!def.ok()) {
    return absl::NotFoundError(sync::EntityTypeName(type) + " has no custom field '" + name +
                               "' on this device (sync to receive new ones)");
  }
  return def->data().custom_field();
}

// Sets custom field "custom.<name>=value" by its kind: money as "12.50 EUR",
// multi-select as "a;b", an empty value clears it.
absl::Status SetCustom(Database* db, v1::EntityType type, pb::Message* entity,
                       const std::string& assignment) {
  const size_t eq = assignment.find('=');
  const std::string name = assignment.substr(7, eq - 7);
  const std::string value = assignment.substr(eq + 1);
  auto def = LocalCustomField(db, type, name);
  if (!def.ok()) return def.status();
  if (def->removed()) {
    return absl::FailedPreconditionError("custom field " + def->id() + " was removed");
  }
  const pb::FieldDescriptor* map = entity->GetDescriptor()->FindFieldByName("custom");
  const pb::Reflection* r = entity->GetReflection();
  // Drop the old entry; add the new one unless the value is empty.
  for (int i = r->FieldSize(*entity, map); i-- > 0;) {
    const pb::Message& e = r->GetRepeatedMessage(*entity, map, i);
    if (e.GetReflection()->GetString(e, e.GetDescriptor()->map_key()) != name) continue;
    r->SwapElements(entity, map, i, r->FieldSize(*entity, map) - 1);
    r->RemoveLast(entity, map);
  }
  if (value.empty()) return absl::OkStatus();
  v1::CustomValue v;
  try {
    switch (def->kind()) {
      case v1::CUSTOM_FIELD_KIND_TEXT: v.set_text(value); break;
      case v1::CUSTOM_FIELD_KIND_DATE: v.set_date(value); break;
      case v1::CUSTOM_FIELD_KIND_ONE_OF: v.set_choice(value); break;
      case v1::CUSTOM_FIELD_KIND_NUMBER: v.set_number(std::stod(value)); break;
      case v1::CUSTOM_FIELD_KIND_BOOLEAN:
        v.set_boolean(value == "true" || value == "yes" || value == "1");
        break;
      case v1::CUSTOM_FIELD_KIND_MULTI_SELECT:
        for (absl::string_view c : absl::StrSplit(value, ';')) {
          v.mutable_choices()->add_values(std::string(c));
        }
        break;
      case v1::CUSTOM_FIELD_KIND_MONEY: {
        std::vector<std::string> parts = absl::StrSplit(value, ' ', absl::SkipEmpty());
        if (parts.size() != 2) return absl::InvalidArgumentError("money like 12.50 EUR");
        if (std::isalpha(static_cast<unsigned char>(parts[0][0]))) std::swap(parts[0], parts[1]);
        v.mutable_money()->set_currency_code(parts[1]);
        v.mutable_money()->set_amount_minor(std::llround(std::stod(parts[0]) * 100));
        break;
      }
      default: return absl::InvalidArgumentError("custom field " + def->id() + " has no kind");
    }
  } catch (const std::exception&) {
    return absl::InvalidArgumentError("bad value '" + value + "' for custom." + name);
  }
  pb::Message* entry = r->AddMessage(entity, map);
  entry->GetReflection()->SetString(entry, entry->GetDescriptor()->map_key(), name);
  entry->GetReflection()->MutableMessage(entry, entry->GetDescriptor()->map_value())->CopyFrom(v);
  return absl::OkStatus();
}

std::string CustomValueText(const v1::CustomValue& v) {
  switch (v.value_case()) {
    case v1::CustomValue::kText: return v.text();
    case v1::CustomValue::kDate: return v.date();
    case v1::CustomValue::kChoice: return v.choice();
    case v1::CustomValue::kBoolean: return v.boolean() ? "yes" : "no";
    case v1::CustomValue::kChoices: return absl::StrJoin(v.choices().values(), ", ");
    case v1::CustomValue::kNumber: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%g", v.number());
      return buf;
    }
    case v1::CustomValue::kMoney: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.2f %s", static_cast<double>(v.money().amount_minor()) / 100,
                    v.money().currency_code().c_str());
      return buf;
    }
    default: return "";
  }
}

absl::StatusOr<v1::Record> Build(Database* db, const v1::Record& base, v1::EntityType type,
                                 const std::vector<std::string>& sets) {
  v1::Record record = base;
  pb::Message* entity = sync::MutableEntity(&record, type);
  for (const auto& a : sets) {
    const absl::Status s = a.rfind("custom.", 0) == 0 && a.find('=') != std::string::npos
                               ? SetCustom(db, type, entity, a)
                               : SetField(entity, a);
    if (!s.ok()) return s;
  }
  return record;
}

volatile std::sig_atomic_t interrupted = 0;
void OnSigint(int) { interrupted = 1; }

}  // namespace

int CmdCreate(Session* s, const std::string& type_name, const std::string& id,
              const std::vector<std::string>& sets) {
  auto type = ParseType(type_name);
  if (!type.ok()) return Report(s, type.status());
  auto db = s->Db();
  if (!db.ok()) return Report(s, db.status());
  std::vector<std::string> all = sets;
  if (!id.empty()) all.push_back("id=" + id);
  // New CRM records belong to their creator unless told otherwise.
  const pb::Descriptor* d = sync::EntityDescriptor(*type);
  bool owner_given = false;
  for (const auto& a : all) owner_given |= a.rfind("owner_user_id=", 0) == 0;
  if (!owner_given && d->FindFieldByName("owner_user_id") != nullptr && !(*db)->user_id().empty()) {
    all.push_back("owner_user_id=" + (*db)->user_id());
  }
  auto record = Build(*db, v1::Record(), *type, all);
  if (!record.ok()) return Report(s, record.status());
  auto created = (*db)->Create(*record);
  if (!created.ok()) return Report(s, created.status());
  s->out() << created->ref().id() << "\n";
  return kOk;
}

int CmdEdit(Session* s, const std::string& type_name, const std::string& id,
            const std::vector<std::string>& sets) {
  auto type = ParseType(type_name);
  if (!type.ok()) return Report(s, type.status());
  auto db = s->Db();
  if (!db.ok()) return Report(s, db.status());
  v1::RecordRef ref;
  ref.set_entity_type(*type);
  ref.set_id(id);
  auto current = (*db)->Get(ref);
  if (!current.ok()) return Report(s, current.status());
  auto record = Build(*db, current->data(), *type, sets);
  if (!record.ok()) return Report(s, record.status());
  auto updated = (*db)->Update(*record);
  return Report(s, updated.status());
}

int CmdDelete(Session* s, const std::string& type_name, const std::string& id) {
  auto type = ParseType(type_name);
  if (!type.ok()) return Report(s, type.status());
  auto db = s->Db();
  if (!db.ok()) return Report(s, db.status());
  v1::RecordRef ref;
  ref.set_entity_type(*type);
  ref.set_id(id);
  return Report(s, (*db)->Delete(ref).status());
}

int CmdMerge(Session* s, const std::string& type_name, const std::string& survivor,
             const std::string& merged, const std::vector<std::string>& take,
             const std::vector<std::string>& keep) {
  auto type = ParseType(type_name);
  if (!type.ok()) return Report(s, type.status());
  auto db = s->Db();
  if (!db.ok()) return Report(s, db.status());
  v1::RecordRef ref;
  ref.set_entity_type(*type);
  ref.set_id(survivor);
  v1::MergeSpec spec;
  spec.set_merged_record_id(merged);
  for (const std::string& f : take) spec.add_take_from_merged(f);
  for (const std::string& f : keep) spec.add_keep_survivor(f);
  return Report(s, (*db)->Merge(ref, spec).status());
}

int CmdList(Session* s, const std::string& type_name, const ListFilter& filter) {
  auto type = ParseType(type_name);
  if (!type.ok()) return Report(s, type.status());
  auto db = s->Db();
  if (!db.ok()) return Report(s, db.status());
  absl::StatusOr<std::vector<v1::RecordState>> rows;
  if (filter.mine_open) {
    rows = (*db)->MyOpenLeads();
  } else if (!filter.account.empty()) {
    rows = (*db)->OpportunitiesOfAccount(filter.account);
  } else if (filter.today) {
    rows = (*db)->TodaysCalendar(SystemClock()->NowMs());
  } else if (!filter.search.empty()) {
    rows = (*db)->Search(filter.search);
  } else if (!filter.near.empty()) {
    double lat = 0, lon = 0, radius = 0;
    char c1 = 0, c2 = 0;
    std::istringstream in(filter.near);
    in >> lat >> c1 >> lon;
    if (!in || c1 != ',') return Report(s, absl::InvalidArgumentError("--near LAT,LON[,R]"));
    if (in >> c2 >> radius && c2 != ',') radius = 0;
    rows = (*db)->CouponsNear(lat, lon, radius, SystemClock()->NowMs());
  } else {
    rows = (*db)->List(*type);
  }
  if (!rows.ok()) return Report(s, rows.status());
  for (const auto& r : *rows) {
    if (r.ref().entity_type() != *type) continue;
    s->out() << r.ref().id() << "\t" << Describe(r) << "\n";
  }
  return kOk;
}

int CmdTimeline(Session* s, const std::string& type_name, const std::string& id, int limit) {
  auto type = ParseType(type_name);
  if (!type.ok()) return Report(s, type.status());
  auto db = s->Db();
  if (!db.ok()) return Report(s, db.status());
  v1::RecordRef ref;
  ref.set_entity_type(*type);
  ref.set_id(id);
  auto items = (*db)->Timeline(ref, limit);
  if (!items.ok()) return Report(s, items.status());
  for (const v1::TimelineItem& item : *items) {
    const v1::RecordState& r = item.record();
    std::string channel = v1::Channel_Name(item.channel());
    if (channel.rfind("CHANNEL_", 0) == 0) channel = channel.substr(8);
    std::transform(channel.begin(), channel.end(), channel.begin(), ::tolower);
    s->out() << absl::FormatTime("%Y-%m-%d %H:%M", absl::FromUnixSeconds(item.at().seconds()),
                                 absl::UTCTimeZone())
             << "\t" << channel << "\t" << sync::EntityTypeName(r.ref().entity_type()) << "/"
             << r.ref().id() << "\t" << Describe(r) << "\n";
  }
  return kOk;
}

int CmdShow(Session* s, const std::string& type_name, const std::string& id) {
  auto type = ParseType(type_name);
  if (!type.ok()) return Report(s, type.status());
  auto db = s->Db();
  if (!db.ok()) return Report(s, db.status());
  v1::RecordRef ref;
  ref.set_entity_type(*type);
  ref.set_id(id);
  auto state = (*db)->Get(ref);
  if (!state.ok()) return Report(s, state.status());
  std::string text;
  // UTF-8 text as it is ("Café"), not as octal escapes.
  pb::TextFormat::Printer printer;
  printer.SetUseUtf8StringEscaping(true);
  // Custom fields by name and label; values of removed fields are hidden.
  v1::Record shown = state->data();
  pb::Message* entity = sync::MutableEntity(&shown, *type);
  const pb::FieldDescriptor* custom = entity->GetDescriptor()->FindFieldByName("custom");
  std::map<std::string, v1::CustomValue> values;
  if (custom != nullptr) {
    const pb::Reflection* r = entity->GetReflection();
    for (int i = 0; i < r->FieldSize(*entity, custom); ++i) {
      const pb::Message& e = r->GetRepeatedMessage(*entity, custom, i);
      const pb::Reflection* er = e.GetReflection();
      values[er->GetString(e, e.GetDescriptor()->map_key())].CopyFrom(
          er->GetMessage(e, e.GetDescriptor()->map_value()));
    }
    r->ClearField(entity, custom);
  }
  printer.PrintToString(*entity, &text);
  s->out() << text;
  int hidden = 0;
  for (const auto& [name, value] : values) {
    auto def = LocalCustomField(*db, *type, name);
    if (def.ok() && def->removed()) {
      ++hidden;
      continue;
    }
    const std::string label = def.ok() && !def->label().empty() ? " (" + def->label() + ")" : "";
    s->out() << "custom." << name << label << ": " << CustomValueText(value) << "\n";
  }
  if (hidden > 0) s->out() << "(" << hidden << " value(s) of removed custom fields hidden)\n";
  s->out() << "version: " << state->version() << "\n";
  return kOk;
}

int CmdSync(Session* s) {
  auto engine = s->Engine();
  if (!engine.ok()) return Report(s, engine.status());
  absl::Status st = (*engine)->SyncOnce();
  const SyncProgress p = (*engine)->Progress();
  const std::vector<std::string> events = s->TakeEvents();
  for (const auto& e : events) s->out() << e << "\n";
  if (!st.ok()) return Report(s, st);
  s->out() << "pushed " << p.pushed << ", pulled " << p.pulled << ", pending " << p.pending
           << (p.resets > 0 ? ", re-bootstrapped" : "") << "\n";
  if (p.checksum_mismatch) {
    s->out() << "warning: the replica does not match the server's checksum\n";
  }
  return events.empty() ? kOk : kAttention;
}

int CmdSetOffline(Session* s, bool offline) {
  auto db = s->Db();
  if (!db.ok()) return Report(s, db.status());
  if (absl::Status st = (*db)->SetOffline(offline); !st.ok()) return Report(s, st);
  s->out() << (offline ? "offline: sync will not contact the server\n" : "online\n");
  return kOk;
}

int CmdStatus(Session* s) {
  auto db = s->Db();
  if (!db.ok()) return Report(s, db.status());
  auto pending = (*db)->PendingCount();
  auto cursor = (*db)->Cursor();
  auto last = (*db)->LastSyncMs();
  auto offline = (*db)->Offline();
  auto notices = (*db)->Notices();
  if (!pending.ok() || !cursor.ok() || !last.ok() || !offline.ok() || !notices.ok()) {
    return Report(s, absl::InternalError("cannot read the sync state"));
  }
  s->out() << "device: " << (*db)->device_id() << "\n"
           << "mode: " << (*offline ? "offline" : "online") << "\n"
           << "pending: " << *pending << "\n"
           << "cursor: " << (cursor->empty() ? "(none: not bootstrapped)" : *cursor) << "\n";
  if (*last == 0) {
    s->out() << "last sync: never\n";
  } else {
    const std::time_t t = static_cast<std::time_t>(*last / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    s->out() << "last sync: " << std::put_time(&tm, "%Y-%m-%dT%H:%M:%SZ") << "\n";
  }
  s->out() << "notices: " << notices->size() << "\n";
  for (const auto& n : *notices) {
    s->out() << "  " << n.kind << " " << n.record.id() << ": " << n.message;
    for (const std::string& id : n.conflict_ids) s->out() << " [conflict " << id << "]";
    s->out() << "\n";
  }
  return kOk;
}

int CmdWatch(Session* s, int seconds) {
  auto engine = s->Engine();
  if (!engine.ok()) return Report(s, engine.status());
  std::signal(SIGINT, OnSigint);
  std::signal(SIGTERM, OnSigint);
  s->watching = true;
  (*engine)->Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!interrupted && (seconds <= 0 || std::chrono::steady_clock::now() < deadline)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // signal poll interval
    for (const auto& e : s->TakeEvents()) s->out() << e << std::endl;
    if ((*engine)->Progress().state == SyncProgress::State::kWiped) break;
  }
  (*engine)->Stop();
  s->watching = false;
  return kOk;
}

int CmdScript(Session* s, Settings* settings, const std::string& file, bool keep_going) {
  std::ifstream in(file);
  if (!in) return Report(s, absl::NotFoundError("cannot read script " + file));
  std::string line;
  int line_no = 0, worst = kOk;
  while (std::getline(in, line) && line_no < 100000) {
    ++line_no;
    std::istringstream words(line);
    std::vector<std::string> args;
    std::string w;
    while (words >> std::quoted(w)) args.push_back(w);
    if (args.empty() || args[0][0] == '#') continue;
    if (args[0] == "script") {
      return Report(s, absl::InvalidArgumentError("scripts cannot nest (line " +
                                                  std::to_string(line_no) + ")"));
    }
    s->out() << "> " << line << "\n";
    const int rc = Run(args, s, settings, /*allow_globals=*/false);
    if (rc != kOk && rc != kAttention) {
      s->err() << "crm-device: " << file << ":" << line_no << " failed (exit " << rc << ")\n";
      if (!keep_going) return rc;
      worst = rc;
    }
  }
  return worst;
}

}  // namespace crmsync::client::device
