#include "duplicates.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "crmsync/sync/merge.h"
#include "erasure.h"
#include "identity_keys.h"
#include "references.h"
#include "scope.h"

namespace crmsync::server {

namespace {

using google::protobuf::util::TimeUtil;

std::string Key(const v1::RecordRef& ref) {
  return std::to_string(ref.entity_type()) + ":" + ref.id();
}

// The server's clock reading for what it writes itself.
v1::HlcTimestamp ServerHlc(int64_t now_ms) {
  v1::HlcTimestamp hlc;
  hlc.set_wall_time_ms(now_ms);
  hlc.set_node_id("server");
  return hlc;
}

// The stored, live PossibleDuplicate of `record`, or nullopt.
absl::StatusOr<std::optional<v1::RecordState>> LoadFlag(WriteTx& tx, const v1::RecordRef& record) {
  auto found = tx.GetRecord(PossibleDuplicateRef(record));
  if (!found.ok()) return found.status();
  if (!found->has_value() || (*found)->deleted() || !(*found)->data().has_possible_duplicate()) {
    return std::optional<v1::RecordState>();
  }
  const v1::RecordRef& flagged = (*found)->data().possible_duplicate().record();
  if (flagged.entity_type() != record.entity_type() || flagged.id() != record.id()) {
    // Another record's flag under the same hashed id: leave it alone.
    return absl::AlreadyExistsError("flag id " + PossibleDuplicateId(record) + " is taken");
  }
  return *found;
}

bool SameCandidate(const v1::DuplicateCandidate& a, const v1::DuplicateCandidate& b) {
  return a.record().entity_type() == b.record().entity_type() &&
         a.record().id() == b.record().id() && a.score() == b.score() &&
         a.owner_user_id() == b.owner_user_id() &&
         std::equal(a.reasons().begin(), a.reasons().end(), b.reasons().begin(), b.reasons().end());
}

bool SameCandidates(const google::protobuf::RepeatedPtrField<v1::DuplicateCandidate>& a,
                    const std::vector<v1::DuplicateCandidate>& b) {
  if (a.size() != static_cast<int>(b.size())) return false;
  for (int i = 0; i < a.size(); ++i) {
    if (!SameCandidate(a[i], b[static_cast<size_t>(i)])) return false;
  }
  return true;
}

void SortCandidates(std::vector<v1::DuplicateCandidate>* c, int max) {
  std::sort(c->begin(), c->end(), [](const auto& a, const auto& b) {
    if (a.score() != b.score()) return a.score() > b.score();
    return Key(a.record()) < Key(b.record());
  });
  if (static_cast<int>(c->size()) > max) c->resize(static_cast<size_t>(max));
}

// Writes the flag of `record` with `candidates` and `owner` over `current`
// (nullopt: none yet). A flag left with neither candidates nor dismissals
// is deleted; an unchanged one is not written.
absl::Status DeleteFlag(DuplicateTxn& txn, const v1::RecordState& flag) {
  auto seq = txn.tx().NextSeq();
  if (!seq.ok()) return seq.status();
  if (auto s =
          txn.tx().PutRecord(sync::ServerTombstone(flag, *seq, ServerHlc(txn.now_ms())), nullptr);
      !s.ok()) {
    return s;
  }
  txn.NoteSideSeq(*seq);
  return absl::OkStatus();
}

bool Dismissed(const v1::PossibleDuplicate& flag, const std::string& id) {
  const auto& ids = flag.dismissed_record_ids();
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

absl::Status WriteFlag(DuplicateTxn& txn, const std::optional<v1::RecordState>& current,
                       const v1::RecordRef& record, std::vector<v1::DuplicateCandidate> candidates,
                       const std::string& owner, const std::string& also_dismiss = "") {
  const v1::PossibleDuplicate* before = current ? &current->data().possible_duplicate() : nullptr;
  const bool dismiss =
      !also_dismiss.empty() && (before == nullptr || !Dismissed(*before, also_dismiss));
  if (before == nullptr && candidates.empty() && !dismiss) return absl::OkStatus();
  if (before != nullptr && candidates.empty() && before->dismissed_record_ids().empty() &&
      !dismiss) {
    return DeleteFlag(txn, *current);
  }
  if (before != nullptr && before->owner_user_id() == owner && !dismiss &&
      SameCandidates(before->candidates(), candidates)) {
    return absl::OkStatus();
  }
  v1::Record data;
  v1::PossibleDuplicate* flag = data.mutable_possible_duplicate();
  if (before != nullptr) *flag = *before;
  flag->set_id(PossibleDuplicateId(record));
  *flag->mutable_record() = record;
  flag->clear_candidates();
  for (v1::DuplicateCandidate& c : candidates) *flag->add_candidates() = std::move(c);
  flag->set_owner_user_id(owner);
  if (dismiss) flag->add_dismissed_record_ids(also_dismiss);
  *flag->mutable_checked_at() = TimeUtil::MillisecondsToTimestamp(txn.now_ms());
  auto seq = txn.tx().NextSeq();
  if (!seq.ok()) return seq.status();
  const v1::RecordState* previous = current ? &*current : nullptr;
  v1::RecordState state = sync::ServerRecordState(previous, PossibleDuplicateRef(record), data,
                                                  *seq, ServerHlc(txn.now_ms()));
  const v1::ScopeKeys* previous_scope =
      previous != nullptr && !SameScope(previous->scope(), state.scope()) ? &previous->scope()
                                                                          : nullptr;
  if (auto s = txn.tx().PutRecord(state, previous_scope); !s.ok()) return s;
  txn.NoteSideSeq(*seq);
  return absl::OkStatus();
}

// The candidate's flag gains (or updates) `entry`, unless it dismissed
// `entry`'s record; `owner` is the candidate's owner.
absl::Status AddToFlagOf(DuplicateTxn& txn, const v1::RecordRef& candidate,
                         const std::string& owner, const v1::DuplicateCandidate& entry, int max) {
  auto flag = LoadFlag(txn.tx(), candidate);
  if (absl::IsAlreadyExists(flag.status())) return absl::OkStatus();
  if (!flag.ok()) return flag.status();
  std::vector<v1::DuplicateCandidate> list;
  if (*flag) {
    const v1::PossibleDuplicate& f = (*flag)->data().possible_duplicate();
    if (Dismissed(f, entry.record().id())) return absl::OkStatus();
    for (const v1::DuplicateCandidate& c : f.candidates()) {
      if (Key(c.record()) == Key(entry.record())) {
        if (SameCandidate(c, entry) && f.owner_user_id() == owner) return absl::OkStatus();
        continue;
      }
      list.push_back(c);
    }
  }
  list.push_back(entry);
  SortCandidates(&list, max);
  return WriteFlag(txn, *flag, candidate, std::move(list), owner);
}

// The candidate's flag loses `gone`.
absl::Status RemoveFromFlagOf(DuplicateTxn& txn, const v1::RecordRef& candidate,
                              const v1::RecordRef& gone) {
  auto flag = LoadFlag(txn.tx(), candidate);
  if (absl::IsAlreadyExists(flag.status())) return absl::OkStatus();
  if (!flag.ok()) return flag.status();
  if (!*flag) return absl::OkStatus();
  const v1::PossibleDuplicate& f = (*flag)->data().possible_duplicate();
  std::vector<v1::DuplicateCandidate> list;
  for (const v1::DuplicateCandidate& c : f.candidates()) {
    if (Key(c.record()) != Key(gone)) list.push_back(c);
  }
  if (static_cast<int>(list.size()) == f.candidates_size()) return absl::OkStatus();
  return WriteFlag(txn, *flag, candidate, std::move(list), f.owner_user_id());
}

// Scores rounded to 1/1000, so a re-check of the same values writes
// nothing.
double Rounded(double score) { return std::round(score * 1000.0) / 1000.0; }

struct Found {
  v1::DuplicateCandidate entry;  // as the checked record's flag lists it
  v1::DuplicateCandidate reverse;
};

// The types a record of `type` is compared with.
std::vector<v1::EntityType> ComparedTypes(v1::EntityType type) {
  if (identity::IsPersonType(type)) return {v1::ENTITY_TYPE_LEAD, v1::ENTITY_TYPE_CONTACT};
  return {v1::ENTITY_TYPE_ACCOUNT};
}

absl::StatusOr<std::vector<Found>> FindCandidates(DuplicateTxn& txn, const v1::RecordState& state,
                                                  const identity::Identity& me,
                                                  const std::set<std::string>& dismissed) {
  const DuplicateOptions& options = txn.duplicate_options();
  std::vector<KeyRange> ranges;
  for (int64_t key : identity::LookupKeysOf(me, options)) ranges.push_back(KeyRange{key, key});
  std::vector<Found> out;
  if (ranges.empty()) return out;
  const std::vector<v1::EntityType> types = ComparedTypes(state.ref().entity_type());
  const google::protobuf::Timestamp now = TimeUtil::MillisecondsToTimestamp(txn.now_ms());
  {
    auto rows = txn.tx().FindIndexedIn(IndexKind::kDuplicateKey, types, ranges, 0);
    if (!rows.ok()) return rows.status();
    for (const v1::RecordState& other : *rows) {
      if (other.deleted() || Key(other.ref()) == Key(state.ref())) continue;
      if (dismissed.count(other.ref().id()) > 0) continue;
      identity::Match match =
          identity::Compare(me, identity::IdentityOf(other.data(), options, &me), options);
      if (match.score < options.threshold) continue;
      // "Not a duplicate" said on either side holds for the pair.
      auto theirs = LoadFlag(txn.tx(), other.ref());
      if (!theirs.ok() && !absl::IsAlreadyExists(theirs.status())) return theirs.status();
      if (theirs.ok() && *theirs &&
          Dismissed((*theirs)->data().possible_duplicate(), state.ref().id())) {
        continue;
      }
      Found& f = out.emplace_back();
      *f.entry.mutable_record() = other.ref();
      f.entry.set_score(Rounded(match.score));
      for (const std::string& r : match.reasons) f.entry.add_reasons(r);
      f.entry.set_owner_user_id(other.scope().owner_user_id());
      *f.entry.mutable_detected_at() = now;
      f.reverse = f.entry;
      *f.reverse.mutable_record() = state.ref();
      f.reverse.set_owner_user_id(state.scope().owner_user_id());
    }
  }
  std::sort(out.begin(), out.end(), [](const Found& a, const Found& b) {
    if (a.entry.score() != b.entry.score()) return a.entry.score() > b.entry.score();
    return Key(a.entry.record()) < Key(b.entry.record());
  });
  if (static_cast<int>(out.size()) > options.max_candidates) {
    out.resize(static_cast<size_t>(options.max_candidates));
  }
  return out;
}

// A person dismissed candidates on a flag (an UPDATE of
// dismissed_record_ids from a device or an integration): they leave the
// flag, and the pair is dismissed on the other side too.
absl::Status ApplyDismissals(DuplicateTxn& txn, const v1::RecordState& state) {
  if (state.deleted() || !state.data().has_possible_duplicate()) return absl::OkStatus();
  const v1::PossibleDuplicate& flag = state.data().possible_duplicate();
  std::vector<v1::DuplicateCandidate> kept;
  std::vector<v1::RecordRef> dismissed;
  for (const v1::DuplicateCandidate& c : flag.candidates()) {
    if (Dismissed(flag, c.record().id())) {
      dismissed.push_back(c.record());
    } else {
      kept.push_back(c);
    }
  }
  if (dismissed.empty()) return absl::OkStatus();
  if (auto s = WriteFlag(txn, state, flag.record(), std::move(kept), flag.owner_user_id());
      !s.ok()) {
    return s;
  }
  for (const v1::RecordRef& other : dismissed) {
    auto theirs = LoadFlag(txn.tx(), other);
    if (absl::IsAlreadyExists(theirs.status())) continue;
    if (!theirs.ok()) return theirs.status();
    std::vector<v1::DuplicateCandidate> list;
    std::string owner;
    if (*theirs) {
      const v1::PossibleDuplicate& f = (*theirs)->data().possible_duplicate();
      owner = f.owner_user_id();
      for (const v1::DuplicateCandidate& c : f.candidates()) {
        if (Key(c.record()) != Key(flag.record())) list.push_back(c);
      }
    } else {
      auto record = txn.tx().GetRecord(other);
      if (!record.ok()) return record.status();
      if (!*record || (*record)->deleted()) continue;
      owner = (*record)->scope().owner_user_id();
    }
    if (auto s = WriteFlag(txn, *theirs, other, std::move(list), owner, flag.record().id());
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// A dismissal names a flag the server wrote (sync::ValidateMutation
// already limits what it may change).
class DismissalHooks final : public MutationHooks {
 public:
  std::optional<v1::MutationResult> Check(const v1::Mutation& m, const v1::RecordState* current,
                                          const sync::MergeResult& merged) override {
    if (current != nullptr && !current->deleted()) return std::nullopt;
    return RejectedResult(
        m, current == nullptr ? v1::REJECT_REASON_NOT_FOUND : v1::REJECT_REASON_RECORD_DELETED,
        "this possible duplicate is gone (the records changed or were deleted)");
  }
};

class FlagHooks final : public EntityHooks {
 public:
  std::unique_ptr<MutationHooks> ForMutation(const v1::Mutation&) const override {
    return std::make_unique<DismissalHooks>();
  }
  absl::Status AfterPut(PushTxn& txn, const v1::RecordState* current,
                        const v1::RecordState& state) const override {
    DuplicateTxn dup(&txn.tx(), txn.now_ms(), txn.duplicate_options());
    absl::Status s = ApplyDismissals(dup, state);
    if (dup.last_seq() > 0) txn.NoteSideSeq(dup.last_seq());
    return s;
  }
};

class IdentityHooksImpl final : public EntityHooks {
 public:
  // The record's flag; the keys of the pushed values (a partial update
  // may end with other keys: those are read when checked).
  void PrefetchRefs(const v1::Mutation& m, std::vector<v1::RecordRef>* refs) const override {
    refs->push_back(PossibleDuplicateRef(m.record()));
  }
  void PrefetchIndexKeys(const v1::Mutation& m, const DuplicateOptions& options,
                         std::vector<IndexLookup>* lookups) const override {
    if (!options.enabled || m.operation() != v1::OPERATION_UPSERT) return;
    std::vector<int64_t> keys =
        identity::LookupKeysOf(identity::IdentityOf(m.values(), options), options);
    if (keys.empty()) return;
    IndexLookup& lookup = lookups->emplace_back();
    lookup.kind = IndexKind::kDuplicateKey;
    lookup.types = ComparedTypes(m.record().entity_type());
    lookup.keys = std::move(keys);
  }
  absl::Status AfterPut(PushTxn& txn, const v1::RecordState* current,
                        const v1::RecordState& state) const override {
    DuplicateTxn dup(&txn.tx(), txn.now_ms(), txn.duplicate_options());
    absl::Status s = CheckDuplicates(dup, current, state);
    if (dup.last_seq() > 0) txn.NoteSideSeq(dup.last_seq());
    return s;
  }
};

}  // namespace

std::string PossibleDuplicateId(const v1::RecordRef& record) {
  uint64_t h = 14695981039346656037ULL;
  const std::string bytes = Key(record);
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "dup-%016llx", static_cast<unsigned long long>(h));
  return buf;
}

v1::RecordRef PossibleDuplicateRef(const v1::RecordRef& record) {
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_POSSIBLE_DUPLICATE);
  ref.set_id(PossibleDuplicateId(record));
  return ref;
}

const EntityHooks& IdentityHooks() {
  static const IdentityHooksImpl kHooks;
  return kHooks;
}

const EntityHooks& PossibleDuplicateHooks() {
  static const FlagHooks kHooks;
  return kHooks;
}

absl::Status CheckDuplicates(DuplicateTxn& txn, const v1::RecordState* current,
                             const v1::RecordState& state) {
  const DuplicateOptions& options = txn.duplicate_options();
  if (!identity::HasIdentity(state.ref().entity_type())) return absl::OkStatus();
  if (!options.enabled && !state.deleted()) return absl::OkStatus();
  const bool live = !state.deleted();
  const bool was_live = current != nullptr && !current->deleted();
  if (!live && !was_live) return absl::OkStatus();
  if (live && was_live && current->scope().owner_user_id() == state.scope().owner_user_id() &&
      identity::SameIdentityFields(current->data(), state.data())) {
    return absl::OkStatus();  // an edit of other fields (notes, status...)
  }
  const identity::Identity now =
      live ? identity::IdentityOf(state.data(), options) : identity::Identity{};
  const identity::Identity before =
      was_live ? identity::IdentityOf(current->data(), options) : identity::Identity{};
  const std::string& owner = state.scope().owner_user_id();
  const bool owner_changed = was_live && current->scope().owner_user_id() != owner;
  if (live && was_live && now == before && !owner_changed) return absl::OkStatus();

  // The record's keys in the index, replaced once its candidates are found:
  // the lookup then never meets the record's new keys, so a new record is
  // not read back (and decoded) only to be skipped as itself.
  const std::vector<int64_t> keys = identity::IndexKeysOf(now, options);
  const bool keys_changed = !was_live || identity::IndexKeysOf(before, options) != keys;
  auto store_keys = [&]() -> absl::Status {
    if (!keys_changed) return absl::OkStatus();
    return txn.tx().SetIndexKeys(state.ref(), IndexKind::kDuplicateKey, keys);
  };

  // A record that did not exist has no flag: a tombstone takes its flag
  // with it, and only the record's own checks and its candidates' write it.
  absl::StatusOr<std::optional<v1::RecordState>> own = std::optional<v1::RecordState>();
  if (was_live) own = LoadFlag(txn.tx(), state.ref());
  if (absl::IsAlreadyExists(own.status())) return store_keys();
  if (!own.ok()) return own.status();
  std::set<std::string> dismissed;
  std::vector<v1::RecordRef> previous;
  if (*own) {
    const v1::PossibleDuplicate& f = (*own)->data().possible_duplicate();
    dismissed.insert(f.dismissed_record_ids().begin(), f.dismissed_record_ids().end());
    for (const v1::DuplicateCandidate& c : f.candidates()) previous.push_back(c.record());
  }

  std::vector<Found> found;
  if (live && !now.empty()) {
    auto candidates = FindCandidates(txn, state, now, dismissed);
    if (!candidates.ok()) return candidates.status();
    found = std::move(*candidates);
  }
  if (auto s = store_keys(); !s.ok()) return s;

  // The record's own flag (deleted with the record).
  std::vector<v1::DuplicateCandidate> list;
  std::set<std::string> listed;
  for (const Found& f : found) {
    v1::DuplicateCandidate entry = f.entry;
    if (*own) {
      // A candidate already listed keeps when it was first detected.
      for (const v1::DuplicateCandidate& c : (*own)->data().possible_duplicate().candidates()) {
        if (Key(c.record()) == Key(entry.record())) {
          *entry.mutable_detected_at() = c.detected_at();
        }
      }
    }
    listed.insert(Key(entry.record()));
    list.push_back(std::move(entry));
  }
  if (!live && *own) {
    if (auto s = DeleteFlag(txn, **own); !s.ok()) return s;
  } else if (live) {
    if (auto s = WriteFlag(txn, *own, state.ref(), std::move(list), owner); !s.ok()) return s;
  }

  // The other side of each pair.
  for (const Found& f : found) {
    if (auto s = AddToFlagOf(txn, f.entry.record(), f.entry.owner_user_id(), f.reverse,
                             options.max_candidates);
        !s.ok()) {
      return s;
    }
  }
  for (const v1::RecordRef& ref : previous) {
    if (listed.count(Key(ref)) > 0) continue;
    if (auto s = RemoveFromFlagOf(txn, ref, state.ref()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status EnsureDuplicateIndex(ChangeLog* changes, const std::string& tenant_id,
                                  const DuplicateOptions& options) {
  constexpr const char* kMarker = "index:duplicates";
  const int64_t version = identity::IndexKeysVersion(options);
  if (!options.enabled) {
    // Nothing to build: only the mark that the index stops being kept.
    return changes->Write(tenant_id, [&](WriteTx& tx) -> absl::Status {
      auto at = tx.GetClaim(kMarker);
      if (!at.ok()) return at.status();
      if (*at == version) return absl::OkStatus();
      return tx.AddToClaim(kMarker, version - *at).status();
    });
  }
  return ForEachLiveRecordUnlessAt(
      changes, tenant_id, kMarker, version,
      [&options](WriteTx& tx, const v1::RecordState& state) -> absl::Status {
        if (!identity::HasIdentity(state.ref().entity_type())) return absl::OkStatus();
        return tx.SetIndexKeys(
            state.ref(), IndexKind::kDuplicateKey,
            identity::IndexKeysOf(identity::IdentityOf(state.data(), options), options));
      });
}

}  // namespace crmsync::server
