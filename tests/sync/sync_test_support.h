// Test helpers for the sync core: a minimal in-memory "server" that merges
// and stores records, and devices that edit their replica offline the way
// the SDK does (mask computed from the edit, base values and base version
// from what the device saw).
#ifndef CRMSYNC_TESTS_SYNC_SYNC_TEST_SUPPORT_H_
#define CRMSYNC_TESTS_SYNC_SYNC_TEST_SUPPORT_H_

#include <functional>
#include <map>
#include <string>

#include "crmsync/sync/change.h"
#include "crmsync/sync/hlc.h"
#include "crmsync/sync/merge.h"
#include "crmsync/sync/policy_table.h"
#include "crmsync/sync/record_model.h"

namespace crmsync::sync::testing {

namespace v1 = ::crmsync::v1;

inline v1::HlcTimestamp Hlc(int64_t wall_ms, uint32_t logical, const std::string& node) {
  v1::HlcTimestamp t;
  t.set_wall_time_ms(wall_ms);
  t.set_logical(logical);
  t.set_node_id(node);
  return t;
}

// Holds records by id, assigns versions, merges pushed mutations.
class TestServer {
 public:
  explicit TestServer(PolicyTable policies = PolicyTable::Defaults())
      : policies_(std::move(policies)) {}

  MergeResult Push(const v1::Mutation& m, const v1::Conflict* conflict = nullptr) {
    auto it = records_.find(m.record().id());
    const v1::RecordState* stored = it == records_.end() ? nullptr : &it->second;
    MergeContext ctx;
    ctx.new_version = next_version_;
    ctx.physical_ms = physical_ms;
    ctx.policies = &policies_;
    ctx.conflict = conflict;
    MergeResult r = Merge(stored, m, ctx);
    if (r.changed) {
      ++next_version_;
      records_[m.record().id()] = r.new_state;
    } else if (r.metadata_changed) {
      records_[m.record().id()] = r.new_state;
    }
    for (const v1::Conflict& c : r.conflicts) conflicts_[c.id()] = c;
    if (r.resolved_conflict) conflicts_[r.resolved_conflict->id()] = *r.resolved_conflict;
    return r;
  }

  const v1::RecordState& Get(const std::string& id) const { return records_.at(id); }
  bool Has(const std::string& id) const { return records_.count(id) > 0; }
  const v1::Conflict* FindConflict(const std::string& id) const {
    auto it = conflicts_.find(id);
    return it == conflicts_.end() ? nullptr : &it->second;
  }
  PolicyTable& policies() { return policies_; }
  int64_t next_version() const { return next_version_; }

  // The server's physical clock (ms).
  int64_t physical_ms = 1'700'000'000'000;

 private:
  PolicyTable policies_;
  std::map<std::string, v1::RecordState> records_;
  std::map<std::string, v1::Conflict> conflicts_;
  int64_t next_version_ = 1;
};

// A device that edits its replica offline.
class TestDevice {
 public:
  explicit TestDevice(const std::string& id, v1::Precision precision = v1::PRECISION_REPORTED)
      : id_(id), clock_(id), precision_(precision) {}

  // Pulls the server's current copy of a record (as a full replica).
  void Pull(const TestServer& server, const std::string& record_id) {
    replica_ = server.Get(record_id);
  }

  // An offline edit of the replica: UPSERT of the fields `edit` changed,
  // with base values and base version from the replica.
  v1::Mutation Edit(const std::function<void(v1::Record*)>& edit, int64_t physical_ms) {
    v1::Record after = replica_.data();
    edit(&after);
    v1::Mutation m = Envelope(v1::OPERATION_UPSERT, physical_ms);
    *m.mutable_update_mask() = ComputeFieldMask(replica_.data(), after);
    *m.mutable_values() = after;
    *m.mutable_base_values() = replica_.data();
    Local(m);
    return m;
  }

  // A create of a new record holding `record`.
  v1::Mutation Create(const std::string& record_id, const v1::Record& record, int64_t physical_ms) {
    replica_.Clear();
    v1::Mutation m = Envelope(v1::OPERATION_UPSERT, physical_ms);
    m.mutable_record()->set_entity_type(EntityTypeOf(record));
    m.mutable_record()->set_id(record_id);
    *m.mutable_values() = record;
    m.set_base_version(0);
    Local(m);
    return m;
  }

  // A mutation of `op` with the given mask and values, based on the replica.
  v1::Mutation Op(v1::Operation op, const std::vector<std::string>& paths, const v1::Record& values,
                  int64_t physical_ms) {
    v1::Mutation m = Envelope(op, physical_ms);
    for (const std::string& p : paths) m.mutable_update_mask()->add_paths(p);
    *m.mutable_values() = values;
    if (op == v1::OPERATION_UPSERT) *m.mutable_base_values() = replica_.data();
    Local(m);
    return m;
  }

  v1::Mutation Delete(int64_t physical_ms) {
    v1::Mutation m = Envelope(v1::OPERATION_DELETE, physical_ms);
    Local(m);
    return m;
  }

  const v1::RecordState& replica() const { return replica_; }
  const std::string& id() const { return id_; }
  void set_precision(v1::Precision p) { precision_ = p; }

 private:
  v1::Mutation Envelope(v1::Operation op, int64_t physical_ms) {
    v1::Mutation m;
    m.set_client_seq(++seq_);
    *m.mutable_record() = replica_.ref();
    m.set_operation(op);
    m.set_base_version(replica_.version());
    *m.mutable_hlc() = clock_.Now(physical_ms);
    m.mutable_provenance()->set_device_id(id_);
    m.mutable_provenance()->set_author_user_id("user-" + id_);
    m.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
    m.mutable_provenance()->set_precision(precision_);
    return m;
  }
  void Local(const v1::Mutation& m) {
    Status s = ApplyMutationLocally(&replica_, m);
    (void)s;
  }

  std::string id_;
  HybridLogicalClock clock_;
  v1::Precision precision_;
  int64_t seq_ = 0;
  v1::RecordState replica_;
};

}  // namespace crmsync::sync::testing

#endif  // CRMSYNC_TESTS_SYNC_SYNC_TEST_SUPPORT_H_
