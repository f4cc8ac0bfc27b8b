// libFuzzer target: decodes a stored RecordState and a PushRequest from the
// input (layout in fuzz_input.h) and merges each mutation in turn, chaining
// the resulting state. Checks that Merge is deterministic, keeps its
// metadata contract, and that the change-feed helpers accept what it
// produces. Any crash, sanitizer report or trap is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>

#include "crmsync/sync/change.h"
#include "crmsync/sync/merge.h"
#include "crmsync/sync/record_model.h"
#include "fuzz_input.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace v1 = ::crmsync::v1;
using namespace ::crmsync::sync;  // NOLINT: fuzz target

namespace {

const PolicyTable& Policies(uint8_t flags) {
  static const PolicyTable* const kDefault = new PolicyTable(PolicyTable::Defaults());
  static const PolicyTable* const kDefaultKeepUpdate = [] {
    auto* t = new PolicyTable(PolicyTable::Defaults());
    t->set_delete_rule(DeleteRule::kKeepUpdate);
    return t;
  }();
  static const PolicyTable* const kAlt = [] {
    Result<PolicyTable> t = PolicyTable::Parse(R"(
*.notes = manual
*.name = client_wins
lead.* = provenance
lead.rating = counter
lead.estimated_value.amount_minor = counter
account.* = server_wins
account.annual_revenue.amount_minor = counter
contact.email = unique_claim
calendar_event.attendee_ids = set
coupon.store_ids = set
coupon.max_redemptions_total = counter
delete_vs_update = keep_update
)");
    if (!t.ok()) __builtin_trap();
    return new PolicyTable(std::move(t).value());
  }();
  if (flags & crmsync::fuzz::kFlagAltPolicies) return *kAlt;
  return (flags & crmsync::fuzz::kFlagKeepUpdate) ? *kDefaultKeepUpdate : *kDefault;
}

#define Check(cond)                                                                       \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "fuzz_merge: check failed at line %d: %s\n", __LINE__, #cond); \
      __builtin_trap();                                                                   \
    }                                                                                     \
  } while (0)

// Serialization with map entries in key order (plain serialization orders
// map entries by hash-table layout, which differs between equal messages).
std::string Bytes(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t flags = data[0];
  const size_t len = data[1] | (static_cast<size_t>(data[2]) << 8);
  if (3 + len > size) return 0;
  v1::RecordState state;
  if (!state.ParseFromArray(data + 3, static_cast<int>(len))) return 0;
  v1::PushRequest push;
  if (!push.ParseFromArray(data + 3 + len, static_cast<int>(size - 3 - len))) return 0;
  if (push.mutations_size() > 64) return 0;

  const PolicyTable& policies = Policies(flags);
  bool have_state = len > 0;
  for (const v1::Mutation& m : push.mutations()) {
    // Point the stored record at the mutation's record so merges do happen.
    if (have_state) *state.mutable_ref() = m.record();
    if (state.version() < 0 || state.version() > std::numeric_limits<int64_t>::max() / 2) {
      state.set_version(1);
    }
    v1::Conflict conflict;
    MergeContext ctx;
    ctx.new_version = state.version() + 1;
    ctx.physical_ms = 1'700'000'000'000;
    ctx.policies = &policies;
    if ((flags & crmsync::fuzz::kFlagOpenConflict) &&
        m.operation() == v1::OPERATION_RESOLVE_CONFLICT) {
      conflict.set_id(m.conflict_id());
      *conflict.mutable_record() = m.record();
      conflict.set_status(v1::CONFLICT_STATUS_OPEN);
      if (m.update_mask().paths_size() > 0) conflict.set_field_path(m.update_mask().paths(0));
      ctx.conflict = &conflict;
    }
    const v1::RecordState* stored = have_state ? &state : nullptr;
    MergeResult r = Merge(stored, m, ctx);
    // Deterministic: the same inputs give the same result.
    MergeResult again = Merge(stored, m, ctx);
    Check(r.outcome == again.outcome && r.changed == again.changed &&
          Bytes(r.new_state) == Bytes(again.new_state) &&
          r.conflicts.size() == again.conflicts.size());
    for (size_t i = 0; i < r.conflicts.size(); ++i) {
      Check(r.conflicts[i].id() == again.conflicts[i].id());
    }
    // Metadata contract.
    Check(r.outcome != v1::MUTATION_OUTCOME_UNSPECIFIED);
    Check(!(r.changed && r.metadata_changed));
    if (r.outcome == v1::MUTATION_OUTCOME_REJECTED) Check(!r.changed && !r.metadata_changed);
    if (r.changed) {
      Check(r.new_state.version() == ctx.new_version);
      Check(r.new_state.ref().id() == m.record().id());
      Check(EntityTypeOf(r.new_state.data()) == m.record().entity_type());
    }
    (void)ToMutationResult(r, m, true);
    (void)CanonicalBytes(r.new_state);

    // Device side: local view and change application.
    v1::RecordState local = have_state ? state : v1::RecordState();
    (void)ApplyMutationLocally(&local, m);
    if (r.changed) {
      v1::RecordState replica = have_state ? state : v1::RecordState();
      const v1::Change change = BuildChange(r.new_state, have_state ? state.version() : 0, false);
      Result<ReplicaAction> a = ApplyChange(&replica, change);
      if (a.ok()) {
        const std::string snapshot = replica.SerializeAsString();
        Result<ReplicaAction> b = ApplyChange(&replica, change);
        Check(b.ok() && *b == ReplicaAction::kUnchanged && replica.SerializeAsString() == snapshot);
      }
      state = r.new_state;
      have_state = true;
    } else if (r.metadata_changed) {
      state = r.new_state;
    }
  }
  return 0;
}
