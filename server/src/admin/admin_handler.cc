#include "admin_handler.h"

#include "crmsync/sync/entity_catalog.h"
#include "crmsync/sync/record_model.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_join.h"
#include "auth/crypto.h"
#include "logic/custom_fields.h"
#include "logic/duplicates.h"
#include "logic/integration.h"
#include "logic/lineage.h"
#include "logic/timeline.h"
#include "store/migrations.h"
#include "store/store_codec.h"
#include "version.h"

namespace crmsync::server {

namespace codec = store_codec;

namespace {

constexpr int kDefaultPage = 100;
constexpr int kMaxPage = 1000;

int PageSize(int requested) {
  if (requested <= 0) return kDefaultPage;
  return std::min(requested, kMaxPage);
}

// Offset page tokens for the small directory lists.
absl::StatusOr<size_t> PageOffset(const std::string& token) {
  if (token.empty()) return size_t{0};
  if (token.size() > 12 || token.find_first_not_of("0123456789") != std::string::npos) {
    return absl::InvalidArgumentError("malformed page_token");
  }
  return static_cast<size_t>(std::stoll(token));
}

bool IsRevoked(const v1::Device& d) {
  return d.status() == v1::DEVICE_STATUS_REVOKED || d.status() == v1::DEVICE_STATUS_WIPED;
}

// Types whose records hold personal data (EntityRules.personal_data).
bool ErasableType(v1::EntityType t) {
  const sync::EntitySpec* spec = sync::EntityCatalog::Default().Find(t);
  return spec != nullptr && spec->rules.personal_data();
}

// The erased tombstone of `current`: only the id, the scope keys (which
// decide who must be told), per-field authorship and the erasure marker
// remain.
v1::RecordState ErasedState(const v1::RecordState& current, int64_t seq, int64_t now_ms,
                            const Principal& who) {
  v1::RecordState erased;
  *erased.mutable_ref() = current.ref();
  const auto* field = erased.mutable_data()->GetDescriptor()->FindFieldByNumber(
      static_cast<int>(current.ref().entity_type()));
  if (field != nullptr) {
    google::protobuf::Message* entity =
        erased.mutable_data()->GetReflection()->MutableMessage(erased.mutable_data(), field);
    const auto* id = entity->GetDescriptor()->FindFieldByName("id");
    if (id != nullptr) entity->GetReflection()->SetString(entity, id, current.ref().id());
  }
  erased.set_version(seq);
  erased.set_created_version(current.created_version());
  erased.set_deleted(true);
  *erased.mutable_scope() = current.scope();
  // Field states keep who wrote each field and when (never a value: set
  // elements go), so Pull still reaches a device that holds the record
  // only through its own push results.
  for (const auto& [path, state] : current.fields()) {
    v1::FieldState& kept = (*erased.mutable_fields())[path];
    kept.set_version(state.version());
    *kept.mutable_provenance() = state.provenance();
  }
  v1::FieldState& marker = (*erased.mutable_fields())[kErasedMarker];
  marker.set_version(seq);
  marker.mutable_hlc()->set_wall_time_ms(now_ms);
  marker.mutable_provenance()->set_author_user_id(who.user_id);
  marker.mutable_provenance()->set_channel(v1::CHANNEL_IMPORT);
  erased.mutable_hlc()->set_wall_time_ms(now_ms);
  return erased;
}

// Erases, in `tx`, the open and settled conflicts on `ref` (they hold copies
// of its values): all of them, or those on `paths` when it is not null.
// Returns the last sequence taken (0 when none was there).
absl::StatusOr<int64_t> EraseConflictsOn(ChangeLog& changes, WriteTx& tx, const Principal& who,
                                         const v1::RecordRef& ref,
                                         const std::vector<std::string>* paths, int64_t now_ms) {
  int64_t last_seq = 0;
  int64_t position = 0;
  while (true) {
    auto rows = changes.ReadTypeSince(who.tenant_id, v1::ENTITY_TYPE_CONFLICT, position, 1000);
    if (!rows.ok()) return rows.status();
    for (const RecordRow& row : *rows) {
      position = row.state.version();
      const v1::RecordState& c = row.state;
      const v1::Conflict& conflict = c.data().conflict();
      if (c.deleted() || conflict.record().entity_type() != ref.entity_type() ||
          conflict.record().id() != ref.id() ||
          (paths != nullptr &&
           std::find(paths->begin(), paths->end(), conflict.field_path()) == paths->end())) {
        continue;
      }
      auto seq = tx.NextSeq();
      if (!seq.ok()) return seq.status();
      last_seq = *seq;
      if (auto s = tx.PutRecord(ErasedState(c, *seq, now_ms, who), nullptr); !s.ok()) return s;
    }
    if (rows->size() < 1000) break;
  }
  return last_seq;
}

void FillLag(v1::Device* d, int64_t latest_seq) {
  d->set_cursor_lag(std::max<int64_t>(0, latest_seq - d->cursor_seq()));
}

int64_t CountFor(const std::map<std::string, int64_t>& counts, const std::string& key) {
  auto it = counts.find(key);
  return it == counts.end() ? 0 : it->second;
}

// An integration's grant is checked; other roles have none.
absl::Status CheckIntegration(const v1::User& user) {
  if (user.role() == v1::ROLE_INTEGRATION) return ValidateIntegrationRules(user.integration());
  if (user.has_integration()) {
    return absl::InvalidArgumentError("integration rules are for users with role integration only");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RequireAdmin(const Principal& who) {
  if (who.role != v1::ROLE_ADMIN) {
    return absl::PermissionDeniedError("AdminService calls need the admin role");
  }
  return absl::OkStatus();
}

AdminHandler::AdminHandler(Store* store, Clock* clock, auth::AuthHandler* auth,
                           auth::AuditLog* audit, PushHandler* push, Info info,
                           CommitListener on_commit)
    : store_(store),
      clock_(clock),
      auth_(auth),
      audit_(audit),
      push_(push),
      writer_(&store->changes(), &store->directory(), clock, push),
      open_conflicts_(&store->changes()),
      info_(std::move(info)),
      on_commit_(std::move(on_commit)) {}

absl::Status AdminHandler::GetServerStatus(const Principal& who, const v1::GetServerStatusRequest&,
                                           v1::GetServerStatusResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  auto latest = store_->changes().LatestSeq(who.tenant_id);
  if (!latest.ok()) return latest.status();
  const int64_t now_ms = clock_->NowMs();
  resp->set_version(ProductVersion());
  resp->set_store_kind(store_->Kind());
  *resp->mutable_started_at() = codec::FromUnixMs(info_.started_at_ms);
  const int64_t up_ms = std::max<int64_t>(0, now_ms - info_.started_at_ms);
  resp->mutable_uptime()->set_seconds(up_ms / 1000);
  resp->mutable_uptime()->set_nanos(static_cast<int32_t>(up_ms % 1000) * 1'000'000);
  resp->set_latest_seq(*latest);
  resp->set_min_protocol_version(kMinProtocolVersion);
  resp->set_max_protocol_version(kMaxProtocolVersion);
  resp->set_active_subscribers(info_.active_subscribers ? info_.active_subscribers() : 0);
  resp->set_revision(GitRevision());
  *resp->mutable_server_time() = codec::FromUnixMs(now_ms);
  resp->set_token_signing_key_id(info_.signing_key_id);
  for (const std::string& kid : info_.verify_key_ids) resp->add_token_verify_key_ids(kid);
  auto schema = store_->SchemaVersion();
  if (!schema.ok()) return schema.status();
  resp->set_schema_version(*schema);
  resp->set_schema_version_latest(LatestSchemaVersion());
  const Store::PoolStats pool = store_->Pool();
  resp->set_store_pool_size(pool.max_size);
  resp->set_store_pool_in_use(pool.in_use);
  resp->set_instance(info_.instance);
  return absl::OkStatus();
}

absl::Status AdminHandler::ListDevices(const Principal& who, const v1::ListDevicesRequest& req,
                                       v1::ListDevicesResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  auto offset = PageOffset(req.page_token());
  if (!offset.ok()) return offset.status();
  auto latest = store_->changes().LatestSeq(who.tenant_id);
  if (!latest.ok()) return latest.status();
  auto devices = store_->directory().ListDevices(who.tenant_id);
  if (!devices.ok()) return devices.status();
  const int64_t now_ms = clock_->NowMs();
  const int64_t stale_ms = req.stale_for().seconds() * 1000 + req.stale_for().nanos() / 1'000'000;
  std::vector<v1::Device> picked;
  for (DeviceRow& row : *devices) {
    v1::Device& d = row.device;
    if (IsServerDevice(d)) continue;  // the server's own writers never sync
    if (!req.user_id().empty() && d.user_id() != req.user_id()) continue;
    if (req.status() != v1::DEVICE_STATUS_UNSPECIFIED && d.status() != req.status()) continue;
    if (stale_ms > 0 && codec::ToUnixMs(d.last_contact_at()) > now_ms - stale_ms) continue;
    FillLag(&d, *latest);
    picked.push_back(std::move(d));
  }
  auto conflicts = open_conflicts_.ByOwner(who.tenant_id);
  if (!conflicts.ok()) return conflicts.status();
  for (v1::Device& d : picked) d.set_pending_conflicts(CountFor(*conflicts, d.user_id()));
  std::stable_sort(picked.begin(), picked.end(), [](const v1::Device& a, const v1::Device& b) {
    if (a.cursor_lag() != b.cursor_lag()) return a.cursor_lag() > b.cursor_lag();
    return a.id() < b.id();
  });
  const size_t page = static_cast<size_t>(PageSize(req.page_size()));
  for (size_t i = *offset; i < picked.size() && i < *offset + page; ++i) {
    *resp->add_devices() = picked[i];
  }
  if (*offset + page < picked.size()) resp->set_next_page_token(std::to_string(*offset + page));
  return absl::OkStatus();
}

absl::Status AdminHandler::GetDevice(const Principal& who, const v1::GetDeviceRequest& req,
                                     v1::GetDeviceResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  if (auto s = codec::CheckId(req.device_id(), "device_id"); !s.ok()) return s;
  auto device = store_->directory().GetDevice(who.tenant_id, req.device_id());
  if (!device.ok()) return device.status();
  if (!*device) return absl::NotFoundError("no device " + req.device_id() + " in this tenant");
  auto latest = store_->changes().LatestSeq(who.tenant_id);
  if (!latest.ok()) return latest.status();
  *resp->mutable_device() = (*device)->device;
  FillLag(resp->mutable_device(), *latest);
  auto conflicts = open_conflicts_.ByOwner(who.tenant_id);
  if (!conflicts.ok()) return conflicts.status();
  resp->mutable_device()->set_pending_conflicts(CountFor(*conflicts, resp->device().user_id()));
  return absl::OkStatus();
}

absl::Status AdminHandler::RevokeDevice(const Principal& who, const AdminContext& ctx,
                                        const v1::RevokeDeviceRequest& req,
                                        v1::RevokeDeviceResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  if (auto s = codec::CheckId(req.device_id(), "device_id"); !s.ok()) return s;
  if (auto s = codec::CheckText(req.reason(), "reason"); !s.ok()) return s;
  auto device = store_->directory().GetDevice(who.tenant_id, req.device_id());
  if (!device.ok()) return device.status();
  if (!*device) return absl::NotFoundError("no device " + req.device_id() + " in this tenant");
  DeviceRow row = **device;
  if (!IsRevoked(row.device)) {
    row.device.set_status(v1::DEVICE_STATUS_REVOKED);
    if (auto s = store_->directory().PutDevice(row); !s.ok()) return s;
  }
  auto revoked = store_->credentials().RevokeDeviceRefreshTokens(who.tenant_id, req.device_id());
  if (!revoked.ok()) return revoked.status();
  if (auto s = audit_->Record(auth::AuditEvent(
          who.tenant_id, "device_revoked", who.user_id, who.device_id, "device:" + req.device_id(),
          std::string(req.wipe() ? "wipe; " : "") + "reason: " + req.reason(), ctx.peer));
      !s.ok()) {
    return s;
  }
  *resp->mutable_device() = row.device;
  return absl::OkStatus();
}

absl::Status AdminHandler::ListUsers(const Principal& who, const v1::ListUsersRequest& req,
                                     v1::ListUsersResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  auto offset = PageOffset(req.page_token());
  if (!offset.ok()) return offset.status();
  auto users = store_->directory().ListUsers(who.tenant_id);
  if (!users.ok()) return users.status();
  const size_t page = static_cast<size_t>(PageSize(req.page_size()));
  for (size_t i = *offset; i < users->size() && i < *offset + page; ++i) {
    *resp->add_users() = (*users)[i].user;  // never the password hash
  }
  if (*offset + page < users->size()) resp->set_next_page_token(std::to_string(*offset + page));
  return absl::OkStatus();
}

absl::Status AdminHandler::CreateUser(const Principal& who, const AdminContext& ctx,
                                      const v1::CreateUserRequest& req,
                                      v1::CreateUserResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  v1::User user = req.user();
  if (!auth::PlausibleId(user.username())) {
    return absl::InvalidArgumentError("username must be 1-128 printable characters");
  }
  if (user.role() == v1::ROLE_UNSPECIFIED) return absl::InvalidArgumentError("role is required");
  if (user.role() == v1::ROLE_STORE_TERMINAL && user.store_id().empty()) {
    return absl::InvalidArgumentError("a store terminal needs a store_id");
  }
  if (auto s = CheckIntegration(user); !s.ok()) return s;
  for (const std::string* text : {&user.display_name(), &user.email(), &user.team_id(),
                                  &user.territory(), &user.store_id()}) {
    if (text->size() > 256)
      return absl::InvalidArgumentError("user fields are limited to 256 bytes");
    if (auto s = codec::CheckText(*text, "user field"); !s.ok()) return s;
  }
  if (user.id().empty()) {
    auth::OpenSslRandom random;
    auto id = auth::RandomToken(&random, 12);
    if (!id.ok()) return id.status();
    user.set_id("u-" + *id);
  } else if (!auth::PlausibleId(user.id())) {
    return absl::InvalidArgumentError("user id must be 1-128 printable characters");
  }
  auto by_name = store_->directory().GetUserByName(who.tenant_id, user.username());
  if (!by_name.ok()) return by_name.status();
  auto by_id = store_->directory().GetUser(who.tenant_id, user.id());
  if (!by_id.ok()) return by_id.status();
  if (*by_name || *by_id) {
    return absl::AlreadyExistsError("a user with this id or username already exists");
  }
  UserRow row{who.tenant_id, user, ""};
  if (user.role() == v1::ROLE_INTEGRATION && !req.password().empty()) {
    return absl::InvalidArgumentError(
        "an integration signs in with an API key only (CreateApiKey); give it no password");
  }
  if (!req.password().empty() ||
      (user.role() != v1::ROLE_STORE_TERMINAL && user.role() != v1::ROLE_INTEGRATION)) {
    // Terminals and integrations may have no password (they sign in with an
    // API key).
    auto hash = auth_->HashNewPassword(req.password());
    if (!hash.ok()) return hash.status();
    row.password_hash = *hash;
  }
  *row.user.mutable_created_at() = codec::FromUnixMs(clock_->NowMs());
  if (auto s = store_->directory().PutUser(row); !s.ok()) return s;
  if (auto s = audit_->Record(auth::AuditEvent(who.tenant_id, "user_created", who.user_id,
                                               who.device_id, "user:" + user.id(),
                                               "role " + v1::Role_Name(user.role()), ctx.peer));
      !s.ok()) {
    return s;
  }
  *resp->mutable_user() = row.user;
  return absl::OkStatus();
}

absl::Status AdminHandler::UpdateUser(const Principal& who, const AdminContext& ctx,
                                      const v1::UpdateUserRequest& req,
                                      v1::UpdateUserResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  if (auto s = codec::CheckId(req.user().id(), "user.id"); !s.ok()) return s;
  auto found = store_->directory().GetUser(who.tenant_id, req.user().id());
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError("no user " + req.user().id() + " in this tenant");
  UserRow row = **found;
  const v1::User& in = req.user();
  std::string changed;
  for (const std::string& path : req.update_mask().paths()) {
    if (path == "display_name") {
      row.user.set_display_name(in.display_name());
    } else if (path == "email") {
      row.user.set_email(in.email());
    } else if (path == "role") {
      if (in.role() == v1::ROLE_UNSPECIFIED) return absl::InvalidArgumentError("role is required");
      row.user.set_role(in.role());
    } else if (path == "team_id") {
      row.user.set_team_id(in.team_id());
    } else if (path == "territory") {
      row.user.set_territory(in.territory());
    } else if (path == "store_id") {
      row.user.set_store_id(in.store_id());
    } else if (path == "disabled") {
      row.user.set_disabled(in.disabled());
    } else if (path == "integration") {
      *row.user.mutable_integration() = in.integration();
    } else {
      return absl::InvalidArgumentError("update_mask path '" + path +
                                        "' cannot be changed (id, username and created_at are "
                                        "fixed)");
    }
    changed += (changed.empty() ? "" : ",") + path;
  }
  const auto& paths = req.update_mask().paths();
  if (row.user.role() != v1::ROLE_INTEGRATION &&
      std::find(paths.begin(), paths.end(), "integration") == paths.end()) {
    row.user.clear_integration();  // no longer an integration: its grant goes
  }
  if (auto s = CheckIntegration(row.user); !s.ok()) return s;
  if (row.user.role() == v1::ROLE_INTEGRATION && !req.new_password().empty()) {
    return absl::InvalidArgumentError("an integration signs in with an API key only");
  }
  for (const std::string* text : {&row.user.display_name(), &row.user.email(), &row.user.team_id(),
                                  &row.user.territory(), &row.user.store_id()}) {
    if (text->size() > 256)
      return absl::InvalidArgumentError("user fields are limited to 256 bytes");
    if (auto s = codec::CheckText(*text, "user field"); !s.ok()) return s;
  }
  if (!req.new_password().empty()) {
    auto hash = auth_->HashNewPassword(req.new_password());
    if (!hash.ok()) return hash.status();
    row.password_hash = *hash;
    changed += (changed.empty() ? "" : ",") + std::string("password");
  }
  if (auto s = store_->directory().PutUser(row); !s.ok()) return s;
  if (auto s =
          audit_->Record(auth::AuditEvent(who.tenant_id, "user_updated", who.user_id, who.device_id,
                                          "user:" + row.user.id(), changed, ctx.peer));
      !s.ok()) {
    return s;
  }
  *resp->mutable_user() = row.user;
  return absl::OkStatus();
}

absl::Status AdminHandler::CreateApiKey(const Principal& who, const AdminContext& ctx,
                                        const v1::CreateApiKeyRequest& req,
                                        v1::CreateApiKeyResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  if (auto s = codec::CheckId(req.user_id(), "user_id"); !s.ok()) return s;
  if (req.label().size() > 256) return absl::InvalidArgumentError("label is limited to 256 bytes");
  if (auto s = codec::CheckText(req.label(), "label"); !s.ok()) return s;
  auto user = store_->directory().GetUser(who.tenant_id, req.user_id());
  if (!user.ok()) return user.status();
  if (!*user) return absl::NotFoundError("no user " + req.user_id() + " in this tenant");
  if ((*user)->user.role() != v1::ROLE_STORE_TERMINAL &&
      (*user)->user.role() != v1::ROLE_INTEGRATION) {
    return absl::FailedPreconditionError(
        "API keys are for store terminals and integrations only; people sign in with a password");
  }
  std::string key_id;
  auto key = auth_->CreateApiKey(who.tenant_id, req.user_id(), req.label(), &key_id);
  if (!key.ok()) return key.status();
  if (auto s = audit_->Record(auth::AuditEvent(who.tenant_id, "api_key_created", who.user_id,
                                               who.device_id, "user:" + req.user_id(),
                                               "key " + key_id + " " + req.label(), ctx.peer));
      !s.ok()) {
    return s;
  }
  resp->set_api_key(*key);
  resp->set_key_id(key_id);
  return absl::OkStatus();
}

absl::Status AdminHandler::ListAuditEvents(const Principal& who,
                                           const v1::ListAuditEventsRequest& req,
                                           v1::ListAuditEventsResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  auto after = PageOffset(req.page_token());
  if (!after.ok()) return after.status();
  if (req.action().size() > 128) return absl::InvalidArgumentError("action is too long");
  const int page = PageSize(req.page_size());
  const int64_t since_ms = req.has_since() ? codec::ToUnixMs(req.since()) : 0;
  auto rows = store_->audit().ListAudit(who.tenant_id, req.action(), since_ms,
                                        static_cast<int64_t>(*after), page + 1, req.newest_first());
  if (!rows.ok()) return rows.status();
  for (int i = 0; i < static_cast<int>(rows->size()) && i < page; ++i) {
    const AuditRow& r = (*rows)[i];
    v1::AuditEvent* e = resp->add_events();
    e->set_id(std::to_string(r.id));
    *e->mutable_at() = codec::FromUnixMs(r.at_ms);
    e->set_action(r.action);
    e->set_actor_user_id(r.actor_user_id);
    e->set_actor_device_id(r.actor_device_id);
    e->set_target(r.target);
    e->set_detail(r.detail);
    e->set_peer(r.peer);
  }
  if (static_cast<int>(rows->size()) > page) {
    resp->set_next_page_token(std::to_string((*rows)[page - 1].id));
  }
  return absl::OkStatus();
}

absl::Status AdminHandler::EraseRecord(const Principal& who, const AdminContext& ctx,
                                       const v1::EraseRecordRequest& req,
                                       v1::EraseRecordResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  const v1::RecordRef& ref = req.record();
  if (!ErasableType(ref.entity_type())) {
    // A type without personal data of its own may have custom fields that
    // hold some: those are erased, the record stays.
    if (HasCustomFields(ref.entity_type())) {
      auto fields = LoadCustomFields(store_->changes(), who.tenant_id, ref.entity_type());
      if (!fields.ok()) return fields.status();
      std::vector<std::string> personal;
      for (const auto& [name, field] : *fields) {
        if (field.personal_data()) personal.push_back(name);
      }
      if (!personal.empty()) return ErasePersonalFields(who, ctx, req, personal, resp);
    }
    std::string types;
    for (const sync::EntitySpec& e : sync::EntityCatalog::Default().entities()) {
      if (!e.rules.personal_data()) continue;
      types += (types.empty() ? "" : ", ") + e.descriptor->name();
    }
    return absl::InvalidArgumentError(
        "only records that hold personal data can be erased: " + types +
        ", and records of types with custom fields marked personal data");
  }
  if (auto s = codec::CheckId(ref.id(), "record.id"); !s.ok()) return s;
  if (auto s = codec::CheckText(req.reason(), "reason"); !s.ok()) return s;
  const int64_t now_ms = clock_->NowMs();
  int64_t erased_seq = 0;
  int64_t last_seq = 0;
  absl::Status status = store_->changes().Write(who.tenant_id, [&](WriteTx& tx) -> absl::Status {
    erased_seq = last_seq = 0;
    auto current = tx.GetRecord(ref);
    if (!current.ok()) return current.status();
    if (!*current) return absl::NotFoundError("no such record in this tenant");
    if (IsErased(**current)) {
      erased_seq = (*current)->version();  // already erased: idempotent
      return absl::OkStatus();
    }
    auto seq = tx.NextSeq();
    if (!seq.ok()) return seq.status();
    erased_seq = last_seq = *seq;
    const v1::RecordState erased = ErasedState(**current, *seq, now_ms, who);
    if (auto s = tx.PutRecord(erased, nullptr); !s.ok()) return s;
    // Its identity keys (hashes of its e-mail, phone, name) leave the
    // duplicate index, its flag goes, and other flags lose it.
    static const DuplicateOptions kDuplicateDefaults;
    DuplicateTxn dup(&tx, now_ms, kDuplicateDefaults);
    if (auto s = CheckDuplicates(dup, &**current, erased); !s.ok()) return s;
    last_seq = std::max(last_seq, dup.last_seq());
    // Conflicts on the record hold copies of its values: erase them too.
    auto conflicts_seq = EraseConflictsOn(store_->changes(), tx, who, ref, nullptr, now_ms);
    if (!conflicts_seq.ok()) return conflicts_seq.status();
    last_seq = std::max(last_seq, *conflicts_seq);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  auto scrubbed = store_->changes().ScrubAppliedResults(who.tenant_id, ref);
  if (!scrubbed.ok()) return scrubbed.status();
  if (last_seq > 0 && on_commit_) on_commit_(who.tenant_id, last_seq);
  if (auto s = audit_->Record(
          auth::AuditEvent(who.tenant_id, "record_erased", who.user_id, who.device_id,
                           v1::EntityType_Name(ref.entity_type()) + ":" + ref.id(),
                           "reason: " + req.reason(), ctx.peer));
      !s.ok()) {
    return s;
  }
  resp->set_change_seq(erased_seq);
  return absl::OkStatus();
}

absl::Status AdminHandler::ErasePersonalFields(const Principal& who, const AdminContext& ctx,
                                               const v1::EraseRecordRequest& req,
                                               const std::vector<std::string>& names,
                                               v1::EraseRecordResponse* resp) {
  const v1::RecordRef& ref = req.record();
  if (auto s = codec::CheckId(ref.id(), "record.id"); !s.ok()) return s;
  if (auto s = codec::CheckText(req.reason(), "reason"); !s.ok()) return s;
  const int64_t now_ms = clock_->NowMs();
  int64_t change_seq = 0;
  int64_t last_seq = 0;
  std::vector<std::string> erased;
  absl::Status status = store_->changes().Write(who.tenant_id, [&](WriteTx& tx) -> absl::Status {
    change_seq = last_seq = 0;
    erased.clear();
    auto current = tx.GetRecord(ref);
    if (!current.ok()) return current.status();
    if (!*current || (*current)->deleted()) {
      return absl::NotFoundError("no such record in this tenant");
    }
    const v1::RecordState& cur = **current;
    v1::RecordState next = cur;
    google::protobuf::Message* entity = sync::MutableEntity(next.mutable_data(), ref.entity_type());
    const v1::Record none;
    for (const std::string& name : names) {
      auto path = sync::ResolveFieldPath(entity->GetDescriptor(),
                                         std::string(kCustomMapField) + "." + name);
      if (!path.ok()) return absl::InternalError(path.status().message());
      if (sync::PathIsDefault(*entity, *path)) continue;
      sync::CopyPathValue(*sync::EntityOrDefault(none, ref.entity_type()), *path, entity);
      erased.push_back(path->text);
    }
    if (erased.empty()) {
      // Nothing held now; replaced values may still be in the history.
      change_seq = cur.version();
      return tx.DropFieldHistory(ref);
    }
    auto seq = tx.NextSeq();
    if (!seq.ok()) return seq.status();
    change_seq = last_seq = *seq;
    // A clock after the record's, so that the clearing wins over edits made
    // before it (an offline device's included).
    v1::HlcTimestamp hlc = cur.hlc();
    if (hlc.wall_time_ms() < now_ms) {
      hlc.set_wall_time_ms(now_ms);
      hlc.set_logical(0);
    } else {
      hlc.set_logical(hlc.logical() + 1);
    }
    hlc.set_node_id(kAdminDeviceId);
    next.set_version(*seq);
    *next.mutable_hlc() = hlc;
    for (const std::string& path : erased) {
      v1::FieldState& fs = (*next.mutable_fields())[path];
      fs.Clear();
      fs.set_version(*seq);
      *fs.mutable_hlc() = hlc;
      fs.mutable_provenance()->set_author_user_id(who.user_id);
      fs.mutable_provenance()->set_device_id(kAdminDeviceId);
      fs.mutable_provenance()->set_channel(v1::CHANNEL_ADMIN);
    }
    if (auto s = tx.PutRecord(next, &cur.scope()); !s.ok()) return s;
    // The history, with the values this write just replaced, goes.
    if (auto s = tx.DropFieldHistory(ref); !s.ok()) return s;
    // Conflicts on those fields hold copies of their values.
    auto conflicts_seq = EraseConflictsOn(store_->changes(), tx, who, ref, &erased, now_ms);
    if (!conflicts_seq.ok()) return conflicts_seq.status();
    last_seq = std::max(last_seq, *conflicts_seq);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  auto scrubbed = store_->changes().ScrubAppliedResults(who.tenant_id, ref);
  if (!scrubbed.ok()) return scrubbed.status();
  if (last_seq > 0 && on_commit_) on_commit_(who.tenant_id, last_seq);
  if (auto s = audit_->Record(auth::AuditEvent(
          who.tenant_id, "personal_fields_erased", who.user_id, who.device_id,
          v1::EntityType_Name(ref.entity_type()) + ":" + ref.id(),
          "fields: " + (erased.empty() ? std::string("none held") : absl::StrJoin(erased, ", ")) +
              "; reason: " + req.reason(),
          ctx.peer));
      !s.ok()) {
    return s;
  }
  resp->set_change_seq(change_seq);
  for (const std::string& path : erased) resp->add_erased_fields(path);
  return absl::OkStatus();
}

absl::Status AdminHandler::GetTimeline(const Principal& who, const v1::GetTimelineRequest& req,
                                       v1::GetTimelineResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  return ReadTimeline(&store_->changes(), who, /*any_owner=*/true, req, resp);
}

absl::Status AdminHandler::ExportChanges(const Principal& who, const v1::ExportChangesRequest& req,
                                         v1::PullResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  if (pull_ == nullptr) return absl::UnimplementedError("export is not served here");
  Principal reader = who;
  reader.device_id.clear();  // an export is not a device: no cursor is recorded
  if (!req.entity_types().empty()) {
    // The scope of an integration granted those types: the whole tenant,
    // of those types only.
    reader.role = v1::ROLE_INTEGRATION;
    for (int type : req.entity_types()) {
      if (sync::EntityCatalog::Default().Find(static_cast<v1::EntityType>(type)) == nullptr) {
        return absl::InvalidArgumentError("entity_types: unknown entity type " +
                                          std::to_string(type));
      }
      reader.integration.add_entity_types(static_cast<v1::EntityType>(type));
    }
  }
  v1::PullRequest pull;
  pull.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  pull.set_cursor(req.cursor());
  pull.set_page_size(req.page_size());
  return pull_->Pull(reader, pull, resp);
}

absl::Status AdminHandler::GetFieldHistory(const Principal& who,
                                           const v1::GetFieldHistoryRequest& req,
                                           v1::GetFieldHistoryResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  return ReadFieldHistory(&store_->changes(), who, /*any_owner=*/true, req, resp);
}

absl::Status AdminHandler::GetStats(const Principal& who, const v1::GetStatsRequest&,
                                    v1::GetStatsResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  auto latest = store_->changes().LatestSeq(who.tenant_id);
  if (!latest.ok()) return latest.status();
  auto devices = store_->directory().ListDevices(who.tenant_id);
  if (!devices.ok()) return devices.status();
  const int64_t day_ago = clock_->NowMs() - 24LL * 3600 * 1000;
  int64_t stale = 0;
  int64_t total = 0;
  for (const DeviceRow& d : *devices) {
    if (IsServerDevice(d.device)) continue;
    ++total;
    if (codec::ToUnixMs(d.device.last_contact_at()) < day_ago) ++stale;
  }
  resp->set_latest_seq(*latest);
  resp->set_devices_total(total);
  auto open = open_conflicts_.Total(who.tenant_id);
  if (!open.ok()) return open.status();
  resp->set_open_conflicts(*open);
  resp->set_devices_stale_24h(stale);
  resp->set_active_subscribers(info_.active_subscribers ? info_.active_subscribers() : 0);
  if (info_.traffic != nullptr) {
    const TrafficCounts t = info_.traffic->Get(who.tenant_id);
    resp->set_pushes_total(t.pushes);
    resp->set_pulls_total(t.pulls);
    resp->set_mutations_applied(t.applied);
    resp->set_mutations_merged(t.merged);
    resp->set_mutations_conflict(t.conflict);
    resp->set_mutations_rejected(t.rejected);
  }
  return absl::OkStatus();
}

}  // namespace crmsync::server
