// AdminService: ImportRecords and GetImport, bulk import (crmctl import).
//
// Each import is a server-side device of the tenant, "import:<import_id>"
// (platform "server", so it is not listed among users' devices), and each
// row is a mutation of that device with client_seq = the row number. The
// push path then gives an import everything a device's sync has: the same
// validation, scope, merge policies, conflicts and duplicate checks, one
// transaction per batch, and exactly-once rows (a retried row returns its
// stored result; Device.last_client_seq says how far the import got).
//
// Rows are made deterministic from the request alone, so that a retried
// batch hashes the same: their clock is the import's start (every row of
// an import is one write as of that moment, later rows winning over
// earlier ones by their row number), not the time of the attempt.
#include <algorithm>
#include <cstdint>

#include "absl/strings/str_join.h"

#include "admin_handler.h"
#include "admin_writer.h"
#include "crmsync/sync/entity_catalog.h"
#include "store/store_codec.h"
#include "version.h"

namespace crmsync::server {

namespace codec = store_codec;

namespace {

constexpr char kImportDevicePrefix[] = "import:";
constexpr size_t kMaxImportIdLength = 64;

absl::Status CheckImportId(const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("import_id is required");
  if (id.size() > kMaxImportIdLength) {
    return absl::InvalidArgumentError("import_id is longer than 64 characters");
  }
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError("import_id \"" + id +
                                        "\" may only contain letters, digits, '.', '_' and '-'");
    }
  }
  return absl::OkStatus();
}

std::string ImportDeviceId(const std::string& import_id) { return kImportDevicePrefix + import_id; }

// The key of an import among those running on this instance.
std::string ImportKey(const std::string& tenant_id, const std::string& import_id) {
  return tenant_id + '\n' + import_id;
}

// How long a batch waits for the one it follows to be applied on this
// instance: far longer than a batch takes; it guards against one that hangs.
constexpr absl::Duration kFollowWait = absl::Seconds(30);

// Whether rows of `type` may be imported: customer data only (what an
// integration may write), not the server's conflicts and duplicate flags.
const char* RefusedType(v1::EntityType type) {
  const sync::EntitySpec* spec = sync::EntityCatalog::Default().Find(type);
  if (spec == nullptr) return "unknown entity type";
  if (spec->access() != v1::ACCESS_RULE_CRM || type == v1::ENTITY_TYPE_CONFLICT ||
      type == v1::ENTITY_TYPE_POSSIBLE_DUPLICATE) {
    return "only customer data (accounts, contacts, leads, opportunities, activities, calendar "
           "events) can be imported";
  }
  return nullptr;
}

void ToRowResult(const v1::MutationResult& r, int64_t row, v1::ImportRowResult* out) {
  out->set_row(row);
  out->set_outcome(r.outcome());
  out->set_reject_reason(r.reject_reason());
  out->set_change_seq(r.change_seq());
  std::string message = r.message();
  // What the push path says of a device's client_seq, said of rows.
  if (r.reject_reason() == v1::REJECT_REASON_CLIENT_SEQ_REUSED) {
    message = "row " + std::to_string(row) +
              " of this import was loaded before with other values (or another channel or "
              "precision); it was not changed. Load changed data under a new import_id";
  } else if (r.reject_reason() == v1::REJECT_REASON_RESULT_PRUNED) {
    message = "row " + std::to_string(row) +
              " was loaded before, in a batch before the one this import is at; it was not "
              "applied again";
  }
  if (!r.server_kept_fields().empty()) {
    if (!message.empty()) message += "; ";
    message +=
        "stored values kept by their merge policy: " + absl::StrJoin(r.server_kept_fields(), ", ");
  }
  if (!r.conflict_ids().empty()) {
    if (!message.empty()) message += "; ";
    message += "conflicts opened: " + absl::StrJoin(r.conflict_ids(), ", ");
  }
  out->set_message(std::move(message));
}

v1::ImportRowResult RefusedRow(int64_t row, v1::RejectReason reason, std::string message) {
  v1::ImportRowResult r;
  r.set_row(row);
  r.set_outcome(v1::MUTATION_OUTCOME_REJECTED);
  r.set_reject_reason(reason);
  r.set_message(std::move(message));
  return r;
}

}  // namespace

absl::StatusOr<DeviceRow> AdminHandler::ImportDevice(const Principal& who, const AdminContext& ctx,
                                                     const std::string& import_id, bool create) {
  const std::string device_id = ImportDeviceId(import_id);
  auto device = store_->directory().GetDevice(who.tenant_id, device_id);
  if (!device.ok()) return device.status();
  if (*device) {
    if (!IsServerDevice((*device)->device)) {
      return absl::FailedPreconditionError(
          "device id " + device_id + " is taken by a user's device; choose another import_id");
    }
    return **device;
  }
  if (!create) {
    return absl::NotFoundError("no import \"" + import_id + "\" in this tenant");
  }
  DeviceRow row = ServerDeviceRow(who, device_id, clock_->NowMs());
  row.device.set_model("import");
  if (auto s = store_->directory().PutDevice(row); !s.ok()) return s;
  // Two first batches of one import on two instances may both get here;
  // the device row is the same either way. The re-read gives the stored
  // start time, which every row's clock is taken from.
  auto stored = store_->directory().GetDevice(who.tenant_id, device_id);
  if (!stored.ok()) return stored.status();
  if (!*stored) return absl::InternalError("import device " + device_id + " vanished");
  if (auto s = audit_->Record(auth::AuditEvent(who.tenant_id, "import_started", who.user_id,
                                               who.device_id, "import:" + import_id, "", ctx.peer));
      !s.ok()) {
    return s;
  }
  return **stored;
}

absl::Status AdminHandler::AwaitFollowedRow(const Principal& who, const std::string& import_id,
                                            int64_t follows, int64_t* through) {
  const std::string key = ImportKey(who.tenant_id, import_id);
  {
    absl::MutexLock lock(&imports_mu_);
    // A batch of this import on this instance may be applying that row:
    // wait until none is, or the row is in.
    ImportActivity& activity = imports_[key];  // kept while this batch waits
    ++activity.waiting;
    auto settled = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(imports_mu_) {
      return activity.running == 0 || activity.through >= follows;
    };
    imports_mu_.AwaitWithTimeout(absl::Condition(&settled), kFollowWait);
    // Set once that batch and its position were stored.
    *through = std::max(*through, activity.through);
    if (--activity.waiting == 0 && activity.running == 0) imports_.erase(key);
  }
  if (*through < follows) {
    // Applied elsewhere meanwhile (another instance), or not at all.
    auto device = store_->directory().GetDevice(who.tenant_id, ImportDeviceId(import_id));
    if (!device.ok()) return device.status();
    if (*device) *through = std::max(*through, (*device)->device.last_client_seq());
  }
  if (*through >= follows) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "this batch follows row " + std::to_string(follows) + ", which import " + import_id +
      " does not hold yet (it holds rows up to " + std::to_string(*through) +
      "); send it again once the batch ending at row " + std::to_string(follows) + " is answered");
}

absl::Status AdminHandler::ImportRecords(const Principal& who, const AdminContext& ctx,
                                         const v1::ImportRecordsRequest& req,
                                         v1::ImportRecordsResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  if (auto s = CheckImportId(req.import_id()); !s.ok()) return s;
  v1::Channel channel =
      req.channel() == v1::CHANNEL_UNSPECIFIED ? v1::CHANNEL_IMPORT : req.channel();
  if (!v1::Channel_IsValid(channel) || channel == v1::CHANNEL_SYSTEM) {
    return absl::InvalidArgumentError("channel: " + std::to_string(req.channel()) +
                                      " is not a channel an import may write through");
  }
  v1::Precision precision =
      req.precision() == v1::PRECISION_UNSPECIFIED ? v1::PRECISION_REPORTED : req.precision();
  if (!v1::Precision_IsValid(precision)) {
    return absl::InvalidArgumentError("precision: unknown value " +
                                      std::to_string(req.precision()));
  }
  if (req.rows_size() > push_->max_batch()) {
    return absl::ResourceExhaustedError("batch of " + std::to_string(req.rows_size()) +
                                        " rows exceeds the limit of " +
                                        std::to_string(push_->max_batch()) + "; split it");
  }
  if (req.follows_row() < 0) {
    return absl::InvalidArgumentError("follows_row must not be negative");
  }
  if (req.has_results_kept_through() && req.results_kept_through() < 0) {
    return absl::InvalidArgumentError("results_kept_through must not be negative");
  }
  if (req.rows_size() > 0 && req.follows_row() >= req.rows(0).row()) {
    return absl::InvalidArgumentError("follows_row " + std::to_string(req.follows_row()) +
                                      " must be below the batch's first row " +
                                      std::to_string(req.rows(0).row()));
  }
  for (int i = 0; i < req.rows_size(); ++i) {
    const int64_t row = req.rows(i).row();
    if (row <= 0) {
      return absl::InvalidArgumentError("rows[" + std::to_string(i) + "]: row must be positive");
    }
    if (i > 0 && row <= req.rows(i - 1).row()) {
      return absl::InvalidArgumentError(
          "rows[" + std::to_string(i) + "]: row " + std::to_string(row) + " does not follow row " +
          std::to_string(req.rows(i - 1).row()) + " (rows must strictly increase)");
    }
  }
  // A batch that follows another one finds the import started by it.
  auto device = ImportDevice(who, ctx, req.import_id(),
                             /*create=*/req.rows_size() > 0 && req.follows_row() == 0);
  if (absl::IsNotFound(device.status()) && req.follows_row() > 0) {
    return absl::FailedPreconditionError(
        "this batch follows row " + std::to_string(req.follows_row()) + ", but import " +
        req.import_id() + " has not started; send it again once the batch ending at row " +
        std::to_string(req.follows_row()) + " is answered");
  }
  if (!device.ok()) return device.status();
  const int64_t started_ms = codec::ToUnixMs(device->device.registered_at());
  int64_t through = device->device.last_client_seq();
  Principal importer = who;
  importer.device_id = device->device.id();
  v1::PushRequest push;
  push.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  std::vector<v1::ImportRowResult> results(req.rows_size());
  std::vector<int> pushed;  // index in req.rows of each mutation
  for (int i = 0; i < req.rows_size(); ++i) {
    const v1::ImportRow& row = req.rows(i);
    if (const char* why = RefusedType(row.record().entity_type())) {
      results[i] =
          RefusedRow(row.row(), v1::REJECT_REASON_PERMISSION_DENIED,
                     std::string(v1::EntityType_Name(row.record().entity_type())) + ": " + why);
      continue;
    }
    v1::Mutation& m = *push.add_mutations();
    m.set_client_seq(row.row());
    *m.mutable_record() = row.record();
    m.set_operation(v1::OPERATION_UPSERT);
    *m.mutable_update_mask() = row.update_mask();
    *m.mutable_values() = row.values();
    m.mutable_hlc()->set_wall_time_ms(started_ms);
    m.mutable_hlc()->set_logical(static_cast<uint32_t>(std::min<int64_t>(row.row(), UINT32_MAX)));
    m.mutable_hlc()->set_node_id(importer.device_id);
    m.mutable_provenance()->set_author_user_id(who.user_id);
    m.mutable_provenance()->set_device_id(importer.device_id);
    m.mutable_provenance()->set_channel(channel);
    m.mutable_provenance()->set_precision(precision);
    pushed.push_back(i);
  }
  // Built above while the batch this one follows may still be applied:
  // only applying it waits.
  if (req.follows_row() > through) {
    if (auto s = AwaitFollowedRow(who, req.import_id(), req.follows_row(), &through); !s.ok()) {
      return s;
    }
  }
  // This batch is being applied here: one that follows it waits for it.
  const std::string key = ImportKey(who.tenant_id, req.import_id());
  {
    absl::MutexLock lock(&imports_mu_);
    ++imports_[key].running;
  }
  int64_t applied_through = 0;  // set once the batch and its position are stored
  struct Running {
    AdminHandler* self;
    const std::string& key;
    const int64_t& applied_through;
    ~Running() {
      absl::MutexLock lock(&self->imports_mu_);
      auto it = self->imports_.find(key);
      it->second.through = std::max(it->second.through, applied_through);
      if (--it->second.running == 0 && it->second.waiting == 0) self->imports_.erase(it);
    }
  } running{this, key, applied_through};

  if (!pushed.empty()) {
    // The rows below this batch are settled (batches come in order, each
    // after the previous one's answer), or those the client says it kept:
    // their stored results go.
    int64_t kept = push.mutations(0).client_seq() - 1;
    if (req.has_results_kept_through()) kept = std::min(kept, req.results_kept_through());
    push.set_results_acked_through(kept);
    v1::PushResponse answer;
    const int64_t last_row = push.mutations(push.mutations_size() - 1).client_seq();
    // A batch that follows this one may start as soon as this one is
    // stored: its transaction then begins while this one records the
    // device's contact and answers.
    auto stored = [&] {
      absl::MutexLock lock(&imports_mu_);
      ImportActivity& activity = imports_[key];
      activity.through = std::max(activity.through, last_row);
    };
    if (auto s = push_->Push(importer, push, &answer, false, stored); !s.ok()) return s;
    if (answer.results_size() != static_cast<int>(pushed.size())) {
      return absl::InternalError("push answered " + std::to_string(answer.results_size()) +
                                 " results for " + std::to_string(pushed.size()) + " rows");
    }
    for (size_t k = 0; k < pushed.size(); ++k) {
      ToRowResult(answer.results(static_cast<int>(k)), req.rows(pushed[k]).row(),
                  &results[pushed[k]]);
    }
    through = std::max(through, last_row);
    applied_through = through;
  }
  // Rows refused before the push path at the batch's end are answered too:
  // the import holds them, so that a batch following them is taken.
  if (req.rows_size() > 0 && req.rows(req.rows_size() - 1).row() > through) {
    DeviceContact contact;
    contact.now_unix_ms = clock_->NowMs();
    contact.last_client_seq = req.rows(req.rows_size() - 1).row();
    if (auto s = store_->directory().TouchDevice(who.tenant_id, importer.device_id, contact);
        !s.ok()) {
      return s;
    }
    through = contact.last_client_seq;
    applied_through = through;
  }
  for (auto& r : results) *resp->add_results() = std::move(r);
  resp->set_rows_through(through);
  resp->set_takes_follows_row(true);
  return absl::OkStatus();
}

absl::Status AdminHandler::GetImport(const Principal& who, const v1::GetImportRequest& req,
                                     v1::GetImportResponse* resp) {
  if (auto s = RequireAdmin(who); !s.ok()) return s;
  if (auto s = CheckImportId(req.import_id()); !s.ok()) return s;
  auto device = ImportDevice(who, AdminContext{}, req.import_id(), /*create=*/false);
  if (!device.ok()) return device.status();
  resp->set_import_id(req.import_id());
  resp->set_rows_through(device->device.last_client_seq());
  *resp->mutable_started_at() = device->device.registered_at();
  *resp->mutable_last_batch_at() = device->device.last_contact_at();
  resp->set_started_by_user_id(device->device.user_id());
  return absl::OkStatus();
}

}  // namespace crmsync::server
