#include "references.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "crmsync/sync/record_model.h"
#include "crmsync/sync/timeline.h"
#include "hashing.h"

namespace crmsync::server {
namespace {

bool SameRef(const v1::RecordRef& a, const v1::RecordRef& b) {
  return a.entity_type() == b.entity_type() && a.id() == b.id();
}

std::vector<int64_t> KeysOf(const v1::Record& data) {
  std::vector<int64_t> keys;
  for (const v1::RecordRef& r : ReferencesOf(data)) keys.push_back(ReferenceKey(r));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

// `data` with every reference to `from` pointing at `to`; the mask of the
// fields that changed (empty: `data` does not refer to `from`).
std::vector<std::string> Repoint(v1::Record* data, const v1::RecordRef& from,
                                 const v1::RecordRef& to) {
  std::vector<std::string> paths;
  auto repoint_ref = [&](v1::RecordRef* r) {
    if (!SameRef(*r, from)) return false;
    *r = to;
    return true;
  };
  switch (data->entity_case()) {
    case v1::Record::kActivity:
      if (repoint_ref(data->mutable_activity()->mutable_related())) paths.push_back("related");
      break;
    case v1::Record::kCalendarEvent: {
      v1::CalendarEvent* e = data->mutable_calendar_event();
      if (e->has_related() && repoint_ref(e->mutable_related())) paths.push_back("related");
      if (from.entity_type() == v1::ENTITY_TYPE_CONTACT) {
        auto* ids = e->mutable_attendee_ids();
        auto it = std::find(ids->begin(), ids->end(), from.id());
        if (it != ids->end()) {
          const bool has_to = std::find(ids->begin(), ids->end(), to.id()) != ids->end();
          if (has_to) {
            ids->erase(it);
          } else {
            *it = to.id();
          }
          std::sort(ids->begin(), ids->end());
          paths.push_back("attendee_ids");
        }
      }
      break;
    }
    case v1::Record::kOpportunity:
      if (from.entity_type() == v1::ENTITY_TYPE_ACCOUNT &&
          data->opportunity().account_id() == from.id()) {
        data->mutable_opportunity()->set_account_id(to.id());
        paths.push_back("account_id");
      }
      break;
    case v1::Record::kContact:
      if (from.entity_type() == v1::ENTITY_TYPE_ACCOUNT &&
          data->contact().account_id() == from.id()) {
        data->mutable_contact()->set_account_id(to.id());
        paths.push_back("account_id");
      }
      break;
    case v1::Record::kLoyaltyAccount:
      if (from.entity_type() == v1::ENTITY_TYPE_CONTACT &&
          data->loyalty_account().contact_id() == from.id()) {
        data->mutable_loyalty_account()->set_contact_id(to.id());
        paths.push_back("contact_id");
      }
      break;
    default: break;
  }
  return paths;
}

class ReferenceHooks final : public EntityHooks {
 public:
  explicit ReferenceHooks(const EntityHooks* inner) : inner_(inner) {}

  void PrefetchRefs(const v1::Mutation& m, std::vector<v1::RecordRef>* refs) const override {
    for (v1::RecordRef& r : ReferencesOf(m.values())) refs->push_back(std::move(r));
    inner_->PrefetchRefs(m, refs);
  }
  void PrefetchIndexKeys(const v1::Mutation& m, const DuplicateOptions& options,
                         std::vector<IndexLookup>* lookups) const override {
    inner_->PrefetchIndexKeys(m, options, lookups);
  }
  std::unique_ptr<MutationHooks> ForMutation(const v1::Mutation& m) const override {
    return inner_->ForMutation(m);
  }
  absl::Status BeforePut(PushTxn& txn, const v1::RecordState* current,
                         v1::RecordState* state) const override {
    if (!state->deleted()) {
      // New references only: one that was there before was repointed when
      // its target merged.
      const std::vector<v1::RecordRef> before = current && !current->deleted()
                                                    ? ReferencesOf(current->data())
                                                    : std::vector<v1::RecordRef>{};
      for (const v1::RecordRef& r : ReferencesOf(state->data())) {
        if (std::any_of(before.begin(), before.end(),
                        [&](const v1::RecordRef& b) { return SameRef(b, r); })) {
          continue;
        }
        auto survivor = MergedInto(txn.tx(), r);
        if (!survivor.ok()) return survivor.status();
        if (*survivor) Repoint(state->mutable_data(), r, **survivor);
      }
    }
    return inner_->BeforePut(txn, current, state);
  }
  absl::Status AfterPut(PushTxn& txn, const v1::RecordState* current,
                        const v1::RecordState& state) const override {
    const std::vector<int64_t> keys =
        state.deleted() ? std::vector<int64_t>{} : KeysOf(state.data());
    const std::vector<int64_t> had =
        current && !current->deleted() ? KeysOf(current->data()) : std::vector<int64_t>{};
    if (keys != had || !current) {
      if (auto s = txn.tx().SetIndexKeys(state.ref(), IndexKind::kReference, keys); !s.ok()) {
        return s;
      }
    }
    return inner_->AfterPut(txn, current, state);
  }

 private:
  const EntityHooks* inner_;
};

}  // namespace

int64_t ReferenceKey(const v1::RecordRef& ref) {
  return static_cast<int64_t>(Fnv64("ref", std::to_string(ref.entity_type()) + ":" + ref.id()));
}

std::vector<v1::RecordRef> ReferencesOf(const v1::Record& data) { return sync::ReferencesOf(data); }

bool HoldsReferences(v1::EntityType type) {
  return type == v1::ENTITY_TYPE_ACTIVITY || type == v1::ENTITY_TYPE_CALENDAR_EVENT ||
         type == v1::ENTITY_TYPE_OPPORTUNITY || type == v1::ENTITY_TYPE_CONTACT ||
         type == v1::ENTITY_TYPE_LOYALTY_ACCOUNT || type == v1::ENTITY_TYPE_REDEMPTION;
}

std::unique_ptr<EntityHooks> MakeReferenceHooks(const EntityHooks* inner) {
  return std::make_unique<ReferenceHooks>(inner);
}

absl::StatusOr<std::vector<v1::RecordState>> FindReferrers(WriteTx& tx, v1::EntityType holder_type,
                                                           const v1::RecordRef& target, int limit) {
  const int64_t key = ReferenceKey(target);
  auto found = tx.FindIndexed(IndexKind::kReference, holder_type, {{key, key}}, 0);
  if (!found.ok()) return found.status();
  std::vector<v1::RecordState> out;
  for (v1::RecordState& s : *found) {
    if (s.deleted()) continue;
    // A hash collision names a record that refers to something else.
    if (!sync::RefersTo(s.data(), target)) continue;
    out.push_back(std::move(s));
    if (limit > 0 && static_cast<int>(out.size()) >= limit) break;
  }
  return out;
}

absl::StatusOr<int> MoveReferences(PushTxn& txn, const v1::RecordRef& from,
                                   const v1::RecordRef& to) {
  int moved = 0;
  for (v1::EntityType holder :
       {v1::ENTITY_TYPE_ACTIVITY, v1::ENTITY_TYPE_CALENDAR_EVENT, v1::ENTITY_TYPE_OPPORTUNITY,
        v1::ENTITY_TYPE_CONTACT, v1::ENTITY_TYPE_LOYALTY_ACCOUNT}) {
    auto referrers = FindReferrers(txn.tx(), holder, from, 0);
    if (!referrers.ok()) return referrers.status();
    for (const v1::RecordState& current : *referrers) {
      v1::Mutation m;
      *m.mutable_record() = current.ref();
      m.set_operation(v1::OPERATION_UPSERT);
      *m.mutable_values() = current.data();
      for (const std::string& p : Repoint(m.mutable_values(), from, to)) {
        m.mutable_update_mask()->add_paths(p);
      }
      if (m.update_mask().paths().empty()) continue;
      *m.mutable_base_values() = current.data();
      m.set_base_version(current.version());
      m.mutable_hlc()->set_wall_time_ms(txn.now_ms());
      m.mutable_hlc()->set_node_id("server");
      m.mutable_provenance()->set_channel(v1::CHANNEL_SYSTEM);
      m.mutable_provenance()->set_precision(v1::PRECISION_VERIFIED);
      if (auto s = txn.ApplyServerChange(current, m); !s.ok()) return s;
      ++moved;
    }
  }
  return moved;
}

absl::Status ForEachLiveRecordOnce(
    ChangeLog* changes, const std::string& tenant_id, const char* marker,
    const std::function<absl::Status(WriteTx&, const v1::RecordState&)>& each) {
  return ForEachLiveRecordUnlessAt(changes, tenant_id, marker, 1, each);
}

absl::Status ForEachLiveRecordUnlessAt(
    ChangeLog* changes, const std::string& tenant_id, const char* marker, int64_t version,
    const std::function<absl::Status(WriteTx&, const v1::RecordState&)>& each) {
  return changes->Write(tenant_id, [&](WriteTx& tx) -> absl::Status {
    auto built = tx.GetClaim(marker);
    if (!built.ok()) return built.status();
    if (*built == version) return absl::OkStatus();
    for (int64_t after = 0;;) {
      auto rows = changes->ReadSince(tenant_id, after, 1000);
      if (!rows.ok()) return rows.status();
      for (const RecordRow& row : *rows) {
        after = row.state.version();
        if (row.state.deleted()) continue;
        if (auto s = each(tx, row.state); !s.ok()) return s;
      }
      if (rows->size() < 1000) break;
    }
    return tx.AddToClaim(marker, version - *built).status();
  });
}

absl::Status EnsureReferenceIndex(ChangeLog* changes, const std::string& tenant_id) {
  // Version 2: loyalty cards (their contact) and redemptions (their card).
  return ForEachLiveRecordOnce(changes, tenant_id, "index:references:2",
                               [](WriteTx& tx, const v1::RecordState& state) -> absl::Status {
                                 if (!HoldsReferences(state.ref().entity_type()))
                                   return absl::OkStatus();
                                 const std::vector<int64_t> keys = KeysOf(state.data());
                                 if (keys.empty()) return absl::OkStatus();
                                 return tx.SetIndexKeys(state.ref(), IndexKind::kReference, keys);
                               });
}

absl::StatusOr<std::optional<v1::RecordRef>> MergedInto(WriteTx& tx, const v1::RecordRef& ref) {
  std::optional<v1::RecordRef> survivor;
  v1::RecordRef at = ref;
  for (int hop = 0; hop < 16; ++hop) {
    if (at.entity_type() != v1::ENTITY_TYPE_LEAD && at.entity_type() != v1::ENTITY_TYPE_CONTACT &&
        at.entity_type() != v1::ENTITY_TYPE_ACCOUNT) {
      return survivor;
    }
    auto got = tx.GetRecord(at);
    if (!got.ok()) {
      // A reference the store would refuse to look up (a malformed id) is
      // the device's business: it is not a merged record.
      if (got.status().code() == absl::StatusCode::kInvalidArgument) return survivor;
      return got.status();
    }
    if (!got->has_value() || !(*got)->deleted() || !(*got)->has_merged_into()) return survivor;
    at = (*got)->merged_into();
    survivor = at;
  }
  return survivor;
}

}  // namespace crmsync::server
