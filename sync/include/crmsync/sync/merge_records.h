// Merging two records of one customer (OPERATION_MERGE): the survivor takes
// fields from the record merged into it by rule, and the other becomes a
// tombstone that names the survivor (RecordState.merged_into). Pure; the
// server moves references and writes both (docs/stewardship.md, "Merging").
//
// The rule, per top-level field of the entity (never `id`):
//  1. MergeSpec.keep_survivor / take_from_merged: the person's choice.
//  2. Scope fields (owner, team, visibility, territory, stores): the
//     survivor's, so a merge never moves a record out of anyone's reach by
//     accident.
//  3. Fields under the `set` policy: the union of both (every element with
//     its adds, so later removes work on either side's elements).
//  4. One side empty: the other side's value.
//  5. Both set and different: the value with the higher
//     Provenance.precision; a tie keeps the survivor's. Equal values keep
//     the survivor's value with the more precise stamp.
// A taken value keeps its stamp (clock reading, provenance: channel,
// precision, author, device), re-versioned at the survivor's new version;
// the survivor's replaced value goes to its field history like any write.
#ifndef CRMSYNC_SYNC_MERGE_RECORDS_H_
#define CRMSYNC_SYNC_MERGE_RECORDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "crmsync/sync/policy_table.h"
#include "crmsync/sync/status.h"
#include "crmsync/v1/sync.pb.h"

namespace crmsync::sync {

namespace v1 = ::crmsync::v1;

struct RecordMergeResult {
  // INVALID_ARGUMENT when the two cannot be merged (different types, a
  // deleted record, the same record, counter fields); nothing else is set.
  Status status;
  // The survivor after the merge, at `survivor_version` when
  // `survivor_changed`; the stored survivor otherwise.
  v1::RecordState survivor;
  bool survivor_changed = false;
  // The merged record's tombstone at `tombstone_version`, its scope kept
  // (it reaches every device that held the record), merged_into set.
  v1::RecordState tombstone;
  // Top-level fields whose value came from the merged record; and those
  // whose values were combined (sets).
  std::vector<std::string> taken_fields;
  std::vector<std::string> combined_fields;
};

// Merges `merged` into `survivor` as the OPERATION_MERGE `m` asks (its
// MergeSpec; its hlc and provenance stamp the combined fields and the
// tombstone). `policies` says which fields are sets. The two versions are
// distinct sequences above both records' versions.
RecordMergeResult MergeRecords(const v1::RecordState& survivor, const v1::RecordState& merged,
                               const v1::Mutation& m, int64_t survivor_version,
                               int64_t tombstone_version, const PolicyTable& policies);

}  // namespace crmsync::sync

#endif  // CRMSYNC_SYNC_MERGE_RECORDS_H_
