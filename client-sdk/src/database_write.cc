// Local-first writes: the local view and the outbox entry change in one
// SQLite transaction, so a crash leaves either both or neither.
#include "crmsync/client/database.h"
#include "crmsync/sync/change.h"
#include "crmsync/sync/record_model.h"
#include "ids.h"
#include "sqlite_db.h"
#include "state_keys.h"
#include "tables.h"

namespace crmsync::client {
namespace {

namespace pb = ::google::protobuf;

// The `id` field of the entity in `record` (empty when absent).
std::string EntityId(const v1::Record& record) {
  const pb::Message* e = sync::EntityOf(record);
  if (e == nullptr) return "";
  const pb::FieldDescriptor* f = e->GetDescriptor()->FindFieldByName("id");
  return f == nullptr ? "" : e->GetReflection()->GetString(*e, f);
}

void SetEntityId(v1::Record* record, const std::string& id) {
  pb::Message* e = sync::MutableEntity(record, sync::EntityTypeOf(*record));
  const pb::FieldDescriptor* f = e->GetDescriptor()->FindFieldByName("id");
  if (f != nullptr) e->GetReflection()->SetString(e, f, id);
}

absl::StatusOr<v1::RecordRef> RefOf(const v1::Record& values) {
  v1::RecordRef ref;
  ref.set_entity_type(sync::EntityTypeOf(values));
  if (ref.entity_type() == v1::ENTITY_TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError("the record holds no entity");
  }
  ref.set_id(EntityId(values));
  return ref;
}

absl::Status ToAbsl(const sync::Status& s) {
  if (s.ok()) return absl::OkStatus();
  switch (s.code()) {
    case sync::StatusCode::kNotFound: return absl::NotFoundError(s.message());
    case sync::StatusCode::kFailedPrecondition: return absl::FailedPreconditionError(s.message());
    default: return absl::InvalidArgumentError(s.message());
  }
}

}  // namespace

absl::StatusOr<v1::RecordState> Database::Create(const v1::Record& values) {
  v1::Record copy = values;
  if (EntityId(copy).empty() && sync::EntityOf(copy) != nullptr) {
    SetEntityId(&copy, internal::NewUuidV7(options_.clock->NowMs(), options_.random));
  }
  auto ref = RefOf(copy);
  if (!ref.ok()) return ref.status();
  LocalEdit edit;
  edit.ref = *ref;
  edit.values = std::move(copy);
  absl::MutexLock lock(&mu_);
  return WriteLocked(edit, /*is_create=*/true);
}

absl::StatusOr<v1::RecordState> Database::Update(const v1::Record& values,
                                                 const pb::FieldMask* mask) {
  auto ref = RefOf(values);
  if (!ref.ok()) return ref.status();
  if (ref->id().empty()) return absl::InvalidArgumentError("update needs the record's id");
  LocalEdit edit;
  edit.ref = *ref;
  edit.values = values;
  if (mask != nullptr) edit.mask = *mask;
  absl::MutexLock lock(&mu_);
  return WriteLocked(edit, /*is_create=*/false);
}

absl::StatusOr<v1::RecordState> Database::Delete(const v1::RecordRef& ref) {
  LocalEdit edit;
  edit.ref = ref;
  edit.operation = v1::OPERATION_DELETE;
  absl::MutexLock lock(&mu_);
  return WriteLocked(edit, /*is_create=*/false);
}

absl::StatusOr<v1::RecordState> Database::Apply(const LocalEdit& edit) {
  absl::MutexLock lock(&mu_);
  return WriteLocked(edit, /*is_create=*/false);
}

absl::StatusOr<v1::RecordState> Database::Merge(const v1::RecordRef& survivor,
                                                const v1::MergeSpec& spec) {
  LocalEdit edit;
  edit.ref = survivor;
  edit.operation = v1::OPERATION_MERGE;
  edit.merge = spec;
  absl::MutexLock lock(&mu_);
  return WriteLocked(edit, /*is_create=*/false);
}

absl::StatusOr<v1::RecordState> Database::WriteLocked(const LocalEdit& edit, bool is_create) {
  if (absl::Status s = Ready(); !s.ok()) return s;
  internal::Transaction tx(db_.get());
  if (!tx.status().ok()) return tx.status();
  auto next = WriteInTx(edit, is_create, /*recovered=*/nullptr);
  if (!next.ok()) return next.status();
  if (absl::Status s = tx.Commit(); !s.ok()) return s;
  if (write_listener_) write_listener_();
  return next;
}

absl::StatusOr<v1::RecordState> Database::WriteInTx(const LocalEdit& edit, bool is_create,
                                                    const v1::HlcTimestamp* recovered) {
  internal::SqliteDb* db = db_.get();
  auto row = internal::LoadRow(db, edit.ref);
  if (!row.ok()) return row.status();
  std::optional<v1::RecordState> server, local;
  if (*row) {
    server = (*row)->server;
    local = (*row)->local;
  }
  const bool creates_record = is_create || edit.operation == v1::OPERATION_REDEEM;
  if (is_create && local) {
    return absl::AlreadyExistsError("record " + edit.ref.id() + " already exists");
  }
  const bool resent_delete = recovered != nullptr && edit.operation == v1::OPERATION_DELETE;
  if (!creates_record && !local && !resent_delete) {
    return absl::NotFoundError("no record " + edit.ref.id() + " of type " +
                               v1::EntityType_Name(edit.ref.entity_type()));
  }
  const v1::EntityType type = edit.ref.entity_type();

  v1::Mutation m;
  *m.mutable_record() = edit.ref;
  m.set_operation(edit.operation);
  m.set_conflict_id(edit.conflict_id);
  m.set_recovered(recovered != nullptr);
  if (edit.operation == v1::OPERATION_MERGE) {
    *m.mutable_merge() = edit.merge;
  } else if (resent_delete) {
    // The scope the device held, so the server can keep a tombstone of a
    // record it no longer has where the same devices see it.
    *m.mutable_values() = edit.values;
  } else if (edit.operation != v1::OPERATION_DELETE) {
    pb::FieldMask mask = edit.mask;
    // No mask: every field that differs from the local view; for a
    // redemption (always a new record) every field set.
    if (mask.paths().empty() &&
        (edit.operation == v1::OPERATION_UPSERT || edit.operation == v1::OPERATION_REDEEM)) {
      mask = sync::ComputeFieldMask(local ? local->data() : v1::Record(), edit.values);
      if (mask.paths().empty()) {
        if (local) return *local;  // nothing changed: no outbox entry
        return absl::InvalidArgumentError("a create needs at least one field");
      }
    }
    v1::Record trimmed;
    if (sync::Status s = sync::ApplyFieldMask(edit.values, mask, type, &trimmed); !s.ok()) {
      return ToAbsl(s);
    }
    *m.mutable_values() = std::move(trimmed);
    if (local && !is_create) {
      v1::Record base;
      if (sync::Status s = sync::ApplyFieldMask(local->data(), mask, type, &base); !s.ok()) {
        return ToAbsl(s);
      }
      *m.mutable_base_values() = std::move(base);
    }
    *m.mutable_update_mask() = std::move(mask);
  }
  m.set_base_version(server && !server->deleted() ? server->version() : 0);

  auto next_seq = internal::GetState(db, internal::kKeyNextClientSeq);
  if (!next_seq.ok()) return next_seq.status();
  const int64_t seq = *next_seq ? std::stoll(**next_seq) : 1;
  m.set_client_seq(seq);
  *m.mutable_hlc() = hlc_.Now(options_.clock->NowMs());
  if (recovered != nullptr && recovered->wall_time_ms() > 0) *m.mutable_hlc() = *recovered;
  v1::Provenance* p = m.mutable_provenance();
  p->set_channel(options_.channel);
  p->set_precision(options_.precision);
  p->set_author_user_id(options_.user_id);
  p->set_device_id(device_id_);
  if (sync::Status s = sync::ValidateMutation(m); !s.ok()) return ToAbsl(s);

  v1::RecordState next = local ? *local : v1::RecordState();
  if (resent_delete && !local) {
    // Nothing held to delete: only the outbox entry is new.
    *next.mutable_ref() = edit.ref;
    next.set_deleted(true);
  } else if (sync::Status s = sync::ApplyMutationLocally(&next, m); !s.ok()) {
    return ToAbsl(s);
  }

  if (absl::Status s = internal::AppendOutbox(db, m); !s.ok()) return s;
  internal::RecordRow out{server, next.deleted() ? std::nullopt : std::optional(next)};
  if (absl::Status s = internal::WriteRow(db, edit.ref, out); !s.ok()) return s;
  if (absl::Status s = internal::SetState(db, internal::kKeyNextClientSeq, std::to_string(seq + 1));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = internal::SetState(db, internal::kKeyHlc, hlc_.Last().SerializeAsString());
      !s.ok()) {
    return s;
  }
  return next;
}

}  // namespace crmsync::client
