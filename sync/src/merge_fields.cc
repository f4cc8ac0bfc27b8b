// Per-field merge steps: three-way (lww, server_wins, client_wins,
// provenance, manual), counters and unique claims. Sets: merge_set.cc.
#include <limits>

#include "merge_internal.h"

namespace crmsync::sync::internal {

const v1::FieldState& EffectiveFieldState(const v1::RecordState& state, const std::string& path,
                                          v1::FieldState* fallback) {
  const v1::FieldState* best = nullptr;
  for (const auto& [key, fs] : state.fields()) {
    if (!PathIsUnder(key, path) && !PathIsUnder(path, key)) continue;
    if (best == nullptr || fs.version() > best->version()) best = &fs;
  }
  if (best != nullptr) return *best;
  fallback->Clear();
  fallback->set_version(state.created_version());
  return *fallback;
}

v1::FieldState* StampField(MergeState& s, const std::string& path, bool keep_elements) {
  auto* fields = s.next.mutable_fields();
  for (auto it = fields->begin(); it != fields->end();) {
    if (it->first != path && PathIsUnder(it->first, path)) {
      it = fields->erase(it);
    } else {
      ++it;
    }
  }
  v1::FieldState& fs = (*fields)[path];
  fs.set_version(s.ctx.new_version);
  *fs.mutable_hlc() = s.client_hlc;
  *fs.mutable_provenance() = s.m.provenance();
  if (!keep_elements) fs.clear_set_elements();
  return &fs;
}

void TakeClientValue(MergeState& s, const FieldPath& fp, v1::ConflictPolicy policy) {
  const bool equal = PathValuesEqual(*s.data, *s.values, fp);
  if (policy == v1::CONFLICT_POLICY_SET) {
    // A whole-list write of a set field: every element gets a fresh dot.
    CopyPathValue(*s.values, fp, s.data);
    std::vector<std::string> keys = ReadSetKeys(*s.data, fp);
    WriteSetKeys(s.data, fp, keys);
    keys = ReadSetKeys(*s.data, fp);
    v1::FieldState* fs = StampField(s, fp.text, /*keep_elements=*/false);
    for (const std::string& k : keys) {
      v1::SetElement* e = fs->add_set_elements();
      e->set_key(k);
      v1::SetDot* dot = e->add_dots();
      dot->set_version(s.ctx.new_version);
      dot->set_device_id(s.device_id);
      dot->set_client_seq(s.m.client_seq());
    }
    if (!equal)
      s.result->changed_fields.push_back(fp.text);
    else
      s.metadata_touched = true;
    return;
  }
  if (equal) return;
  CopyPathValue(*s.values, fp, s.data);
  StampField(s, fp.text, policy == v1::CONFLICT_POLICY_COUNTER);
  s.result->changed_fields.push_back(fp.text);
}

// True if the client's write is ordered after the stored one under `policy`
// (lww: clamped HLC; provenance: precision, then HLC).
static bool ClientOrderedAfter(const MergeState& s, const v1::FieldState& fs,
                               v1::ConflictPolicy policy) {
  if (policy == v1::CONFLICT_POLICY_PROVENANCE) {
    const int cp = s.m.provenance().precision();
    const int sp = fs.provenance().precision();
    if (cp != sp) return cp > sp;
  }
  return CompareHlc(s.client_hlc, fs.hlc()) > 0;
}

FieldStep MergeThreeWay(MergeState& s, const FieldPath& fp, v1::ConflictPolicy policy) {
  FieldStep step;
  v1::FieldState fallback;
  const v1::FieldState& fs = EffectiveFieldState(s.next, fp.text, &fallback);
  const bool own_write = !s.device_id.empty() && fs.provenance().device_id() == s.device_id;
  // No metadata and the default value: no write ever set this field (the
  // create left it out), so it did not change after any base. Without this,
  // a device that creates a record and then sets one of its unset fields
  // before the create is acknowledged (base version 0) would conflict with
  // itself.
  const bool never_written = &fs == &fallback && PathIsDefault(*s.data, fp);
  // The stored field changed after the client's base, and not by the same
  // device's earlier (hence observed) write.
  const bool concurrent = fs.version() > s.m.base_version() && !own_write && !never_written;
  if (PathValuesEqual(*s.data, *s.values, fp)) {
    // Same value: never a conflict. Under the ordered policies (lww,
    // provenance) the write still counts as a write: the field's stamp
    // moves to it exactly as if the value had changed, so that a concurrent
    // write arriving later is compared against it and the result does not
    // depend on arrival order. Only metadata changes (no new record version).
    const bool ordered =
        policy == v1::CONFLICT_POLICY_LWW || policy == v1::CONFLICT_POLICY_PROVENANCE;
    const bool already_stamped = CompareHlc(fs.hlc(), s.client_hlc) == 0;
    if (ordered && !already_stamped && (!concurrent || ClientOrderedAfter(s, fs, policy))) {
      StampField(s, fp.text, /*keep_elements=*/false);
      s.metadata_touched = true;
    }
    return step;
  }
  if (!concurrent) {
    TakeClientValue(s, fp, policy);
    return step;
  }
  step.server_value = ExtractPath(s.next.data(), s.type, fp);
  step.server_state = fs;
  switch (policy) {
    case v1::CONFLICT_POLICY_MANUAL: step.verdict = FieldVerdict::kNeedsHuman; return step;
    case v1::CONFLICT_POLICY_SERVER_WINS: step.verdict = FieldVerdict::kServerWon; return step;
    case v1::CONFLICT_POLICY_CLIENT_WINS: step.verdict = FieldVerdict::kClientWon; break;
    default:  // lww, provenance
      step.verdict =
          ClientOrderedAfter(s, fs, policy) ? FieldVerdict::kClientWon : FieldVerdict::kServerWon;
      break;
  }
  if (step.verdict == FieldVerdict::kClientWon) TakeClientValue(s, fp, policy);
  return step;
}

// Counter fields remember, per device, the highest client_seq applied, in
// FieldState.set_elements (key = device id, one dot), so a re-delivered
// mutation is not counted twice.
static v1::SetDot* CounterMark(v1::FieldState* fs, const std::string& device) {
  for (v1::SetElement& e : *fs->mutable_set_elements()) {
    if (e.key() == device) {
      if (e.dots_size() == 0) e.add_dots();
      return e.mutable_dots(0);
    }
  }
  v1::SetElement* e = fs->add_set_elements();
  e->set_key(device);
  return e->add_dots();
}

FieldStep MergeCounter(MergeState& s, const FieldPath& fp, FieldAction action) {
  FieldStep step;
  const bool dedup = !s.device_id.empty() && s.m.client_seq() > 0;
  auto it = s.next.fields().find(fp.text);
  if (dedup && it != s.next.fields().end()) {
    for (const v1::SetElement& e : it->second.set_elements()) {
      if (e.key() == s.device_id && e.dots_size() > 0 &&
          e.dots(0).client_seq() >= s.m.client_seq()) {
        return step;  // Already counted.
      }
    }
  }
  const int64_t value = GetPathInt(*s.values, fp);
  int64_t delta = value;
  if (action == FieldAction::kCounterDelta) {
    if (!s.has_base_values && s.stored != nullptr && s.m.base_version() > 0) {
      step.error =
          Status::InvalidArgument("counter field '" + fp.text +
                                  "' needs base_values in an update (or use OPERATION_INCREMENT)");
      return step;
    }
    const int64_t base = GetPathInt(*s.base_values, fp);
    if (__builtin_sub_overflow(value, base, &delta)) {
      step.error = Status::InvalidArgument("counter delta overflows on '" + fp.text + "'");
      return step;
    }
  }
  const int64_t current = GetPathInt(*s.data, fp);
  int64_t next_value = 0;
  if (__builtin_add_overflow(current, delta, &next_value)) {
    step.error = Status::InvalidArgument("counter '" + fp.text + "' overflows");
    return step;
  }
  if (delta != 0) {
    Status set = SetPathInt(s.data, fp, next_value);
    if (!set.ok()) {
      step.error = set;
      return step;
    }
    v1::FieldState* fs = StampField(s, fp.text, /*keep_elements=*/true);
    if (dedup) {
      v1::SetDot* mark = CounterMark(fs, s.device_id);
      mark->set_version(s.ctx.new_version);
      mark->set_device_id(s.device_id);
      mark->set_client_seq(s.m.client_seq());
    }
    s.result->changed_fields.push_back(fp.text);
  }
  if (action == FieldAction::kCounterDelta && next_value != value) {
    step.verdict = FieldVerdict::kCombined;
  }
  return step;
}

FieldStep MergeClaim(MergeState& s, const FieldPath& fp) {
  FieldStep step;
  if (PathValuesEqual(*s.data, *s.values, fp)) return step;
  if (!PathIsDefault(*s.data, fp)) {
    step.verdict = FieldVerdict::kClaimTaken;
    v1::FieldState fallback;
    step.server_state = EffectiveFieldState(s.next, fp.text, &fallback);
    step.detail = "field '" + fp.text + "' was already claimed at version " +
                  std::to_string(step.server_state.version());
    return step;
  }
  TakeClientValue(s, fp, v1::CONFLICT_POLICY_UNIQUE_CLAIM);
  return step;
}

v1::Conflict MakeConflict(const MergeState& s, const FieldPath& fp, v1::ConflictPolicy policy,
                          const FieldStep& step, ConflictRecordKind kind) {
  v1::Conflict c;
  c.set_id(ConflictId(s.m, fp.text));
  *c.mutable_record() = s.m.record();
  c.set_field_path(fp.text);
  c.set_policy(policy);
  c.set_status(kind == ConflictRecordKind::kOpen ? v1::CONFLICT_STATUS_OPEN
                                                 : v1::CONFLICT_STATUS_RESOLVED);
  if (s.has_base_values) *c.mutable_base_value() = ExtractPath(s.m.base_values(), s.type, fp);
  if (step.server_value) *c.mutable_server_value() = *step.server_value;
  *c.mutable_client_value() = ExtractPath(s.m.values(), s.type, fp);
  *c.mutable_server_provenance() = step.server_state.provenance();
  *c.mutable_client_provenance() = s.m.provenance();
  *c.mutable_server_hlc() = step.server_state.hlc();
  *c.mutable_client_hlc() = s.m.hlc();
  c.set_detected_at_version(s.stored != nullptr ? s.stored->version() : 0);
  SetTimestamp(s.ctx.physical_ms, c.mutable_created_at());
  c.set_owner_user_id(s.stored != nullptr ? ScopeKeysOf(s.stored->data()).owner_user_id()
                                          : std::string());
  c.set_auto_resolved(kind == ConflictRecordKind::kAudit);
  if (kind == ConflictRecordKind::kAudit) {
    *c.mutable_resolved_value() = ExtractPath(s.next.data(), s.type, fp);
    SetTimestamp(s.ctx.physical_ms, c.mutable_resolved_at());
  }
  return c;
}

void Reject(MergeResult* result, const v1::RecordState* stored, v1::RejectReason reason,
            std::string message) {
  result->outcome = v1::MUTATION_OUTCOME_REJECTED;
  result->reject_reason = reason;
  result->message = std::move(message);
  if (stored != nullptr) {
    result->new_state = *stored;
  } else {
    result->new_state.Clear();
  }
  result->changed = false;
  result->metadata_changed = false;
  result->changed_fields.clear();
  result->server_kept_fields.clear();
  result->lost_fields.clear();
  result->conflicts.clear();
  result->resolved_conflict.reset();
}

void SetTimestamp(int64_t ms, google::protobuf::Timestamp* ts) {
  int64_t seconds = ms / 1000;
  int64_t millis = ms % 1000;
  if (millis < 0) {
    millis += 1000;
    seconds -= 1;
  }
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>(millis * 1'000'000));
}

std::string RecordName(const v1::RecordRef& ref) {
  return EntityTypeName(ref.entity_type()) + "/" + ref.id();
}

}  // namespace crmsync::sync::internal
