#include "sim_store.h"

#include <algorithm>

namespace crmsync::sim {

// The WriteTx handed to the server: forwards to the store's transaction,
// failing an operation when the script says so. A failure poisons the
// transaction as a database error does (store.h): every later call returns
// it and the transaction rolls back whatever the callback returns.
class SimStore::Tx final : public server::WriteTx {
 public:
  Tx(SimStore* store, server::WriteTx& inner) : store_(store), inner_(inner) {}

  const absl::Status& failure() const { return failure_; }

  absl::StatusOr<int64_t> NextSeq() override {
    if (auto s = Fault("NextSeq"); !s.ok()) return s;
    auto seq = inner_.NextSeq();
    if (seq.ok()) store_->open_max_seq_ = std::max(store_->open_max_seq_, *seq);
    return seq;
  }
  absl::StatusOr<std::optional<v1::RecordState>> GetRecord(const v1::RecordRef& ref) override {
    if (auto s = Fault("GetRecord"); !s.ok()) return s;
    return inner_.GetRecord(ref);
  }
  absl::Status PutRecord(const v1::RecordState& state,
                         const v1::ScopeKeys* previous_scope) override {
    if (auto s = Fault("PutRecord"); !s.ok()) return s;
    return inner_.PutRecord(state, previous_scope);
  }
  absl::StatusOr<std::optional<server::AppliedMutation>> GetApplied(
      const std::string& device_id, int64_t client_seq) override {
    if (auto s = Fault("GetApplied"); !s.ok()) return s;
    auto applied = inner_.GetApplied(device_id, client_seq);
    if (applied.ok() && !applied->has_value()) {
      store_->script_->MutationStarting(inner_, device_id, client_seq);
    }
    return applied;
  }
  absl::Status PutApplied(const server::AppliedMutation& applied) override {
    if (auto s = Fault("PutApplied"); !s.ok()) return s;
    absl::Status s = inner_.PutApplied(applied);
    if (s.ok()) store_->script_->MutationApplied(applied);
    return s;
  }
  absl::StatusOr<int64_t> AddToClaim(const std::string& key, int64_t delta) override {
    if (auto s = Fault("AddToClaim"); !s.ok()) return s;
    return inner_.AddToClaim(key, delta);
  }
  absl::StatusOr<int64_t> GetClaim(const std::string& key) override {
    if (auto s = Fault("GetClaim"); !s.ok()) return s;
    return inner_.GetClaim(key);
  }
  absl::Status Prefetch(const std::vector<v1::RecordRef>& refs, const std::string& device_id,
                        const std::vector<int64_t>& client_seqs) override {
    if (auto s = Fault("Prefetch"); !s.ok()) return s;
    return inner_.Prefetch(refs, device_id, client_seqs);
  }
  absl::Status SetIndexKeys(const v1::RecordRef& ref, server::IndexKind kind,
                            const std::vector<int64_t>& keys) override {
    if (auto s = Fault("SetIndexKeys"); !s.ok()) return s;
    return inner_.SetIndexKeys(ref, kind, keys);
  }
  absl::StatusOr<std::vector<v1::RecordState>> FindIndexed(
      server::IndexKind kind, v1::EntityType type, const std::vector<server::KeyRange>& ranges,
      int limit) override {
    if (auto s = Fault("FindIndexed"); !s.ok()) return s;
    return inner_.FindIndexed(kind, type, ranges, limit);
  }

 private:
  absl::Status Fault(const char* what) {
    if (!failure_.ok()) return failure_;
    if (auto injected = store_->script_->WriteFault(what)) failure_ = *injected;
    return failure_;
  }

  SimStore* store_;
  server::WriteTx& inner_;
  absl::Status failure_;
};

absl::Status SimStore::Write(const std::string& tenant_id,
                             const std::function<absl::Status(server::WriteTx&)>& fn) {
  if (!active_) return inner_->Write(tenant_id, fn);
  if (open_) {
    // A request served inside a transaction would wait for its lock.
    return absl::UnavailableError("simulated store: the tenant's write lock is held");
  }
  absl::Status status =
      inner_->Write(tenant_id, [&](server::WriteTx& inner_tx) -> absl::Status {
        open_ = true;
        open_max_seq_ = 0;
        script_->WriteAttempt();
        Tx tx(this, inner_tx);
        absl::Status s = fn(tx);
        if (s.ok()) s = tx.failure();
        if (s.ok()) {
          script_->BeforeCommit();
          // COMMIT fails: the store rolls the transaction back.
          if (auto injected = script_->WriteFault("commit")) s = *injected;
        }
        return s;
      });
  open_ = false;
  open_max_seq_ = 0;
  std::vector<Touch> touches;
  touches.swap(deferred_touches_);
  for (const Touch& t : touches) {
    (void)inner_->TouchDevice(t.tenant_id, t.device_id, t.contact);
  }
  script_->WriteEnded(status.ok());
  if (status.ok()) {
    // COMMIT succeeded but the connection was lost before the server
    // learned so: the caller sees a failure for a committed transaction.
    if (auto injected = script_->WriteFault("commit_lost")) return *injected;
  }
  return status;
}

absl::StatusOr<int64_t> SimStore::LatestSeq(const std::string& tenant_id) {
  auto latest = inner_->LatestSeq(tenant_id);
  if (latest.ok() && open_ && options_.sequence_visible_before_commit) {
    return std::max(*latest, open_max_seq_);
  }
  return latest;
}

absl::Status SimStore::TouchDevice(const std::string& tenant_id, const std::string& device_id,
                                   const server::DeviceContact& contact) {
  if (!active_) return inner_->TouchDevice(tenant_id, device_id, contact);
  if (auto injected = script_->WriteFault("TouchDevice")) return *injected;
  if (open_) {
    deferred_touches_.push_back({tenant_id, device_id, contact});
    return absl::OkStatus();
  }
  return inner_->TouchDevice(tenant_id, device_id, contact);
}

}  // namespace crmsync::sim
