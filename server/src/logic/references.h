// References between records, for merging and the customer timeline
// (docs/stewardship.md). Which fields point at which records:
//
//   activity.related, calendar_event.related   any record (RecordRef)
//   calendar_event.attendee_ids                contacts (and users)
//   opportunity.account_id, contact.account_id accounts
//   loyalty_account.contact_id                 a contact
//   redemption.loyalty_account_id              a loyalty account
//
// Every write of a record holding references keeps one index key per
// referenced record (IndexKind::kReference, a hash of its type and id), so
// "what points at this contact" is an index lookup, not a scan. A write that
// points at a record since merged into another is pointed at the survivor
// (an activity logged offline about the merged-away contact lands on the
// one kept).
#ifndef CRMSYNC_SERVER_LOGIC_REFERENCES_H_
#define CRMSYNC_SERVER_LOGIC_REFERENCES_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "crmsync/v1/sync.pb.h"
#include "entity_hooks.h"

namespace crmsync::server {

// The index key of a reference to `ref`.
int64_t ReferenceKey(const v1::RecordRef& ref);

// The records `data` refers to, each once, in field order.
std::vector<v1::RecordRef> ReferencesOf(const v1::Record& data);

// Whether records of `type` hold references.
bool HoldsReferences(v1::EntityType type);

// The hooks of a type holding references, around `inner` (its other hooks).
std::unique_ptr<EntityHooks> MakeReferenceHooks(const EntityHooks* inner);

// Live records of `holder_type` that refer to `target` (an index lookup,
// then checked against the data), in version order, at most `limit`
// (0 = all).
absl::StatusOr<std::vector<v1::RecordState>> FindReferrers(WriteTx& tx, v1::EntityType holder_type,
                                                           const v1::RecordRef& target, int limit);

// Points every live record that refers to `from` at `to` instead, as
// server changes of the push `txn` (they reach devices as ordinary deltas).
// Returns how many records changed.
absl::StatusOr<int> MoveReferences(PushTxn& txn, const v1::RecordRef& from,
                                   const v1::RecordRef& to);

// Gives every live record holding references its index keys, once per
// tenant (the claim "index:references" marks it done): for data written
// before the index existed. One transaction; run at start-up.
absl::Status EnsureReferenceIndex(ChangeLog* changes, const std::string& tenant_id);

// Runs `each` on every live record of the tenant, oldest change first,
// unless the claim `marker` says it was done; then sets it. One write
// transaction (the records are read committed, in pages): for an index of
// data written before the index, or before its keys changed.
absl::Status ForEachLiveRecordOnce(
    ChangeLog* changes, const std::string& tenant_id, const char* marker,
    const std::function<absl::Status(WriteTx&, const v1::RecordState&)>& each);

// The same, run again whenever `version` is not the claim's value (then
// set to it): for an index whose keys depend on settings, rebuilt when
// they change, in either direction. ForEachLiveRecordOnce is version 1.
absl::Status ForEachLiveRecordUnlessAt(
    ChangeLog* changes, const std::string& tenant_id, const char* marker, int64_t version,
    const std::function<absl::Status(WriteTx&, const v1::RecordState&)>& each);

// The record `ref` was merged into, following merges (at most 16 hops), or
// nullopt when `ref` is live, unknown or deleted without a merge.
absl::StatusOr<std::optional<v1::RecordRef>> MergedInto(WriteTx& tx, const v1::RecordRef& ref);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_REFERENCES_H_
