// MergeRecords: two records of one customer become one (merge_records.h).
#include "crmsync/sync/merge_records.h"

#include <algorithm>
#include <set>

#include "crmsync/sync/hlc.h"
#include "merge_internal.h"

namespace crmsync::sync {

namespace internal {
void FinishChangedState(v1::RecordState* next, const v1::RecordState* stored,
                        const v1::HlcTimestamp& client_hlc, int64_t version);
}  // namespace internal

namespace {

namespace pb = ::google::protobuf;
using internal::EffectiveFieldState;
using internal::ReadSetKeys;
using internal::SortSetKeys;
using internal::WriteSetKeys;

RecordMergeResult Invalid(std::string message) {
  RecordMergeResult r;
  r.status = Status::InvalidArgument(std::move(message));
  return r;
}

bool Contains(const pb::RepeatedPtrField<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

// The live elements of set field `fp` of `state`, keyed; a field without
// dots (written before it became a set) gets one per value at its version.
std::vector<v1::SetElement> Elements(const v1::RecordState& state, const pb::Message& entity,
                                     const FieldPath& fp) {
  std::vector<v1::SetElement> out;
  auto it = state.fields().find(fp.text);
  if (it != state.fields().end() && it->second.set_elements_size() > 0) {
    out.assign(it->second.set_elements().begin(), it->second.set_elements().end());
    return out;
  }
  v1::FieldState fallback;
  const int64_t version = EffectiveFieldState(state, fp.text, &fallback).version();
  for (const std::string& k : ReadSetKeys(entity, fp)) {
    v1::SetElement& e = out.emplace_back();
    e.set_key(k);
    e.add_dots()->set_version(version);
  }
  return out;
}

// Both sides' elements, each add once, sorted by key.
std::vector<v1::SetElement> UnionElements(std::vector<v1::SetElement> a,
                                          const std::vector<v1::SetElement>& b) {
  auto same_dot = [](const v1::SetDot& x, const v1::SetDot& y) {
    return x.version() == y.version() && x.device_id() == y.device_id() &&
           x.client_seq() == y.client_seq();
  };
  for (const v1::SetElement& eb : b) {
    auto it = std::find_if(a.begin(), a.end(),
                           [&](const v1::SetElement& e) { return e.key() == eb.key(); });
    if (it == a.end()) {
      a.push_back(eb);
      continue;
    }
    for (const v1::SetDot& d : eb.dots()) {
      bool seen = false;
      for (const v1::SetDot& have : it->dots()) seen = seen || same_dot(have, d);
      if (!seen) *it->add_dots() = d;
    }
  }
  std::sort(a.begin(), a.end(),
            [](const v1::SetElement& x, const v1::SetElement& y) { return x.key() < y.key(); });
  return a;
}

}  // namespace

RecordMergeResult MergeRecords(const v1::RecordState& survivor, const v1::RecordState& merged,
                               const v1::Mutation& m, int64_t survivor_version,
                               int64_t tombstone_version, const PolicyTable& policies) {
  const v1::EntityType type = survivor.ref().entity_type();
  const std::string survivor_name = internal::RecordName(survivor.ref());
  const std::string merged_name = internal::RecordName(merged.ref());
  if (merged.ref().entity_type() != type) {
    return Invalid("cannot merge " + merged_name + " into " + survivor_name +
                   ": only records of one type merge");
  }
  if (merged.ref().id() == survivor.ref().id()) {
    return Invalid("cannot merge " + survivor_name + " into itself");
  }
  if (survivor.deleted()) return Invalid("the survivor " + survivor_name + " is deleted");
  if (merged.deleted()) return Invalid(merged_name + " is deleted");
  if (survivor_version <= std::max(survivor.version(), merged.version()) ||
      tombstone_version <= std::max(survivor.version(), merged.version()) ||
      survivor_version == tombstone_version) {
    return Invalid("internal: merge versions must be distinct and above both records'");
  }
  const pb::Descriptor* d = EntityDescriptor(type);
  if (d == nullptr) return Invalid("internal: " + survivor_name + " has no entity type");

  RecordMergeResult r;
  r.survivor = survivor;
  v1::RecordState& next = r.survivor;
  pb::Message* data = MutableEntity(next.mutable_data(), type);
  const pb::Message& other = *EntityOrDefault(merged.data(), type);
  const v1::MergeSpec& spec = m.merge();

  // Every field, and each entry of a keyed map (custom fields) on its own.
  std::vector<std::string> names;
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (f->name() == "id") continue;
    if (IsKeyedMapField(f)) {
      for (std::string& p : KeyedMapPaths(*data, other, f)) names.push_back(std::move(p));
    } else {
      names.push_back(f->name());
    }
  }
  for (const std::string& name : names) {
    Result<FieldPath> fp = ResolveFieldPath(d, name);
    if (!fp.ok()) return Invalid("internal: " + fp.status().message());
    const v1::ConflictPolicy policy = policies.Lookup(type, name);
    if (policy == v1::CONFLICT_POLICY_COUNTER) {
      return Invalid(EntityTypeName(type) + " has counter field '" + name +
                     "': such records do not merge");
    }
    // A rule for a map ("custom") covers its entries.
    const std::string& top = fp->fields.front()->name();
    const bool keep = Contains(spec.keep_survivor(), name) || Contains(spec.keep_survivor(), top);
    const bool take =
        Contains(spec.take_from_merged(), name) || Contains(spec.take_from_merged(), top);
    if (keep) continue;

    if (policy == v1::CONFLICT_POLICY_SET && !take) {
      std::vector<v1::SetElement> mine = Elements(survivor, *data, *fp);
      std::vector<v1::SetElement> all = UnionElements(mine, Elements(merged, other, *fp));
      std::sort(mine.begin(), mine.end(),
                [](const v1::SetElement& x, const v1::SetElement& y) { return x.key() < y.key(); });
      bool same = mine.size() == all.size();
      for (size_t k = 0; same && k < all.size(); ++k) {
        same = mine[k].SerializeAsString() == all[k].SerializeAsString();
      }
      if (same) continue;
      std::vector<std::string> keys;
      for (const v1::SetElement& e : all) keys.push_back(e.key());
      SortSetKeys(*fp, &keys);
      WriteSetKeys(data, *fp, keys);
      auto* fields = next.mutable_fields();
      for (auto it = fields->begin(); it != fields->end();) {
        it = PathIsUnder(it->first, name) ? fields->erase(it) : std::next(it);
      }
      v1::FieldState& fs = (*fields)[name];
      fs.set_version(survivor_version);
      *fs.mutable_hlc() = m.hlc();
      *fs.mutable_provenance() = m.provenance();
      for (v1::SetElement& e : all) *fs.add_set_elements() = std::move(e);
      r.combined_fields.push_back(name);
      continue;
    }

    v1::FieldState none_mine;
    v1::FieldState none_other;
    const v1::FieldState& mine = EffectiveFieldState(survivor, name, &none_mine);
    const v1::FieldState& theirs = EffectiveFieldState(merged, name, &none_other);
    const bool equal = PathValuesEqual(*data, other, *fp);
    bool take_value = take;
    if (!take) {
      if (IsScopeField(type, name) || PathIsDefault(other, *fp)) continue;
      if (equal) {
        // Same value: keep the more precise stamp (its lineage says more).
        take_value = theirs.provenance().precision() > mine.provenance().precision();
      } else {
        take_value = PathIsDefault(*data, *fp) ||
                     theirs.provenance().precision() > mine.provenance().precision();
      }
    }
    if (!take_value) continue;
    CopyPathValue(other, *fp, data);
    auto* fields = next.mutable_fields();
    for (auto it = fields->begin(); it != fields->end();) {
      it = PathIsUnder(it->first, name) ? fields->erase(it) : std::next(it);
    }
    bool copied = false;
    for (const auto& [key, fs] : merged.fields()) {
      if (!PathIsUnder(key, name)) continue;
      v1::FieldState& to = (*fields)[key];
      to = fs;
      to.set_version(survivor_version);
      copied = true;
    }
    if (!copied) {
      // Set when the merged record was created and never stamped: its
      // record clock stands for it.
      v1::FieldState& to = (*fields)[name];
      to.set_version(survivor_version);
      *to.mutable_hlc() = merged.hlc();
    }
    r.taken_fields.push_back(name);
  }
  if (!r.taken_fields.empty() || !r.combined_fields.empty()) {
    StripEmptyMessages(data);
    internal::FinishChangedState(&next, &survivor, m.hlc(), survivor_version);
    if (CompareHlc(merged.hlc(), next.hlc()) > 0) *next.mutable_hlc() = merged.hlc();
    r.survivor_changed = true;
  }
  r.tombstone = ServerTombstone(merged, tombstone_version, m.hlc());
  *r.tombstone.mutable_merged_into() = survivor.ref();
  r.status = Status::Ok();
  return r;
}

}  // namespace crmsync::sync
