// SimStore: the simulation's Store decorator around the real SqliteStore.
// It injects write failures (a WriteTx operation or the commit fails, and the
// transaction rolls back; or the commit succeeds and its answer is lost),
// lets the simulation serve requests while a write transaction is open, and
// shows the simulation what each pushed mutation was merged against.
// Every decision comes from a StoreScript (the SimWorld), so a seed replays.
#ifndef CRMSYNC_TESTS_SIM_SIM_STORE_H_
#define CRMSYNC_TESTS_SIM_SIM_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"

namespace crmsync::sim {

// What the simulation decides and observes at the store.
class StoreScript {
 public:
  virtual ~StoreScript() = default;
  // Whether the store operation `what` fails now (a failure to inject), e.g.
  // "PutRecord", "commit", "commit_lost", "TouchDevice".
  virtual std::optional<absl::Status> WriteFault(const char* what) = 0;
  // A write transaction starts (again, if the store re-runs it).
  virtual void WriteAttempt() = 0;
  // Inside the transaction, after its callback succeeded, before COMMIT:
  // the simulation may serve other requests (reads) here.
  virtual void BeforeCommit() = 0;
  // The merge of (device, client_seq) is about to read its record: `tx`
  // (undecorated) shows the record as the merge will see it.
  virtual void MutationStarting(server::WriteTx& tx, const std::string& device,
                                int64_t client_seq) = 0;
  // The result of a newly applied mutation is being stored.
  virtual void MutationApplied(const server::AppliedMutation& applied) = 0;
  // The write transaction ended; `committed` tells whether its changes are
  // in the store (also when the caller was told otherwise).
  virtual void WriteEnded(bool committed) = 0;
};

// Deliberately broken stores, for proving that the simulation catches the
// bugs they cause (SimWorldOptions::variant). The server code is the
// production code; only the store under it misbehaves.
struct SimStoreOptions {
  // "cursor-before-commit" (with a pull that trusts LatestSeq, see
  // SimWorld): LatestSeq counts the sequences an open transaction took, as
  // a PostgreSQL SEQUENCE would (see docs/storage.md for why crmsync does
  // not use one).
  bool sequence_visible_before_commit = false;
  // "no-dedup": the exactly-once log forgets: GetApplied finds nothing, so
  // a retried mutation is applied again; the first stored result is kept.
  bool forget_applied_mutations = false;
  // "drop-conflicts": new Conflict records are not written (conflicts are
  // decided but never surfaced).
  bool drop_new_conflicts = false;
  // "scope-at-page-start": ScopesDuring(from, to) answers for (to, to), so a
  // multi-page pull judges what a device may hold from the start of the
  // page instead of the start of the catch-up.
  bool scopes_from_window_end = false;
};

// Not thread-safe (the simulation is single-threaded). `inner` and
// `script` must outlive it. It decorates two roles of `inner`: the change
// log (write transactions, LatestSeq) and the directory (TouchDevice);
// credentials and the audit trail are `inner`'s own.
class SimStore final : public server::Store {
 public:
  SimStore(server::Store* inner, StoreScript* script, SimStoreOptions options)
      : inner_(inner), script_(script), options_(options), changes_(this), directory_(this) {
    changes_.SetFieldHistoryDepth(inner_->changes().field_history_depth());
  }

  // Turns fault injection and the script's hooks on or off (off while the
  // world is seeded and checked).
  void set_active(bool active) { active_ = active; }

  std::string Kind() const override { return inner_->Kind(); }
  absl::Status Migrate() override { return inner_->Migrate(); }
  absl::StatusOr<int> SchemaVersion() override { return inner_->SchemaVersion(); }
  PoolStats Pool() override { return inner_->Pool(); }
  server::ChangeLog& changes() override { return changes_; }
  server::Directory& directory() override { return directory_; }
  server::Credentials& credentials() override { return inner_->credentials(); }
  server::AuditTrail& audit() override { return inner_->audit(); }

 private:
  class Tx;

  // The change log: Write with injected failures and the script's hooks;
  // LatestSeq as the broken variant wants it; the rest is inner's.
  class Changes final : public server::ChangeLog {
   public:
    explicit Changes(SimStore* store) : store_(store) {}

   protected:
    absl::Status DoWrite(const std::string& tenant_id,
                         const std::function<absl::Status(server::WriteTx&)>& fn) override;
    absl::StatusOr<int64_t> DoLatestSeq(const std::string& tenant_id) override;
    absl::StatusOr<std::vector<server::RecordRow>> DoReadSince(const std::string& tenant_id,
                                                               int64_t after_version,
                                                               int limit) override {
      return inner().ReadSince(tenant_id, after_version, limit);
    }
    absl::StatusOr<std::vector<server::RecordRow>> DoReadTypeSince(const std::string& tenant_id,
                                                                   v1::EntityType type,
                                                                   int64_t after_version,
                                                                   int limit) override {
      return inner().ReadTypeSince(tenant_id, type, after_version, limit);
    }
    absl::StatusOr<std::optional<v1::RecordState>> DoGetRecord(const std::string& tenant_id,
                                                               const v1::RecordRef& ref) override {
      return inner().GetRecord(tenant_id, ref);
    }
    absl::StatusOr<std::vector<v1::ScopeKeys>> DoScopesDuring(const std::string& tenant_id,
                                                              const v1::RecordRef& ref,
                                                              int64_t from, int64_t to) override {
      if (store_->options_.scopes_from_window_end) from = to;
      return inner().ScopesDuring(tenant_id, ref, from, to);
    }
    absl::StatusOr<std::vector<v1::RecordState>> DoFindIndexed(
        const std::string& tenant_id, server::IndexKind kind, v1::EntityType type,
        const std::vector<server::KeyRange>& ranges, int limit) override {
      return inner().FindIndexed(tenant_id, kind, type, ranges, limit);
    }
    absl::StatusOr<server::FeedState> DoGetFeedState(const std::string& tenant_id) override {
      return inner().GetFeedState(tenant_id);
    }
    absl::Status DoStartNewHistory(const std::string& tenant_id) override {
      return inner().StartNewHistory(tenant_id);
    }
    absl::StatusOr<int64_t> DoPrunedThrough(const std::string& tenant_id) override {
      return inner().PrunedThrough(tenant_id);
    }
    absl::StatusOr<int64_t> DoPrune(const std::string& tenant_id, int64_t horizon) override {
      return inner().Prune(tenant_id, horizon);
    }
    absl::StatusOr<int64_t> DoScrubAppliedResults(const std::string& tenant_id,
                                                  const v1::RecordRef& ref) override {
      return inner().ScrubAppliedResults(tenant_id, ref);
    }
    // Field history is written and kept by the inner store (its depth, which
    // the constructor copies here).
    absl::StatusOr<std::vector<std::string>> DoReadFieldHistory(const std::string& tenant_id,
                                                                const v1::RecordRef& ref,
                                                                const std::string& path,
                                                                int limit) override {
      auto entries = inner().ReadFieldHistory(tenant_id, ref, path, limit);
      if (!entries.ok()) return entries.status();
      std::vector<std::string> out;
      for (const v1::FieldHistoryEntry& e : *entries) out.push_back(e.SerializeAsString());
      return out;
    }
    absl::StatusOr<int64_t> DoTrimFieldHistory(const std::string& tenant_id, int) override {
      return inner().TrimFieldHistory(tenant_id);
    }

   private:
    server::ChangeLog& inner() { return store_->inner_->changes(); }
    SimStore* store_;
  };

  // The directory: TouchDevice may fail (injected), and while a write
  // transaction is open (a request served inside it) the update waits for
  // that transaction to end, as it would wait for the write lock.
  class Dir final : public server::Directory {
   public:
    explicit Dir(SimStore* store) : store_(store) {}

    absl::Status PutTenant(const server::TenantRow& tenant) override {
      return inner().PutTenant(tenant);
    }
    absl::StatusOr<std::optional<server::TenantRow>> GetTenantBySlug(
        const std::string& slug) override {
      return inner().GetTenantBySlug(slug);
    }
    absl::StatusOr<std::vector<server::TenantRow>> ListTenants() override {
      return inner().ListTenants();
    }
    absl::Status PutUser(const server::UserRow& user) override { return inner().PutUser(user); }
    absl::StatusOr<std::optional<server::UserRow>> GetUser(const std::string& tenant_id,
                                                           const std::string& user_id) override {
      return inner().GetUser(tenant_id, user_id);
    }
    absl::StatusOr<std::optional<server::UserRow>> GetUserByName(
        const std::string& tenant_id, const std::string& username) override {
      return inner().GetUserByName(tenant_id, username);
    }
    absl::StatusOr<std::vector<server::UserRow>> ListUsers(const std::string& tenant_id) override {
      return inner().ListUsers(tenant_id);
    }
    absl::Status PutTeam(const std::string& tenant_id, const v1::Team& team) override {
      return inner().PutTeam(tenant_id, team);
    }
    absl::StatusOr<std::vector<v1::Team>> ListTeams(const std::string& tenant_id) override {
      return inner().ListTeams(tenant_id);
    }
    absl::Status PutDevice(const server::DeviceRow& device) override {
      return inner().PutDevice(device);
    }
    absl::StatusOr<std::optional<server::DeviceRow>> GetDevice(
        const std::string& tenant_id, const std::string& device_id) override {
      return inner().GetDevice(tenant_id, device_id);
    }
    absl::StatusOr<std::vector<server::DeviceRow>> ListDevices(
        const std::string& tenant_id) override {
      return inner().ListDevices(tenant_id);
    }
    using server::Directory::TouchDevice;
    absl::Status TouchDevice(const std::string& tenant_id, const std::string& device_id,
                             const server::DeviceContact& contact) override;

   private:
    server::Directory& inner() { return store_->inner_->directory(); }
    SimStore* store_;
  };

  struct Touch {
    std::string tenant_id;
    std::string device_id;
    server::DeviceContact contact;
  };

  server::Store* inner_;
  StoreScript* script_;
  SimStoreOptions options_;
  Changes changes_;
  Dir directory_;
  bool active_ = false;
  // A write transaction is open (its callback, or a request served inside it).
  bool open_ = false;
  // Highest sequence the open transaction took (0 if none).
  int64_t open_max_seq_ = 0;
  std::vector<Touch> deferred_touches_;
};

}  // namespace crmsync::sim

#endif  // CRMSYNC_TESTS_SIM_SIM_STORE_H_
