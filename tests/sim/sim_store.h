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

struct SimStoreOptions {
  // Broken variant "cursor-before-commit": LatestSeq counts the sequences an
  // open transaction took, as a PostgreSQL SEQUENCE would (see
  // docs/storage.md for why crmsync does not use one).
  bool sequence_visible_before_commit = false;
};

// Not thread-safe (the simulation is single-threaded). `inner` and
// `script` must outlive it.
class SimStore final : public server::Store {
 public:
  SimStore(server::Store* inner, StoreScript* script, SimStoreOptions options)
      : inner_(inner), script_(script), options_(options) {}

  // Turns fault injection and the script's hooks on or off (off while the
  // world is seeded and checked).
  void set_active(bool active) { active_ = active; }

  std::string Kind() const override { return inner_->Kind(); }
  absl::Status Migrate() override { return inner_->Migrate(); }
  absl::Status Write(const std::string& tenant_id,
                     const std::function<absl::Status(server::WriteTx&)>& fn) override;

  absl::StatusOr<std::vector<server::RecordRow>> ReadSince(const std::string& tenant_id,
                                                           int64_t after_version,
                                                           int limit) override {
    return inner_->ReadSince(tenant_id, after_version, limit);
  }
  absl::StatusOr<std::optional<v1::RecordState>> GetRecord(const std::string& tenant_id,
                                                          const v1::RecordRef& ref) override {
    return inner_->GetRecord(tenant_id, ref);
  }
  absl::StatusOr<server::FeedState> GetFeedState(const std::string& tenant_id) override {
    return inner_->GetFeedState(tenant_id);
  }
  absl::Status StartNewHistory(const std::string& tenant_id) override {
    return inner_->StartNewHistory(tenant_id);
  }
  absl::StatusOr<std::vector<v1::ScopeKeys>> ScopesDuring(const std::string& tenant_id,
                                                          const v1::RecordRef& ref, int64_t from,
                                                          int64_t to) override {
    return inner_->ScopesDuring(tenant_id, ref, from, to);
  }
  absl::StatusOr<std::vector<v1::RecordState>> FindIndexed(
      const std::string& tenant_id, server::IndexKind kind, v1::EntityType type,
      const std::vector<server::KeyRange>& ranges, int limit) override {
    return inner_->FindIndexed(tenant_id, kind, type, ranges, limit);
  }
  absl::StatusOr<int64_t> LatestSeq(const std::string& tenant_id) override;
  absl::StatusOr<int64_t> PrunedThrough(const std::string& tenant_id) override {
    return inner_->PrunedThrough(tenant_id);
  }
  absl::StatusOr<int64_t> Prune(const std::string& tenant_id, int64_t horizon) override {
    return inner_->Prune(tenant_id, horizon);
  }

  absl::Status PutTenant(const server::TenantRow& tenant) override {
    return inner_->PutTenant(tenant);
  }
  absl::StatusOr<std::optional<server::TenantRow>> GetTenantBySlug(
      const std::string& slug) override {
    return inner_->GetTenantBySlug(slug);
  }
  absl::StatusOr<std::vector<server::TenantRow>> ListTenants() override {
    return inner_->ListTenants();
  }
  absl::Status PutUser(const server::UserRow& user) override { return inner_->PutUser(user); }
  absl::StatusOr<std::optional<server::UserRow>> GetUser(const std::string& tenant_id,
                                                         const std::string& user_id) override {
    return inner_->GetUser(tenant_id, user_id);
  }
  absl::StatusOr<std::optional<server::UserRow>> GetUserByName(
      const std::string& tenant_id, const std::string& username) override {
    return inner_->GetUserByName(tenant_id, username);
  }
  absl::StatusOr<std::vector<server::UserRow>> ListUsers(const std::string& tenant_id) override {
    return inner_->ListUsers(tenant_id);
  }
  absl::Status PutTeam(const std::string& tenant_id, const v1::Team& team) override {
    return inner_->PutTeam(tenant_id, team);
  }
  absl::StatusOr<std::vector<v1::Team>> ListTeams(const std::string& tenant_id) override {
    return inner_->ListTeams(tenant_id);
  }
  absl::Status PutDevice(const server::DeviceRow& device) override {
    return inner_->PutDevice(device);
  }
  absl::StatusOr<std::optional<server::DeviceRow>> GetDevice(
      const std::string& tenant_id, const std::string& device_id) override {
    return inner_->GetDevice(tenant_id, device_id);
  }
  absl::StatusOr<std::vector<server::DeviceRow>> ListDevices(
      const std::string& tenant_id) override {
    return inner_->ListDevices(tenant_id);
  }
  // May fail (injected). While a write transaction is open (a request served
  // inside it), the update waits for that transaction to end, as it would
  // wait for the write lock.
  using server::Store::TouchDevice;
  absl::Status TouchDevice(const std::string& tenant_id, const std::string& device_id,
                           const server::DeviceContact& contact) override;

  absl::Status PutRefreshToken(const server::RefreshTokenRow& token) override {
    return inner_->PutRefreshToken(token);
  }
  absl::StatusOr<std::optional<server::RefreshTokenRow>> GetRefreshToken(
      const std::string& token_hash) override {
    return inner_->GetRefreshToken(token_hash);
  }
  absl::StatusOr<bool> MarkRefreshTokenUsed(const std::string& token_hash) override {
    return inner_->MarkRefreshTokenUsed(token_hash);
  }
  absl::StatusOr<int64_t> RevokeRefreshFamily(const std::string& tenant_id,
                                              const std::string& family_id) override {
    return inner_->RevokeRefreshFamily(tenant_id, family_id);
  }
  absl::StatusOr<int64_t> RevokeDeviceRefreshTokens(const std::string& tenant_id,
                                                    const std::string& device_id) override {
    return inner_->RevokeDeviceRefreshTokens(tenant_id, device_id);
  }
  absl::Status PutApiKey(const server::ApiKeyRow& key) override { return inner_->PutApiKey(key); }
  absl::StatusOr<std::optional<server::ApiKeyRow>> GetApiKey(const std::string& tenant_id,
                                                             const std::string& key_id) override {
    return inner_->GetApiKey(tenant_id, key_id);
  }
  absl::StatusOr<int64_t> AppendAudit(const server::AuditRow& row) override {
    return inner_->AppendAudit(row);
  }
  absl::StatusOr<std::vector<server::AuditRow>> ListAudit(const std::string& tenant_id,
                                                          const std::string& action,
                                                          int64_t since_ms, int64_t after_id,
                                                          int limit, bool newest_first) override {
    return inner_->ListAudit(tenant_id, action, since_ms, after_id, limit, newest_first);
  }
  absl::StatusOr<int64_t> ScrubAppliedResults(const std::string& tenant_id,
                                              const v1::RecordRef& ref) override {
    return inner_->ScrubAppliedResults(tenant_id, ref);
  }

 private:
  class Tx;
  struct Touch {
    std::string tenant_id;
    std::string device_id;
    server::DeviceContact contact;
  };

  server::Store* inner_;
  StoreScript* script_;
  SimStoreOptions options_;
  bool active_ = false;
  // A write transaction is open (its callback, or a request served inside it).
  bool open_ = false;
  // Highest sequence the open transaction took (0 if none).
  int64_t open_max_seq_ = 0;
  std::vector<Touch> deferred_touches_;
};

}  // namespace crmsync::sim

#endif  // CRMSYNC_TESTS_SIM_SIM_STORE_H_
