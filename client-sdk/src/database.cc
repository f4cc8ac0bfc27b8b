// Database: opening, reads of the local view, and sync-state accessors.
// Writes are in database_write.cc, queries in queries.cc, the engine's
// access in database_sync.cc.
#include "crmsync/client/database.h"

#include <unistd.h>

#include <cstdlib>

#include "ids.h"
#include "sqlite_db.h"
#include "state_keys.h"
#include "tables.h"

namespace crmsync::client {

using internal::SqliteDb;

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const DatabaseOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("DatabaseOptions.path is empty");
  auto db = SqliteDb::Open(options.path, options.key);
  if (!db.ok()) return db.status();
  std::unique_ptr<Random> owned;
  if (options.random == nullptr) owned = NewSystemRandom();
  std::unique_ptr<Database> out(new Database(options, *std::move(db), std::move(owned)));
  if (absl::Status s = out->Init(); !s.ok()) return s;
  return out;
}

Database::Database(DatabaseOptions options, std::unique_ptr<SqliteDb> db,
                   std::unique_ptr<Random> owned_random)
    : options_(std::move(options)),
      owned_random_(std::move(owned_random)),
      db_(std::move(db)),
      hlc_("") {
  if (options_.clock == nullptr) options_.clock = SystemClock();
  if (options_.random == nullptr) options_.random = owned_random_.get();
}

Database::~Database() = default;

absl::Status Database::Init() {
  absl::MutexLock lock(&mu_);  // not shared yet; keeps the analysis whole
  if (absl::Status s = internal::CreateSchema(db_.get()); !s.ok()) return s;
  internal::Transaction tx(db_.get());
  if (!tx.status().ok()) return tx.status();
  auto version = internal::GetState(db_.get(), internal::kKeySchemaVersion);
  if (!version.ok()) return version.status();
  // CreateSchema upgraded an older store; a newer one (an app downgrade)
  // is refused rather than misread.
  const int stored = *version ? std::atoi((*version)->c_str()) : 0;
  if (*version && (stored <= 0 || stored > internal::kSchemaVersion)) {
    return absl::FailedPreconditionError(
        "local store has schema version " + **version + "; this library reads versions up to " +
        std::to_string(internal::kSchemaVersion) + " (was the app downgraded?)");
  }
  if (stored != internal::kSchemaVersion) {
    if (auto s = internal::SetState(db_.get(), internal::kKeySchemaVersion,
                                    std::to_string(internal::kSchemaVersion));
        !s.ok()) {
      return s;
    }
  }
  auto device = internal::GetState(db_.get(), internal::kKeyDeviceId);
  if (!device.ok()) return device.status();
  if (*device) {
    device_id_ = **device;
  } else {
    device_id_ =
        options_.device_id.empty() ? internal::NewDeviceId(options_.random) : options_.device_id;
    if (auto s = internal::SetState(db_.get(), internal::kKeyDeviceId, device_id_); !s.ok()) {
      return s;
    }
  }
  // The user is remembered too, so tools can open the store without it.
  auto user = internal::GetState(db_.get(), internal::kKeyUserId);
  if (!user.ok()) return user.status();
  if (options_.user_id.empty() && *user) {
    options_.user_id = **user;
  } else if (!options_.user_id.empty() && (!*user || **user != options_.user_id)) {
    if (auto s = internal::SetState(db_.get(), internal::kKeyUserId, options_.user_id); !s.ok()) {
      return s;
    }
  }
  hlc_ = sync::HybridLogicalClock(device_id_);
  auto hlc = internal::GetState(db_.get(), internal::kKeyHlc);
  if (!hlc.ok()) return hlc.status();
  if (*hlc) {
    v1::HlcTimestamp last;
    if (last.ParseFromString(**hlc)) hlc_.Restore(last);
  }
  return tx.Commit();
}

absl::Status Database::Ready() const {
  if (db_ == nullptr) return absl::FailedPreconditionError("the local store was wiped");
  return absl::OkStatus();
}

absl::StatusOr<v1::RecordState> Database::Get(const v1::RecordRef& ref) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto row = internal::LoadRow(db_.get(), ref);
  if (!row.ok()) return row.status();
  if (!*row || !(*row)->local) {
    return absl::NotFoundError("no record " + ref.id() + " of type " +
                               v1::EntityType_Name(ref.entity_type()));
  }
  return *(*row)->local;
}

absl::StatusOr<std::optional<v1::RecordState>> Database::GetServerState(const v1::RecordRef& ref) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto row = internal::LoadRow(db_.get(), ref);
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<v1::RecordState>();
  return (*row)->server;
}

absl::StatusOr<std::vector<v1::RecordState>> Database::List(v1::EntityType type, int limit) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto st = db_->Prepare(
      "SELECT local_state FROM records WHERE entity_type=?1 AND local_state IS NOT NULL "
      "ORDER BY id LIMIT ?2");
  if (!st.ok()) return st.status();
  st->Bind(1, static_cast<int64_t>(type)).Bind(2, static_cast<int64_t>(limit > 0 ? limit : -1));
  return internal::CollectStates(&*st);
}

absl::StatusOr<int64_t> Database::PendingCount() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  return internal::CountOutbox(db_.get());
}

absl::StatusOr<std::vector<PendingMutation>> Database::Outbox(int limit) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  return internal::LoadOutbox(db_.get(), limit);
}

absl::StatusOr<std::string> Database::Cursor() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto v = internal::GetState(db_.get(), internal::kKeyCursor);
  if (!v.ok()) return v.status();
  return v->value_or("");
}

absl::StatusOr<int64_t> Database::LastSyncMs() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto v = internal::GetState(db_.get(), internal::kKeyLastSyncMs);
  if (!v.ok()) return v.status();
  return *v ? std::stoll(**v) : 0;
}

absl::StatusOr<std::string> Database::RefreshToken() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto v = internal::GetState(db_.get(), internal::kKeyRefreshToken);
  if (!v.ok()) return v.status();
  return v->value_or("");
}

absl::Status Database::SaveRefreshToken(const std::string& token) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  return internal::SetState(db_.get(), internal::kKeyRefreshToken, token);
}

absl::Status Database::SetOffline(bool offline) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  return internal::SetState(db_.get(), internal::kKeyOffline, offline ? "1" : "0");
}

absl::StatusOr<bool> Database::Offline() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto v = internal::GetState(db_.get(), internal::kKeyOffline);
  if (!v.ok()) return v.status();
  return *v && **v == "1";
}

absl::StatusOr<std::vector<Notice>> Database::Notices() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  auto st = db_->Prepare(
      "SELECT id, kind, entity_type, record_id, client_seq, message, at_ms FROM notices "
      "ORDER BY id");
  if (!st.ok()) return st.status();
  std::vector<Notice> out;
  while (st->Step()) {
    Notice n;
    n.id = st->Int(0);
    n.kind = st->Text(1);
    n.record.set_entity_type(static_cast<v1::EntityType>(st->Int(2)));
    n.record.set_id(st->Text(3));
    n.client_seq = st->Int(4);
    n.message = st->Text(5);
    n.at_ms = st->Int(6);
    out.push_back(std::move(n));
  }
  if (!st->status().ok()) return st->status();
  auto links = db_->Prepare("SELECT notice_id, conflict_id FROM notice_conflicts ORDER BY 2");
  if (!links.ok()) return links.status();
  while (links->Step()) {
    for (Notice& n : out) {
      if (n.id == links->Int(0)) n.conflict_ids.push_back(links->Text(1));
    }
  }
  if (!links->status().ok()) return links->status();
  return out;
}

absl::Status Database::ClearNotices() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  return db_->Exec("DELETE FROM notice_conflicts; DELETE FROM notices");
}

void Database::SetWriteListener(std::function<void()> listener) {
  absl::MutexLock lock(&mu_);
  write_listener_ = std::move(listener);
}

absl::Status Database::Wipe() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Ready(); !s.ok()) return s;
  db_.reset();  // closes the connection first
  absl::Status result;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const std::string file = options_.path + suffix;
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
      result = absl::InternalError("cannot delete " + file);
    }
  }
  return result;
}

}  // namespace crmsync::client
