// OPERATION_MERGE in the push path (docs/stewardship.md, "Merging"): two
// leads, contacts or accounts of one customer become one, in the push
// transaction. The sync core decides the survivor's fields
// (sync::MergeRecords); here: who may merge, the writes (the merged
// record's tombstone first, so the survivor's duplicate check no longer
// finds it, then the survivor), references moved to the survivor, and
// edits of a merged-away record sent later by a device that was offline.
#ifndef CRMSYNC_SERVER_LOGIC_RECORD_MERGE_H_
#define CRMSYNC_SERVER_LOGIC_RECORD_MERGE_H_

#include <optional>

#include "absl/status/statusor.h"
#include "crmsync/v1/sync.pb.h"
#include "entity_hooks.h"
#include "store/audit_trail.h"

namespace crmsync::server {

// Applies the OPERATION_MERGE `m` (already shape-validated) for
// txn.who(): the result (REJECTED with a reason a person can act on:
// NOT_FOUND, RECORD_DELETED, PERMISSION_DENIED, VALIDATION), or a store
// error. On success `*audit` describes the merge (action "record_merged").
absl::StatusOr<v1::MutationResult> ApplyRecordMerge(PushTxn& txn, const v1::Mutation& m,
                                                    AuditRow* audit);

// For an edit of `current`, a tombstone of a record merged into another:
// the same edit aimed at the survivor (following merges), or nullopt when
// it is not to be redirected (a delete, a merge, a record not merged).
// The redirected edit keeps its base version: fields the merge or anyone
// changed since count as concurrent and are decided by their policy.
absl::StatusOr<std::optional<v1::Mutation>> RedirectToSurvivor(WriteTx& tx,
                                                               const v1::RecordState& current,
                                                               const v1::Mutation& m);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_RECORD_MERGE_H_
