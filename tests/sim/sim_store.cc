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

 protected:
  absl::StatusOr<int64_t> DoNextSeq() override {
    if (auto s = Fault("NextSeq"); !s.ok()) return s;
    auto seq = inner_.NextSeq();
    if (seq.ok()) store_->open_max_seq_ = std::max(store_->open_max_seq_, *seq);
    return seq;
  }
  absl::StatusOr<std::optional<v1::RecordState>> DoGetRecord(const v1::RecordRef& ref) override {
    if (auto s = Fault("GetRecord"); !s.ok()) return s;
    return inner_.GetRecord(ref);
  }
  absl::Status DoPutRecord(const v1::RecordState& state,
                           const v1::ScopeKeys* previous_scope) override {
    if (auto s = Fault("PutRecord"); !s.ok()) return s;
    if (store_->options_.drop_new_conflicts &&
        state.ref().entity_type() == v1::ENTITY_TYPE_CONFLICT &&
        state.created_version() == state.version()) {
      return absl::OkStatus();
    }
    return inner_.PutRecord(state, previous_scope);
  }
  absl::StatusOr<std::optional<server::AppliedMutation>> DoGetApplied(const std::string& device_id,
                                                                      int64_t client_seq) override {
    if (auto s = Fault("GetApplied"); !s.ok()) return s;
    auto applied = inner_.GetApplied(device_id, client_seq);
    if (applied.ok() && applied->has_value() && store_->options_.forget_applied_mutations) {
      return std::optional<server::AppliedMutation>();
    }
    if (applied.ok() && !applied->has_value()) {
      store_->script_->MutationStarting(inner_, device_id, client_seq);
    }
    return applied;
  }
  absl::Status DoPutApplied(const server::AppliedMutation& applied) override {
    if (auto s = Fault("PutApplied"); !s.ok()) return s;
    absl::Status s = inner_.PutApplied(applied);
    if (absl::IsAlreadyExists(s) && store_->options_.forget_applied_mutations) {
      return absl::OkStatus();  // a forgotten mutation applied again
    }
    if (s.ok()) store_->script_->MutationApplied(applied);
    return s;
  }
  absl::StatusOr<int64_t> DoAddToClaim(const std::string& key, int64_t delta) override {
    if (auto s = Fault("AddToClaim"); !s.ok()) return s;
    return inner_.AddToClaim(key, delta);
  }
  absl::StatusOr<int64_t> DoGetClaim(const std::string& key) override {
    if (auto s = Fault("GetClaim"); !s.ok()) return s;
    return inner_.GetClaim(key);
  }
  absl::StatusOr<std::vector<server::ClaimRow>> DoListClaims(const std::string& prefix,
                                                             const std::string& after_key,
                                                             int limit) override {
    if (auto s = Fault("ListClaims"); !s.ok()) return s;
    return inner_.ListClaims(prefix, after_key, limit);
  }
  absl::StatusOr<int64_t> DoDeleteClaims(const std::vector<std::string>& keys) override {
    if (auto s = Fault("DeleteClaims"); !s.ok()) return s;
    return inner_.DeleteClaims(keys);
  }
  absl::StatusOr<server::AppliedFloor> DoRaiseAppliedFloor(const std::string& device_id,
                                                           int64_t through) override {
    if (auto s = Fault("RaiseAppliedFloor"); !s.ok()) return s;
    return through == kThroughHighestApplied ? inner_.ForgetAppliedResults(device_id)
                                             : inner_.RaiseAppliedFloor(device_id, through);
  }
  absl::Status DoPrefetch(const std::vector<v1::RecordRef>& refs, const std::string& device_id,
                          const std::vector<int64_t>& client_seqs) override {
    if (auto s = Fault("Prefetch"); !s.ok()) return s;
    return inner_.Prefetch(refs, device_id, client_seqs);
  }
  absl::Status DoSetIndexKeys(const v1::RecordRef& ref, server::IndexKind kind,
                              const std::vector<int64_t>& keys) override {
    if (auto s = Fault("SetIndexKeys"); !s.ok()) return s;
    return inner_.SetIndexKeys(ref, kind, keys);
  }
  absl::StatusOr<std::vector<v1::RecordState>> DoFindIndexed(
      server::IndexKind kind, v1::EntityType type, const std::vector<server::KeyRange>& ranges,
      int limit) override {
    if (auto s = Fault("FindIndexed"); !s.ok()) return s;
    return inner_.FindIndexed(kind, type, ranges, limit);
  }
  // The inner transaction's PutRecord writes the field history itself.
  absl::Status DoAddFieldHistory(const v1::RecordRef&,
                                 std::vector<server::FieldHistoryRow>) override {
    return absl::OkStatus();
  }
  absl::Status DoDropFieldHistory(const v1::RecordRef&) override { return absl::OkStatus(); }

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

absl::Status SimStore::Changes::DoWrite(const std::string& tenant_id,
                                        const std::function<absl::Status(server::WriteTx&)>& fn) {
  SimStore& st = *store_;
  if (!st.active_) return inner().Write(tenant_id, fn);
  if (st.open_) {
    // A request served inside a transaction would wait for its lock.
    return absl::UnavailableError("simulated store: the tenant's write lock is held");
  }
  absl::Status status = inner().Write(tenant_id, [&](server::WriteTx& inner_tx) -> absl::Status {
    st.open_ = true;
    st.open_max_seq_ = 0;
    st.script_->WriteAttempt();
    Tx tx(&st, inner_tx);
    absl::Status s = fn(tx);
    if (s.ok()) s = tx.failure();
    if (s.ok()) {
      st.script_->BeforeCommit();
      // COMMIT fails: the store rolls the transaction back.
      if (auto injected = st.script_->WriteFault("commit")) s = *injected;
    }
    return s;
  });
  st.open_ = false;
  st.open_max_seq_ = 0;
  std::vector<Touch> touches;
  touches.swap(st.deferred_touches_);
  for (const Touch& t : touches) {
    (void)st.inner_->directory().TouchDevice(t.tenant_id, t.device_id, t.contact);
  }
  st.script_->WriteEnded(status.ok());
  if (status.ok()) {
    // COMMIT succeeded but the connection was lost before the server
    // learned so: the caller sees a failure for a committed transaction.
    if (auto injected = st.script_->WriteFault("commit_lost")) return *injected;
  }
  return status;
}

absl::StatusOr<int64_t> SimStore::Changes::DoLatestSeq(const std::string& tenant_id) {
  const SimStore& st = *store_;
  auto latest = inner().LatestSeq(tenant_id);
  if (latest.ok() && st.open_ && st.options_.sequence_visible_before_commit) {
    return std::max(*latest, st.open_max_seq_);
  }
  return latest;
}

absl::Status SimStore::Dir::TouchDevice(const std::string& tenant_id, const std::string& device_id,
                                        const server::DeviceContact& contact) {
  SimStore& st = *store_;
  if (!st.active_) return inner().TouchDevice(tenant_id, device_id, contact);
  if (auto injected = st.script_->WriteFault("TouchDevice")) return *injected;
  if (st.open_) {
    st.deferred_touches_.push_back({tenant_id, device_id, contact});
    return absl::OkStatus();
  }
  return inner().TouchDevice(tenant_id, device_id, contact);
}

}  // namespace crmsync::sim
