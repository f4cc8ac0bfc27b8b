// Entity hooks: what an entity type adds to the generic push path. The push
// path (push_handler.cc) reads the same for every type: validate, authorize,
// merge, write, store conflicts; at fixed points it calls the hooks of the
// mutation's type, found by the type's number. Types without hooks (the CRM
// types) take the generic path only; the retail types' hooks live with the
// retail code (retail_hooks.cc: redemption arbitration, the points balance,
// coupon scope and the record index).
//
//   prefetch     EntityHooks::PrefetchRefs     records the mutation will read
//   before merge MutationHooks::BeforeMerge    may replace the mutation to merge
//   check        MutationHooks::Check          may refuse the merged result
//   result       MutationHooks::AdjustResult   what the device is told
//   after write  MutationHooks::AfterWrite     side changes in the transaction
//   every write  EntityHooks::BeforePut/AfterPut  scope keys, indexes,
//                                               dependent records
#ifndef CRMSYNC_SERVER_LOGIC_ENTITY_HOOKS_H_
#define CRMSYNC_SERVER_LOGIC_ENTITY_HOOKS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "crmsync/sync/merge.h"
#include "crmsync/sync/policy_table.h"
#include "crmsync/v1/sync.pb.h"
#include "identity_keys.h"
#include "principal.h"
#include "store/change_log.h"

namespace crmsync::server {

// A REJECTED result for `m`.
v1::MutationResult RejectedResult(const v1::Mutation& m, v1::RejectReason reason,
                                  std::string message);

// The push transaction, as hooks see it. Not thread-safe; valid during the
// hook call.
class PushTxn {
 public:
  virtual ~PushTxn() = default;
  virtual WriteTx& tx() = 0;
  virtual const Principal& who() const = 0;
  virtual int64_t now_ms() const = 0;
  // The retention period: what is older may have been pruned (claims of
  // coupons whose validity ended longer ago, see loyalty.h).
  virtual int64_t retention_ms() const = 0;
  // How duplicates are detected (duplicates.h).
  virtual const DuplicateOptions& duplicate_options() const = 0;
  // Merges the server's mutation `m` into `current` and writes the result
  // (with its type's hooks) as a side change of the push. INTERNAL when the
  // merge refuses or ignores it.
  virtual absl::Status ApplyServerChange(const v1::RecordState& current, const v1::Mutation& m) = 0;
  // A side change written directly took sequence `seq`.
  virtual void NoteSideSeq(int64_t seq) = 0;
  // The conflict policies of this push.
  virtual const sync::PolicyTable& policies() const = 0;
  // Writes a record state the server built itself (its version a sequence
  // of this transaction) over `current` (nullptr if new), with its type's
  // hooks around the write, as for a pushed change.
  virtual absl::Status PutServerState(const v1::RecordState* current, v1::RecordState* state) = 0;
};

// Hooks of one mutation; may keep state from one point to the next.
class MutationHooks {
 public:
  virtual ~MutationHooks() = default;
  // Before the merge: may point `*to_merge` at another mutation (owned by
  // the hooks). INVALID_ARGUMENT rejects the mutation as invalid (its
  // message to the device); other errors are store failures.
  virtual absl::Status BeforeMerge(PushTxn& txn, const v1::Mutation& m,
                                   const v1::RecordState* current, const v1::Mutation** to_merge) {
    return absl::OkStatus();
  }
  // After the merge, before anything is written: a result refusing the
  // mutation, or nullopt.
  virtual std::optional<v1::MutationResult> Check(const v1::Mutation& m,
                                                  const v1::RecordState* current,
                                                  const sync::MergeResult& merged) {
    return std::nullopt;
  }
  // The result the device receives.
  virtual void AdjustResult(const sync::MergeResult& merged, v1::MutationResult* result) {}
  // After the record was written (or not, when the merge changed nothing).
  virtual absl::Status AfterWrite(PushTxn& txn, const sync::MergeResult& merged) {
    return absl::OkStatus();
  }
};

// Index lookups a batch will make (WriteTx::PrefetchIndexed).
struct IndexLookup {
  IndexKind kind = IndexKind::kGeoCell;
  std::vector<v1::EntityType> types;
  std::vector<int64_t> keys;
};

// Hooks of one entity type. Stateless; thread-safe.
class EntityHooks {
 public:
  virtual ~EntityHooks() = default;
  // Records a mutation of this type reads besides its own (prefetched with
  // the batch).
  virtual void PrefetchRefs(const v1::Mutation& m, std::vector<v1::RecordRef>* refs) const {}
  // Single index keys a mutation of this type looks up (prefetched with the
  // batch, as far as the pushed values tell).
  virtual void PrefetchIndexKeys(const v1::Mutation& m, const DuplicateOptions& options,
                                 std::vector<IndexLookup>* lookups) const {}
  // Per-mutation hooks, or nullptr.
  virtual std::unique_ptr<MutationHooks> ForMutation(const v1::Mutation& m) const {
    return nullptr;
  }
  // Every write of a record of this type, pushed or a side change: before
  // the row is written (complete its scope keys)...
  virtual absl::Status BeforePut(PushTxn& txn, const v1::RecordState* current,
                                 v1::RecordState* state) const {
    return absl::OkStatus();
  }
  // ...and after (indexes, dependent records).
  virtual absl::Status AfterPut(PushTxn& txn, const v1::RecordState* current,
                                const v1::RecordState& state) const {
    return absl::OkStatus();
  }
};

// The hooks of `type` (hooks that do nothing for a type without any).
const EntityHooks& HooksFor(v1::EntityType type);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_ENTITY_HOOKS_H_
