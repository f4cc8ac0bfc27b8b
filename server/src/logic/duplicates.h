// Duplicate detection in the push path (docs/stewardship.md, "Duplicates").
//
// Every write of a lead, contact or account whose identity changed
// (identity_keys.h: e-mail, phone, name, company, website, address) keeps
// the record's keys in the record index (IndexKind::kDuplicateKey), looks
// the keys up among the tenant's leads and contacts (for a person) or
// accounts, scores each candidate, and keeps the result in the record's
// PossibleDuplicate (one per flagged record, synced to its owner), and the
// reverse in each candidate's. Nothing is merged: a person decides. A
// deleted or erased record leaves the index and every flag. Runs inside the
// push transaction (an import or an admin edit goes the same way).
#ifndef CRMSYNC_SERVER_LOGIC_DUPLICATES_H_
#define CRMSYNC_SERVER_LOGIC_DUPLICATES_H_

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "crmsync/v1/sync.pb.h"
#include "entity_hooks.h"

namespace crmsync::server {

// The id of the PossibleDuplicate of `record`: "dup-" and 16 hex digits of
// a hash of its type and id.
std::string PossibleDuplicateId(const v1::RecordRef& record);

// The reference of that PossibleDuplicate.
v1::RecordRef PossibleDuplicateRef(const v1::RecordRef& record);

// The hooks of leads, contacts and accounts.
const EntityHooks& IdentityHooks();
// The hooks of PossibleDuplicate: candidates a person dismissed leave the
// flag, and the other record's flag dismisses this one.
const EntityHooks& PossibleDuplicateHooks();

// The write transaction the check runs in: the push's (the hooks) or an
// erasure's.
class DuplicateTxn {
 public:
  DuplicateTxn(WriteTx* tx, int64_t now_ms, const DuplicateOptions& options)
      : tx_(tx), now_ms_(now_ms), options_(options) {}
  WriteTx& tx() { return *tx_; }
  int64_t now_ms() const { return now_ms_; }
  const DuplicateOptions& duplicate_options() const { return options_; }
  // A flag was written at `seq`.
  void NoteSideSeq(int64_t seq) { last_seq_ = std::max(last_seq_, seq); }
  // The last sequence number the check took (0: it wrote nothing).
  int64_t last_seq() const { return last_seq_; }

 private:
  WriteTx* tx_;
  int64_t now_ms_;
  const DuplicateOptions& options_;
  int64_t last_seq_ = 0;
};

// The check itself, after `state` was written over `current` (nullptr for
// a create) in `txn`. A tombstone (a delete or an erasure) takes the
// record's keys out of the index and its flags away, whatever the options
// say.
absl::Status CheckDuplicates(DuplicateTxn& txn, const v1::RecordState* current,
                             const v1::RecordState& state);

// Gives every live lead, contact and account the index keys of this
// version under `options` (IndexKeysOf), once per tenant and key set: the
// claim "index:duplicates" holds IndexKeysVersion of the keys in the index.
// For records indexed before the keys of a name with a company or an
// address existed, and after a threshold change that adds or drops the
// keys of a name alone. With the check off it builds nothing and only
// marks the index as no longer kept (writes then keep no keys), so that the
// next start with the check on rebuilds it. One transaction; run at
// start-up.
absl::Status EnsureDuplicateIndex(ChangeLog* changes, const std::string& tenant_id,
                                  const DuplicateOptions& options);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_DUPLICATES_H_
