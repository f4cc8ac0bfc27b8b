// Database::SyncAccess: adopting push results and pulled changes.
#include "database_sync.h"
#include "recovery.h"

#include <map>

#include "crmsync/sync/change.h"
#include "sqlite_db.h"
#include "state_keys.h"
#include "tables.h"

namespace crmsync::client {
namespace {

using internal::SqliteDb;

const char* NoticeKind(v1::MutationOutcome outcome) {
  switch (outcome) {
    case v1::MUTATION_OUTCOME_CONFLICT: return "conflict";
    case v1::MUTATION_OUTCOME_REJECTED: return "rejected";
    case v1::MUTATION_OUTCOME_MERGED: return "merged";
    default: return nullptr;
  }
}

ChangeEvent MakeChange(const v1::RecordRef& ref, const std::optional<v1::RecordState>& local) {
  ChangeEvent e;
  e.ref = ref;
  e.kind = local ? ChangeEvent::Kind::kUpserted : ChangeEvent::Kind::kRemoved;
  return e;
}

absl::Status ForgetStale(SqliteDb* db, const v1::RecordRef& ref) {
  auto st = db->Prepare("DELETE FROM reset_stale WHERE entity_type=?1 AND id=?2");
  if (!st.ok()) return st.status();
  return st->Bind(1, static_cast<int64_t>(ref.entity_type())).Bind(2, ref.id()).Run();
}

}  // namespace

absl::StatusOr<std::vector<PendingMutation>> Database::SyncAccess::OutboxBatch(int limit) {
  return db_->Outbox(limit);
}

absl::StatusOr<std::vector<PushEvent>> Database::SyncAccess::ApplyPushResults(
    const std::vector<v1::Mutation>& sent, const v1::PushResponse& response,
    std::vector<ChangeEvent>* changes) {
  absl::MutexLock lock(&db_->mu_);
  if (absl::Status s = db_->Ready(); !s.ok()) return s;
  SqliteDb* db = db_->db_.get();
  std::map<int64_t, const v1::Mutation*> by_seq;
  for (const auto& m : sent) by_seq[m.client_seq()] = &m;
  internal::Transaction tx(db);
  if (!tx.status().ok()) return tx.status();
  std::vector<PushEvent> events;
  const int64_t now_ms = db_->options_.clock->NowMs();
  for (const v1::MutationResult& result : response.results()) {
    auto it = by_seq.find(result.client_seq());
    if (it == by_seq.end()) return absl::InternalError("push result for an unsent client_seq");
    const v1::Mutation& m = *it->second;
    if (absl::Status s = internal::RemoveOutbox(db, m.client_seq()); !s.ok()) return s;
    auto row = internal::LoadRow(db, m.record());
    if (!row.ok()) return row.status();
    std::optional<v1::RecordState> server;
    if (*row) server = (*row)->server;
    if (result.has_record() && result.record().ref().id() == m.record().id() &&
        (!server || result.record().version() >= server->version())) {
      server = result.record();
    }
    auto local = internal::RebaseRow(db, m.record(), server);
    if (!local.ok()) return local.status();
    if (changes != nullptr) changes->push_back(MakeChange(m.record(), *local));
    if (result.has_record() && (result.record().ref().id() != m.record().id() ||
                                result.record().ref().entity_type() != m.record().entity_type())) {
      // An edit of a record merged into another, applied to the survivor:
      // the survivor's copy moves on at once (the tombstone comes with the
      // next pull).
      const v1::RecordRef& to = result.record().ref();
      auto held = internal::LoadRow(db, to);
      if (!held.ok()) return held.status();
      if (*held && (!(*held)->server || result.record().version() >= (*held)->server->version())) {
        auto rebased = internal::RebaseRow(db, to, result.record());
        if (!rebased.ok()) return rebased.status();
        if (changes != nullptr) changes->push_back(MakeChange(to, *rebased));
      }
    }
    if (const char* kind = NoticeKind(result.outcome())) {
      Notice n;
      n.kind = kind;
      n.record = m.record();
      n.client_seq = m.client_seq();
      n.message = result.message();
      n.at_ms = now_ms;
      n.conflict_ids.assign(result.conflict_ids().begin(), result.conflict_ids().end());
      if (absl::Status s = internal::AddNotice(db, n); !s.ok()) return s;
      events.push_back(PushEvent{m, result});
    }
  }
  if (response.has_server_hlc()) {
    db_->hlc_.Receive(response.server_hlc(), now_ms);
    if (auto s = internal::SetState(db, internal::kKeyHlc, db_->hlc_.Last().SerializeAsString());
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = tx.Commit(); !s.ok()) return s;
  return events;
}

absl::StatusOr<std::vector<ChangeEvent>> Database::SyncAccess::ApplyPullPage(
    const v1::PullResponse& page) {
  absl::MutexLock lock(&db_->mu_);
  if (absl::Status s = db_->Ready(); !s.ok()) return s;
  SqliteDb* db = db_->db_.get();
  internal::Transaction tx(db);
  if (!tx.status().ok()) return tx.status();
  auto resetting = internal::GetState(db, internal::kKeyResetting);
  if (!resetting.ok()) return resetting.status();
  const bool in_reset = *resetting && **resetting == "1";
  std::vector<ChangeEvent> events;
  bool erased = false;
  for (const v1::Change& change : page.changes()) {
    auto row = internal::LoadRow(db, change.record());
    if (!row.ok()) return row.status();
    std::optional<v1::RecordState> server;
    // A re-bootstrap rebuilds every record from scratch, so a corrupt
    // replica is replaced even where versions match.
    if (*row && !in_reset) server = (*row)->server;
    v1::RecordState next = server ? *server : v1::RecordState();
    auto action = sync::ApplyChange(&next, change);
    if (!action.ok()) {
      return absl::DataLossError("cannot apply change " + std::to_string(change.seq()) + ": " +
                                 action.status().message());
    }
    if (in_reset) {
      if (absl::Status s = ForgetStale(db, change.record()); !s.ok()) return s;
    }
    if (*action == sync::ReplicaAction::kUnchanged) continue;
    if (*action == sync::ReplicaAction::kRemove) {
      server.reset();
      if (change.kind() == v1::CHANGE_KIND_ERASED) {
        erased = true;
        // Erasure reaches pending edits too: nothing of the person stays.
        auto st = db->Prepare("DELETE FROM outbox WHERE entity_type=?1 AND record_id=?2");
        if (!st.ok()) return st.status();
        st->Bind(1, static_cast<int64_t>(change.record().entity_type()))
            .Bind(2, change.record().id());
        if (absl::Status s = st->Run(); !s.ok()) return s;
      }
    } else {
      server = std::move(next);
    }
    if (change.record().entity_type() == v1::ENTITY_TYPE_CONFLICT &&
        (!server || server->data().conflict().status() != v1::CONFLICT_STATUS_OPEN)) {
      if (absl::Status s = internal::SettleConflictNotices(db, change.record().id()); !s.ok()) {
        return s;
      }
    }
    auto local = internal::RebaseRow(db, change.record(), server);
    if (!local.ok()) return local.status();
    events.push_back(MakeChange(change.record(), *local));
  }
  if (auto s = internal::SetState(db, internal::kKeyCursor, page.next_cursor()); !s.ok()) {
    return s;
  }
  if (page.has_server_hlc()) {
    db_->hlc_.Receive(page.server_hlc(), db_->options_.clock->NowMs());
    if (auto s = internal::SetState(db, internal::kKeyHlc, db_->hlc_.Last().SerializeAsString());
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = tx.Commit(); !s.ok()) return s;
  if (erased) {
    // The write-ahead log still holds the pages as they were before the
    // erasure: copy the zeroed pages back into the file and empty the log.
    if (absl::Status s = db->Exec("PRAGMA wal_checkpoint(TRUNCATE)"); !s.ok()) return s;
  }
  return events;
}

absl::Status Database::SyncAccess::BeginReset(bool recover) {
  absl::MutexLock lock(&db_->mu_);
  if (absl::Status s = db_->Ready(); !s.ok()) return s;
  SqliteDb* db = db_->db_.get();
  internal::Transaction tx(db);
  if (!tx.status().ok()) return tx.status();
  if (absl::Status s =
          db->Exec("DELETE FROM reset_stale; INSERT INTO reset_stale(entity_type, id) "
                   "SELECT entity_type, id FROM records WHERE server_state IS NOT NULL");
      !s.ok()) {
    return s;
  }
  if (recover) {
    // The replica of the old history, compared with the new one once the
    // bootstrap completes. A recovery already pending keeps its copy (this
    // replica may be half rebuilt from the new history).
    if (absl::Status s =
            db->Exec("INSERT INTO recovery(entity_type, id, state) "
                     "SELECT entity_type, id, server_state FROM records "
                     "WHERE server_state IS NOT NULL AND NOT EXISTS (SELECT 1 FROM recovery)");
        !s.ok()) {
      return s;
    }
  }
  if (auto s = internal::SetState(db, internal::kKeyCursor, ""); !s.ok()) return s;
  if (auto s = internal::SetState(db, internal::kKeyResetting, "1"); !s.ok()) return s;
  return tx.Commit();
}

absl::StatusOr<std::vector<ChangeEvent>> Database::SyncAccess::FinishReset() {
  absl::MutexLock lock(&db_->mu_);
  if (absl::Status s = db_->Ready(); !s.ok()) return s;
  SqliteDb* db = db_->db_.get();
  internal::Transaction tx(db);
  if (!tx.status().ok()) return tx.status();
  std::vector<ChangeEvent> events;
  auto resetting = internal::GetState(db, internal::kKeyResetting);
  if (!resetting.ok()) return resetting.status();
  if (!*resetting || **resetting != "1") return events;
  auto st = db->Prepare("SELECT entity_type, id FROM reset_stale");
  if (!st.ok()) return st.status();
  std::vector<v1::RecordRef> stale;
  while (st->Step()) {
    v1::RecordRef ref;
    ref.set_entity_type(static_cast<v1::EntityType>(st->Int(0)));
    ref.set_id(st->Text(1));
    stale.push_back(std::move(ref));
  }
  if (!st->status().ok()) return st->status();
  if (absl::Status s = RecoverLocked(stale, &events); !s.ok()) return s;
  for (const auto& ref : stale) {
    // Gone from the server's view: drop the replica; pending edits remain
    // queued and the server's answer decides them.
    auto local = internal::RebaseRow(db, ref, std::nullopt);
    if (!local.ok()) return local.status();
    events.push_back(MakeChange(ref, *local));
  }
  if (absl::Status s = db->Exec("DELETE FROM reset_stale"); !s.ok()) return s;
  if (auto s = internal::SetState(db, internal::kKeyResetting, "0"); !s.ok()) return s;
  if (absl::Status s = tx.Commit(); !s.ok()) return s;
  return events;
}

absl::Status Database::SyncAccess::RecoverLocked(const std::vector<v1::RecordRef>& stale,
                                                 std::vector<ChangeEvent>* events) {
  SqliteDb* db = db_->db_.get();
  auto kept = db->Prepare("SELECT state FROM recovery");
  if (!kept.ok()) return kept.status();
  std::vector<v1::RecordState> held;
  while (kept->Step()) {
    if (!held.emplace_back().ParseFromString(kept->Blob(0))) {
      return absl::DataLossError("corrupt recovery record");
    }
  }
  if (!kept->status().ok()) return kept->status();
  auto is_stale = [&](const v1::RecordRef& ref) {
    for (const auto& s : stale) {
      if (s.entity_type() == ref.entity_type() && s.id() == ref.id()) return true;
    }
    return false;
  };
  for (const v1::RecordState& h : held) {
    auto row = internal::LoadRow(db, h.ref());
    if (!row.ok()) return row.status();
    // Records the bootstrap did not return are gone from the server (or from
    // the device's scope): they still hold the old copy until dropped below.
    std::optional<v1::RecordState> server;
    if (*row && !is_stale(h.ref())) server = (*row)->server;
    std::vector<internal::RecoveryEdit> edits = internal::RecoveryEdits(h, server);
    if (edits.empty()) continue;
    if (edits.front().create) {
      // One create carries the record as the device saw it, its unsent
      // edits included; those edits (based on a version of the old
      // history, unknown to the server) are folded into it.
      if (*row && (*row)->local) edits.front().edit.values = (*row)->local->data();
      auto drop = db->Prepare("DELETE FROM outbox WHERE entity_type=?1 AND record_id=?2");
      if (!drop.ok()) return drop.status();
      drop->Bind(1, static_cast<int64_t>(h.ref().entity_type())).Bind(2, h.ref().id());
      if (absl::Status s = drop->Run(); !s.ok()) return s;
      if (absl::Status s = internal::WriteRow(db, h.ref(), {}); !s.ok()) return s;
      if (absl::Status s = ForgetStale(db, h.ref()); !s.ok()) return s;
    }
    for (const internal::RecoveryEdit& r : edits) {
      auto written = db_->WriteInTx(r.edit, r.create, /*recovered=*/&r.hlc);
      if (!written.ok()) {
        // A value this device may not write (validation, a record gone
        // locally): nothing to re-send for it.
        if (absl::IsInvalidArgument(written.status()) || absl::IsNotFound(written.status()) ||
            absl::IsAlreadyExists(written.status())) {
          continue;
        }
        return written.status();
      }
      // A delete re-sent for a record no longer held changes nothing shown.
      if (*row) events->push_back(MakeChange(h.ref(), *written));
    }
  }
  return db->Exec("DELETE FROM recovery");
}

absl::Status Database::SyncAccess::ObserveServerHlc(const v1::HlcTimestamp& server) {
  absl::MutexLock lock(&db_->mu_);
  if (absl::Status s = db_->Ready(); !s.ok()) return s;
  db_->hlc_.Receive(server, db_->options_.clock->NowMs());
  return internal::SetState(db_->db_.get(), internal::kKeyHlc,
                            db_->hlc_.Last().SerializeAsString());
}

absl::Status Database::SyncAccess::SetLastSync(int64_t now_ms) {
  absl::MutexLock lock(&db_->mu_);
  if (absl::Status s = db_->Ready(); !s.ok()) return s;
  return internal::SetState(db_->db_.get(), internal::kKeyLastSyncMs, std::to_string(now_ms));
}

absl::StatusOr<int64_t> Database::SyncAccess::LastRepairMs() {
  absl::MutexLock lock(&db_->mu_);
  if (absl::Status s = db_->Ready(); !s.ok()) return s;
  auto v = internal::GetState(db_->db_.get(), internal::kKeyLastRepairMs);
  if (!v.ok()) return v.status();
  return *v ? std::stoll(**v) : 0;
}

absl::Status Database::SyncAccess::SetLastRepairMs(int64_t now_ms) {
  absl::MutexLock lock(&db_->mu_);
  if (absl::Status s = db_->Ready(); !s.ok()) return s;
  return internal::SetState(db_->db_.get(), internal::kKeyLastRepairMs, std::to_string(now_ms));
}

}  // namespace crmsync::client
