#include "store/store_codec.h"

#include <algorithm>
#include <limits>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "crmsync/sync/field_path.h"
#include "crmsync/sync/record_model.h"
#include "crmsync/sync/text.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "store/stored_state.pb.h"

namespace crmsync::server::store_codec {

std::string Encode(const google::protobuf::MessageLite& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

absl::Status Decode(const std::string& bytes, google::protobuf::MessageLite* message,
                    const char* what) {
  return Decode(absl::string_view(bytes), message, what);
}

absl::Status Decode(absl::string_view bytes, google::protobuf::MessageLite* message,
                    const char* what) {
  if (!message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InternalError(std::string("stored ") + what + " is corrupt (" +
                               std::to_string(bytes.size()) + " bytes do not parse)");
  }
  return absl::OkStatus();
}

namespace {

constexpr char kCompactMarker = '\0';
constexpr char kCompactFormat1 = '\x01';

// Every member of `from` but its field map. RecordState's members are
// listed here; StoreCodecTest checks that the list is complete.
void CopyAllButFields(const v1::RecordState& from, v1::RecordState* to) {
  if (from.has_ref()) *to->mutable_ref() = from.ref();
  if (from.has_data()) *to->mutable_data() = from.data();
  to->set_version(from.version());
  to->set_created_version(from.created_version());
  to->set_deleted(from.deleted());
  if (from.has_scope()) *to->mutable_scope() = from.scope();
  if (from.has_hlc()) *to->mutable_hlc() = from.hlc();
  if (from.has_merged_into()) *to->mutable_merged_into() = from.merged_into();
}

}  // namespace

std::string EncodeState(const v1::RecordState& state) {
  // Paths in order, so equal states give equal bytes.
  std::vector<const std::string*> paths;
  paths.reserve(state.fields_size());
  for (const auto& [path, field] : state.fields()) {
    if (field.set_elements().empty()) paths.push_back(&path);
  }
  std::sort(paths.begin(), paths.end(),
            [](const std::string* a, const std::string* b) { return *a < *b; });
  store::CompactRecordState compact;
  // A field state's bytes -> its index. Without set elements a field state
  // has no map, so its plain serialization is canonical; one buffer serves
  // every field, and only a state not seen yet is copied.
  absl::flat_hash_map<std::string, uint32_t> stamp_of;
  std::string bytes;
  for (const std::string* path : paths) {
    const v1::FieldState& field = state.fields().at(*path);
    bytes.clear();
    field.AppendToString(&bytes);
    auto it = stamp_of.find(bytes);
    if (it == stamp_of.end()) {
      it = stamp_of.emplace(bytes, static_cast<uint32_t>(compact.stamps_size())).first;
      *compact.add_stamps() = field;
    }
    store::StampedField* stamped = compact.add_stamped();
    stamped->set_path(*path);
    stamped->set_stamp(it->second);
  }
  // Only worth it when some fields share a state.
  if (compact.stamps_size() == compact.stamped_size()) return Encode(state);
  v1::RecordState* rest = compact.mutable_state();
  CopyAllButFields(state, rest);
  for (const auto& [path, field] : state.fields()) {
    if (!field.set_elements().empty()) (*rest->mutable_fields())[path] = field;
  }
  std::string out = {kCompactMarker, kCompactFormat1};
  out += Encode(compact);
  return out;
}

absl::Status DecodeState(absl::string_view bytes, v1::RecordState* state) {
  if (bytes.empty() || bytes[0] != kCompactMarker) {
    state->Clear();
    return Decode(bytes, state, "record");
  }
  if (bytes.size() < 2 || bytes[1] != kCompactFormat1) {
    return absl::InternalError(
        "stored record is in a format this server does not know (written by a newer version?)");
  }
  // On the state's arena, so that swapping the state out moves pointers.
  google::protobuf::Arena* arena = state->GetArena();
  std::unique_ptr<store::CompactRecordState> owned;
  store::CompactRecordState* compact =
      google::protobuf::Arena::CreateMessage<store::CompactRecordState>(arena);
  if (arena == nullptr) owned.reset(compact);
  if (auto s = Decode(bytes.substr(2), compact, "record"); !s.ok()) return s;
  state->Clear();
  state->Swap(compact->mutable_state());
  auto* fields = state->mutable_fields();
  for (const store::StampedField& stamped : compact->stamped()) {
    if (stamped.stamp() >= static_cast<uint32_t>(compact->stamps_size())) {
      return absl::InternalError("stored record is corrupt (field " + stamped.path() +
                                 " names a missing field state)");
    }
    (*fields)[stamped.path()] = compact->stamps(static_cast<int>(stamped.stamp()));
  }
  return absl::OkStatus();
}

absl::Status CheckText(const std::string& value, const char* what) {
  if (value.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(std::string(what) + " contains a NUL character");
  }
  if (!sync::IsValidUtf8(value)) {
    return absl::InvalidArgumentError(std::string(what) + " is not valid UTF-8");
  }
  return absl::OkStatus();
}

absl::Status CheckId(const std::string& value, const char* what) {
  if (value.empty()) return absl::InvalidArgumentError(std::string(what) + " must not be empty");
  if (value.size() > 256) {
    return absl::InvalidArgumentError(std::string(what) + " is longer than 256 bytes");
  }
  return CheckText(value, what);
}

absl::Status CheckRef(const v1::RecordRef& ref) {
  if (ref.entity_type() == v1::ENTITY_TYPE_UNSPECIFIED ||
      !v1::EntityType_IsValid(ref.entity_type())) {
    return absl::InvalidArgumentError("record ref has no valid entity type");
  }
  return CheckId(ref.id(), "record id");
}

absl::Status CheckTenant(const TenantRow& tenant) {
  if (auto s = CheckId(tenant.id, "tenant id"); !s.ok()) return s;
  if (auto s = CheckText(tenant.display_name, "tenant display name"); !s.ok()) return s;
  return CheckId(tenant.slug, "tenant slug");
}

absl::Status CheckUser(const UserRow& user) {
  if (auto s = CheckId(user.tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = CheckId(user.user.id(), "user id"); !s.ok()) return s;
  if (auto s = CheckText(user.password_hash, "password hash"); !s.ok()) return s;
  return CheckId(user.user.username(), "username");
}

absl::Status CheckTeam(const std::string& tenant_id, const v1::Team& team) {
  if (auto s = CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  return CheckId(team.id(), "team id");
}

absl::Status CheckDevice(const DeviceRow& device) {
  if (auto s = CheckId(device.tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = CheckText(device.device.user_id(), "device user id"); !s.ok()) return s;
  return CheckId(device.device.id(), "device id");
}

absl::Status CheckApplied(const AppliedMutation& applied) {
  if (auto s = CheckId(applied.device_id, "device id"); !s.ok()) return s;
  if (applied.client_seq <= 0) return absl::InvalidArgumentError("client_seq must be positive");
  return absl::OkStatus();
}

int64_t ToUnixMs(const google::protobuf::Timestamp& ts) {
  // Saturating: a Timestamp outside its documented range must not overflow.
  constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / 1000 - 1;
  return std::clamp<int64_t>(ts.seconds(), -kMaxSeconds, kMaxSeconds) * 1000 + ts.nanos() / 1000000;
}

google::protobuf::Timestamp FromUnixMs(int64_t ms) {
  google::protobuf::Timestamp ts;
  int64_t seconds = ms / 1000;
  int64_t rest = ms % 1000;
  if (rest < 0) {
    rest += 1000;
    seconds -= 1;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(rest * 1000000));
  return ts;
}

namespace {

absl::Status CheckKind(IndexKind kind) {
  if (kind != IndexKind::kGeoCell && kind != IndexKind::kExpiry &&
      kind != IndexKind::kDuplicateKey && kind != IndexKind::kReference &&
      kind != IndexKind::kCustomFieldOf) {
    return absl::InvalidArgumentError("unknown index kind " +
                                      std::to_string(static_cast<int>(kind)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckIndexKeys(IndexKind kind, const std::vector<int64_t>& keys) {
  if (auto s = CheckKind(kind); !s.ok()) return s;
  if (keys.size() > kMaxIndexKeys) {
    return absl::InvalidArgumentError("a record may have at most " + std::to_string(kMaxIndexKeys) +
                                      " index keys of one kind");
  }
  return absl::OkStatus();
}

absl::Status CheckIndexQuery(IndexKind kind, v1::EntityType type,
                             const std::vector<KeyRange>& ranges, int limit) {
  if (auto s = CheckKind(kind); !s.ok()) return s;
  if (type == v1::ENTITY_TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError("index query without an entity type");
  }
  if (ranges.size() > kMaxIndexKeys) {
    return absl::InvalidArgumentError("an index query may have at most " +
                                      std::to_string(kMaxIndexKeys) + " ranges");
  }
  for (const KeyRange& r : ranges) {
    if (r.lo > r.hi) return absl::InvalidArgumentError("index key range with lo > hi");
    if (r.lo != r.hi && !IndexKindHasRanges(kind)) {
      return absl::InvalidArgumentError(
          "index kind " + std::to_string(static_cast<int>(kind)) +
          " is looked up one key at a time: its ranges must be single keys (lo == hi)");
    }
  }
  if (limit < 0) return absl::InvalidArgumentError("index query limit must not be negative");
  return absl::OkStatus();
}

void SortByVersion(std::vector<v1::RecordState>* records, int limit) {
  std::sort(
      records->begin(), records->end(),
      [](const v1::RecordState& a, const v1::RecordState& b) { return a.version() < b.version(); });
  if (limit > 0 && records->size() > static_cast<size_t>(limit)) records->resize(limit);
}

absl::StatusOr<bool> ScopesDuringBuilder::AddHistory(int64_t version, const std::string& scope) {
  if (past_to_ || version <= from_) return !past_to_;
  v1::ScopeKeys& keys = scopes_.emplace_back();
  if (auto s = Decode(scope, &keys, "scope history"); !s.ok()) return s;
  // The row after `to` holds the scope in effect at `to`: the last one.
  past_to_ = version > to_;
  return !past_to_;
}

absl::StatusOr<std::vector<v1::ScopeKeys>> ScopesDuringBuilder::Finish(int64_t created_version,
                                                                       const std::string& state) {
  if (created_version > to_) return std::vector<v1::ScopeKeys>();
  if (!past_to_) {
    // No scope change after `to`: the current scope was in effect then.
    v1::RecordState current;
    if (auto s = DecodeState(state, &current); !s.ok()) return s;
    scopes_.push_back(current.scope());
  }
  return std::move(scopes_);
}

v1::FieldHistoryEntry FieldEntry(const v1::RecordState& state, const std::string& path,
                                 const v1::FieldState& field) {
  v1::FieldHistoryEntry entry;
  const v1::EntityType type = state.ref().entity_type();
  const google::protobuf::Descriptor* desc = sync::EntityDescriptor(type);
  if (desc == nullptr) return entry;
  auto resolved = sync::ResolveFieldPath(desc, path);
  if (!resolved.ok()) return entry;  // markers and paths of older schemas
  entry.set_path(path);
  *entry.mutable_value() = sync::ExtractPath(state.data(), type, *resolved);
  entry.set_version(field.version());
  *entry.mutable_hlc() = field.hlc();
  *entry.mutable_provenance() = field.provenance();
  return entry;
}

std::vector<FieldHistoryRow> FieldHistoryOf(const v1::RecordState& before,
                                            const v1::RecordState& after) {
  std::vector<FieldHistoryRow> rows;
  for (const auto& [path, field] : after.fields()) {
    if (field.version() != after.version() || path == "id") continue;
    auto old = before.fields().find(path);
    if (old == before.fields().end() || old->second.version() == after.version()) continue;
    v1::FieldHistoryEntry entry = FieldEntry(before, path, old->second);
    if (entry.path().empty()) continue;
    rows.push_back(FieldHistoryRow{path, old->second.version(), Encode(entry)});
  }
  return rows;
}

}  // namespace crmsync::server::store_codec
