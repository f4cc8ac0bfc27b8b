#include "recovery.h"

#include <cstdio>
#include <map>
#include <string>

#include "crmsync/sync/entity_catalog.h"
#include "crmsync/sync/hlc.h"
#include "crmsync/sync/policy_table.h"
#include "crmsync/sync/record_model.h"

namespace crmsync::client::internal {
namespace {

namespace pb = ::google::protobuf;

// The type's rules in the entity catalog (EntityRules.recoverable), or
// nullptr when its records are not re-sent after a restore.
const sync::EntitySpec* Recoverable(v1::EntityType type) {
  const sync::EntitySpec* spec = sync::EntityCatalog::Default().Find(type);
  return spec != nullptr && spec->rules.recoverable() ? spec : nullptr;
}

// `a` and `b` name the same field, or one is inside the other.
bool Related(const std::string& a, const std::string& b) {
  auto under = [](const std::string& x, const std::string& y) {
    return x.size() > y.size() && x.compare(0, y.size(), y) == 0 && x[y.size()] == '.';
  };
  return a == b || under(a, b) || under(b, a);
}

// Whether the device knew of a write to `path` later than any the server
// has: some field state of `held` related to `path` is later than the
// server's state of that field (or the server has none). `*when` is set to
// the newest such reading.
bool HeldIsNewer(const v1::RecordState& held, const v1::RecordState& server,
                 const std::string& path, v1::HlcTimestamp* when) {
  bool newer = false;
  for (const auto& [key, state] : held.fields()) {
    if (!Related(key, path)) continue;
    auto theirs = server.fields().find(key);
    if (theirs == server.fields().end() ||
        sync::CompareHlc(state.hlc(), theirs->second.hlc()) > 0) {
      if (!newer || sync::CompareHlc(state.hlc(), *when) > 0) *when = state.hlc();
      newer = true;
    }
  }
  return newer;
}

// The value of a top-level integer field (a counter), 0 when absent.
int64_t IntegerField(const v1::Record& record, const std::string& name) {
  const pb::Message* e = sync::EntityOf(record);
  if (e == nullptr) return 0;
  const pb::FieldDescriptor* f = e->GetDescriptor()->FindFieldByName(name);
  if (f == nullptr || f->is_repeated()) return 0;
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT64: return e->GetReflection()->GetInt64(*e, f);
    case pb::FieldDescriptor::CPPTYPE_INT32: return e->GetReflection()->GetInt32(*e, f);
    default: return 0;
  }
}

void SetIntegerField(v1::Record* record, v1::EntityType type, const std::string& name,
                     int64_t value) {
  pb::Message* e = sync::MutableEntity(record, type);
  const pb::FieldDescriptor* f = e->GetDescriptor()->FindFieldByName(name);
  if (f == nullptr) return;
  if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT64) {
    e->GetReflection()->SetInt64(e, f, value);
  } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT32) {
    e->GetReflection()->SetInt32(e, f, static_cast<int32_t>(value));
  }
}

}  // namespace

std::vector<RecoveryEdit> RecoveryEdits(const v1::RecordState& held,
                                        const std::optional<v1::RecordState>& server) {
  std::vector<RecoveryEdit> out;
  const v1::EntityType type = held.ref().entity_type();
  const sync::EntitySpec* spec = Recoverable(type);
  if (spec == nullptr) return out;
  if (held.deleted()) {
    // A delete the restored server does not have: sent again when it is
    // later (by hybrid logical clock) than the last change the server
    // holds of the record, so a write made after the delete is not undone.
    // The server that lacks the record altogether keeps a tombstone with
    // the scope carried in the values.
    if (spec->access() != v1::ACCESS_RULE_CRM || (server && server->deleted()) ||
        (server && sync::CompareHlc(held.hlc(), server->hlc()) <= 0)) {
      return out;
    }
    RecoveryEdit& remove = out.emplace_back();
    remove.edit.ref = held.ref();
    remove.edit.operation = v1::OPERATION_DELETE;
    remove.hlc = held.hlc();
    if (!server) {
      google::protobuf::Message* entity = sync::MutableEntity(&remove.edit.values, type);
      sync::SetScopeKeysOfEntity(*spec, held.scope(), entity);
    }
    return out;
  }
  if (!server) {
    // Devices create only the sales force's records; the rest (loyalty
    // accounts...) are the server's to create.
    if (spec->access() != v1::ACCESS_RULE_CRM) return out;
    RecoveryEdit& create = out.emplace_back();
    create.create = true;
    create.edit.ref = held.ref();
    create.edit.values = held.data();
    create.hlc = held.hlc();
    return out;
  }
  if (server->deleted()) return out;
  const sync::PolicyTable& policies = sync::PolicyTable::DefaultInstance();
  // Updates by the clock reading of the write they re-send, in order.
  std::map<std::string, RecoveryEdit> updates;
  const pb::FieldMask differing = sync::ComputeFieldMask(server->data(), held.data());
  for (const std::string& path : differing.paths()) {
    v1::HlcTimestamp when;
    if (path == "id" || !HeldIsNewer(held, *server, path, &when)) continue;
    if (policies.Lookup(type, path) == v1::CONFLICT_POLICY_COUNTER) {
      // Increments commute: add what the server is missing.
      const int64_t delta = IntegerField(held.data(), path) - IntegerField(server->data(), path);
      if (delta == 0) continue;
      RecoveryEdit& increment = out.emplace_back();
      increment.edit.ref = held.ref();
      increment.edit.operation = v1::OPERATION_INCREMENT;
      increment.edit.mask.add_paths(path);
      increment.edit.values = held.data();
      SetIntegerField(&increment.edit.values, type, path, delta);
      continue;
    }
    // Keyed so that the map's order is the clock's: wall time, logical
    // counter (fixed width), node.
    char key[48];
    std::snprintf(key, sizeof key, "%020lld.%010u.", static_cast<long long>(when.wall_time_ms()),
                  static_cast<unsigned>(when.logical()));
    RecoveryEdit& update = updates[key + when.node_id()];
    if (update.edit.mask.paths().empty()) {
      update.edit.ref = held.ref();
      update.edit.values = held.data();
      update.hlc = when;
    }
    update.edit.mask.add_paths(path);
  }
  for (auto& [key, update] : updates) out.push_back(std::move(update));
  return out;
}

}  // namespace crmsync::client::internal
