#include "sync_harness.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "crmsync/sync/change.h"
#include "crmsync/sync/hlc.h"
#include "crmsync/sync/record_model.h"
#include "google/protobuf/util/message_differencer.h"

namespace crmsync::sync::harness {

namespace {

constexpr const char* kLwwFields[] = {"first_name", "company", "notes", "status"};
constexpr const char* kCounterPath = "estimated_value.amount_minor";
constexpr const char* kTagPool[] = {"a", "b", "c", "d", "e"};
constexpr const char* kTextPool[] = {"x", "y", "z", ""};
constexpr const char* kTerritories[] = {"n", "s", "e", "w"};
constexpr int64_t kDevicePhysicalStart = 1'700'000'000'000;

v1::Record InitialLead() {
  v1::Record r;
  v1::Lead* l = r.mutable_lead();
  l->set_id("L1");
  l->set_first_name("init");
  l->set_company("c0");
  l->set_status(v1::LEAD_STATUS_NEW);
  l->set_rating(2);
  l->mutable_estimated_value()->set_currency_code("EUR");
  l->mutable_estimated_value()->set_amount_minor(100);
  l->add_tags("a");
  l->add_tags("b");
  l->set_territory("n");
  l->set_owner_user_id("rep");
  return r;
}

// A device editing offline from the initial record.
class SimDevice {
 public:
  SimDevice(std::string id, const v1::RecordState& initial, int64_t clock_offset_ms)
      : id_(std::move(id)), clock_(id_), local_(initial), offset_(clock_offset_ms) {}

  v1::Mutation Make(Rng& rng, v1::Operation op, const std::vector<std::string>& paths,
                    const v1::Record& values) {
    physical_ += 1 + static_cast<int64_t>(rng.Below(20'000));
    v1::Mutation m;
    m.set_client_seq(++seq_);
    *m.mutable_record() = local_.ref();
    m.set_operation(op);
    for (const std::string& p : paths) m.mutable_update_mask()->add_paths(p);
    *m.mutable_values() = values;
    if (op == v1::OPERATION_UPSERT) *m.mutable_base_values() = local_.data();
    m.set_base_version(local_.version());
    *m.mutable_hlc() = clock_.Now(kDevicePhysicalStart + offset_ + physical_);
    m.mutable_provenance()->set_device_id(id_);
    m.mutable_provenance()->set_author_user_id("u-" + id_);
    m.mutable_provenance()->set_precision(v1::PRECISION_REPORTED);
    Status s = ApplyMutationLocally(&local_, m);
    (void)s;
    return m;
  }
  const v1::Lead& lead() const { return local_.data().lead(); }

 private:
  std::string id_;
  HybridLogicalClock clock_;
  v1::RecordState local_;
  int64_t offset_;
  int64_t physical_ = 0;
  int64_t seq_ = 0;
};

v1::Mutation RandomMutation(Rng& rng, SimDevice& dev, int device_index,
                            const HarnessOptions& options) {
  v1::Record values;
  v1::Lead* v = values.mutable_lead();
  *v = dev.lead();
  if (options.disjoint_fields) {
    const std::string field = kLwwFields[device_index % 4];
    if (field == "status") {
      v->set_status(static_cast<v1::LeadStatus>(rng.Below(4)));
    } else {
      v->GetReflection()->SetString(v, v->GetDescriptor()->FindFieldByName(field),
                                    kTextPool[rng.Below(4)]);
    }
    return dev.Make(rng, v1::OPERATION_UPSERT, {field}, values);
  }
  switch (rng.Below(8)) {
    case 0:
    case 1: {  // One or two lww fields, sometimes with a counter and tags.
      std::vector<std::string> paths;
      const int first = static_cast<int>(rng.Below(4));
      const int count = 1 + static_cast<int>(rng.Below(2));
      for (int i = 0; i < count; ++i) paths.push_back(kLwwFields[(first + i) % 4]);
      for (const std::string& p : paths) {
        if (p == "status") {
          v->set_status(static_cast<v1::LeadStatus>(rng.Below(4)));
        } else {
          v->GetReflection()->SetString(v, v->GetDescriptor()->FindFieldByName(p),
                                        kTextPool[rng.Below(4)]);
        }
      }
      if (rng.OneIn(3)) {
        v->mutable_estimated_value()->set_amount_minor(v->estimated_value().amount_minor() +
                                                       static_cast<int64_t>(rng.Below(11)) - 5);
        paths.push_back(kCounterPath);
      }
      if (rng.OneIn(3)) {
        v->add_tags(kTagPool[rng.Below(5)]);
        paths.push_back("tags");
      }
      return dev.Make(rng, v1::OPERATION_UPSERT, paths, values);
    }
    case 2:  // Counter as an absolute value (delta = value - base).
      v->mutable_estimated_value()->set_amount_minor(v->estimated_value().amount_minor() +
                                                     static_cast<int64_t>(rng.Below(11)) - 5);
      return dev.Make(rng, v1::OPERATION_UPSERT, {kCounterPath}, values);
    case 3: {  // Counter increment.
      v1::Record delta;
      delta.mutable_lead()->set_rating(static_cast<int32_t>(rng.Below(7)) - 3);
      return dev.Make(rng, v1::OPERATION_INCREMENT, {"rating"}, delta);
    }
    case 4: {  // Whole-list write of the tags: add one, drop one.
      std::vector<std::string> tags(v->tags().begin(), v->tags().end());
      if (!tags.empty() && rng.OneIn(2)) tags.erase(tags.begin() + rng.Below(tags.size()));
      if (rng.OneIn(2)) tags.push_back(kTagPool[rng.Below(5)]);
      std::sort(tags.begin(), tags.end());
      tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
      v->clear_tags();
      for (const std::string& t : tags) v->add_tags(t);
      return dev.Make(rng, v1::OPERATION_UPSERT, {"tags"}, values);
    }
    case 5:
    case 6: {  // Set add / remove of one element.
      v1::Record el;
      el.mutable_lead()->add_tags(kTagPool[rng.Below(5)]);
      return dev.Make(rng, rng.OneIn(2) ? v1::OPERATION_SET_ADD : v1::OPERATION_SET_REMOVE,
                      {"tags"}, el);
    }
    default:  // The manual field.
      v->set_territory(kTerritories[rng.Below(4)]);
      return dev.Make(rng, v1::OPERATION_UPSERT, {"territory"}, values);
  }
}

MergeContext Context(const PolicyTable& policies, int64_t version) {
  MergeContext ctx;
  ctx.new_version = version;
  ctx.physical_ms = kServerPhysicalMs;
  ctx.policies = &policies;
  return ctx;
}

bool HasPath(const v1::Mutation& m, const std::string& path) {
  for (const std::string& p : m.update_mask().paths()) {
    if (p == path) return true;
  }
  return false;
}

std::set<std::string> Tags(const v1::Record& r) {
  return {r.lead().tags().begin(), r.lead().tags().end()};
}

// The data compared for convergence: everything but the manual field, whose
// first-writer-wins outcome depends on arrival order by design.
v1::Lead Convergent(const v1::RecordState& s) {
  v1::Lead l = s.data().lead();
  l.clear_territory();
  return l;
}

std::string LeadText(const v1::Lead& l) { return l.ShortDebugString(); }

}  // namespace

uint64_t Rng::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

PolicyTable HarnessPolicies() {
  Result<PolicyTable> t = PolicyTable::Parse(R"(
lead.first_name = lww
lead.company = lww
lead.notes = lww
lead.status = lww
lead.estimated_value.amount_minor = counter
lead.rating = counter
lead.tags = set
lead.territory = manual
)");
  return t.ok() ? std::move(t).value() : PolicyTable();
}

Scenario MakeScenario(uint64_t seed, const HarnessOptions& options) {
  Scenario s;
  s.seed = seed;
  s.options = options;
  Rng rng(seed);
  const PolicyTable policies = HarnessPolicies();
  v1::Mutation create;
  create.set_client_seq(1);
  create.mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  create.mutable_record()->set_id("L1");
  create.set_operation(v1::OPERATION_UPSERT);
  *create.mutable_values() = InitialLead();
  create.mutable_hlc()->set_wall_time_ms(kDevicePhysicalStart - 1000);
  create.mutable_hlc()->set_node_id("importer");
  create.mutable_provenance()->set_device_id("importer");
  s.initial = Merge(nullptr, create, Context(policies, 1)).new_state;

  const bool future = options.allow_future_clock && rng.OneIn(4);
  // Disjoint mode has one lww field per device: at most four devices.
  const int n = std::clamp(options.devices, 1, options.disjoint_fields ? 4 : 8);
  for (int d = 0; d < n; ++d) {
    SimDevice dev("dev-" + std::to_string(d), s.initial,
                  d == 0 && future ? 3'600'000 : static_cast<int64_t>(rng.Below(5000)));
    std::vector<v1::Mutation> ms;
    for (int i = 0; i < options.mutations_per_device; ++i) {
      ms.push_back(RandomMutation(rng, dev, d, options));
    }
    s.devices.push_back(std::move(ms));
  }
  return s;
}

Run ApplyInterleaving(const Scenario& s, uint64_t order_seed) {
  Rng rng(order_seed);
  const PolicyTable policies = HarnessPolicies();
  Run run;
  run.states.push_back(s.initial);
  std::vector<size_t> next(s.devices.size(), 0);
  int64_t version = s.initial.version() + 1;
  while (true) {
    std::vector<size_t> ready;
    for (size_t d = 0; d < s.devices.size(); ++d) {
      if (next[d] < s.devices[d].size()) ready.push_back(d);
    }
    if (ready.empty()) break;
    const size_t d = ready[rng.Below(ready.size())];
    const v1::Mutation& m = s.devices[d][next[d]++];
    MergeResult r = Merge(&run.states.back(), m, Context(policies, version));
    if (r.changed) ++version;
    run.order.push_back(m);
    run.states.push_back(r.changed || r.metadata_changed ? r.new_state : run.states.back());
    run.results.push_back(std::move(r));
  }
  return run;
}

std::string CheckConvergence(const Scenario& s) {
  Run a = ApplyInterleaving(s, s.seed ^ 0x1111);
  Run b = ApplyInterleaving(s, s.seed ^ 0x2222);
  const v1::Lead la = Convergent(a.final_state());
  const v1::Lead lb = Convergent(b.final_state());
  if (!google::protobuf::util::MessageDifferencer::Equals(la, lb)) {
    return "convergence: interleavings ended differently:\n  " + LeadText(la) + "\n  " +
           LeadText(lb);
  }
  return "";
}

std::string CheckOracles(const Scenario& s, const Run& run) {
  std::ostringstream err;
  const v1::Lead& init = s.initial.data().lead();
  const v1::Lead& fin = run.final_state().data().lead();
  // lww: the write with the greatest (clamped HLC, client_seq) wins.
  for (const char* field : kLwwFields) {
    const v1::Mutation* best = nullptr;
    v1::HlcTimestamp best_hlc;
    for (size_t i = 0; i < run.order.size(); ++i) {
      const v1::Mutation& m = run.order[i];
      if (m.operation() != v1::OPERATION_UPSERT || !HasPath(m, field)) continue;
      if (run.results[i].outcome == v1::MUTATION_OUTCOME_REJECTED) continue;
      const v1::HlcTimestamp h = ClampHlc(m.hlc(), kServerPhysicalMs, kDefaultMaxClockSkewMs);
      const int c = best == nullptr ? 1 : CompareHlc(h, best_hlc);
      if (c > 0 || (c == 0 && m.client_seq() > best->client_seq())) {
        best = &m;
        best_hlc = h;
      }
    }
    const v1::Lead& want = best == nullptr ? init : best->values().lead();
    const auto* f = v1::Lead::descriptor()->FindFieldByName(field);
    FieldPath fp{field, {f}, {}};
    if (!PathValuesEqual(want, fin, fp)) {
      err << "lww oracle: field " << field << " expected from "
          << (best ? best->provenance().device_id() + "#" + std::to_string(best->client_seq())
                   : std::string("initial"))
          << "; final " << LeadText(fin) << "\n";
    }
  }
  // Counters: exact sums.
  int64_t amount = init.estimated_value().amount_minor();
  int64_t rating = init.rating();
  for (size_t i = 0; i < run.order.size(); ++i) {
    const v1::Mutation& m = run.order[i];
    if (run.results[i].outcome == v1::MUTATION_OUTCOME_REJECTED) continue;
    if (m.operation() == v1::OPERATION_INCREMENT && HasPath(m, "rating")) {
      rating += m.values().lead().rating();
    }
    if (m.operation() == v1::OPERATION_UPSERT && HasPath(m, kCounterPath)) {
      amount += m.values().lead().estimated_value().amount_minor() -
                m.base_values().lead().estimated_value().amount_minor();
    }
  }
  if (fin.estimated_value().amount_minor() != amount || fin.rating() != rating) {
    err << "counter oracle: expected amount " << amount << " rating " << rating << ", got "
        << fin.estimated_value().amount_minor() << " / " << fin.rating() << "\n";
  }
  // Observed-remove set.
  std::set<std::string> want_tags;
  for (const char* tag : kTagPool) {
    bool live = false;
    const bool initial = Tags(s.initial.data()).count(tag) > 0;
    bool removed_by_anyone = false;
    for (const auto& device : s.devices) {
      int64_t last_add = -1, last_remove = -1;
      for (const v1::Mutation& m : device) {
        const bool in_values = Tags(m.values()).count(tag) > 0;
        const bool in_base = Tags(m.base_values()).count(tag) > 0;
        bool add = false, remove = false;
        if (m.operation() == v1::OPERATION_SET_ADD) add = in_values;
        if (m.operation() == v1::OPERATION_SET_REMOVE) remove = in_values;
        if (m.operation() == v1::OPERATION_UPSERT && HasPath(m, "tags")) {
          add = in_values && !in_base;
          remove = in_base && !in_values;
        }
        if (add) last_add = m.client_seq();
        if (remove) {
          last_remove = m.client_seq();
          removed_by_anyone = true;
        }
      }
      if (last_add > last_remove) live = true;
    }
    if (initial && !removed_by_anyone) live = true;
    if (live) want_tags.insert(tag);
  }
  if (Tags(run.final_state().data()) != want_tags) {
    err << "set oracle: final tags " << LeadText(fin) << " expected";
    for (const std::string& t : want_tags) err << " " << t;
    err << "\n";
  }
  // Manual: exactly one open conflict per real conflict; unique ids.
  std::set<std::string> ids;
  for (size_t i = 0; i < run.order.size(); ++i) {
    const v1::Mutation& m = run.order[i];
    const v1::RecordState& before = run.states[i];
    const MergeResult& r = run.results[i];
    int expected = 0;
    if (m.operation() == v1::OPERATION_UPSERT && HasPath(m, "territory") &&
        m.values().lead().territory() != before.data().lead().territory()) {
      auto it = before.fields().find("territory");
      if (it != before.fields().end() && it->second.version() > m.base_version() &&
          it->second.provenance().device_id() != m.provenance().device_id()) {
        expected = 1;
      }
    }
    int open = 0;
    for (const v1::Conflict& c : r.conflicts) {
      if (c.status() == v1::CONFLICT_STATUS_OPEN) {
        ++open;
        if (c.field_path() != "territory") err << "open conflict on " << c.field_path() << "\n";
      }
      if (!ids.insert(c.id()).second) err << "duplicate conflict id " << c.id() << "\n";
    }
    if (open != expected) {
      err << "manual oracle: mutation " << m.provenance().device_id() << "#" << m.client_seq()
          << " expected " << expected << " open conflicts, got " << open << "\n";
    }
    if ((open > 0) != (r.outcome == v1::MUTATION_OUTCOME_CONFLICT)) {
      err << "outcome " << v1::MutationOutcome_Name(r.outcome) << " with " << open
          << " open conflicts\n";
    }
    if (r.outcome == v1::MUTATION_OUTCOME_REJECTED) {
      err << "unexpected rejection: " << r.message << "\n";
    }
    if (s.options.disjoint_fields && r.outcome != v1::MUTATION_OUTCOME_APPLIED) {
      err << "non-conflicting edit not APPLIED: " << v1::MutationOutcome_Name(r.outcome) << "\n";
    }
  }
  return err.str();
}

std::string CheckIdempotence(const Scenario& s, const Run& run) {
  const PolicyTable policies = HarnessPolicies();
  for (size_t i = 0; i < run.order.size(); ++i) {
    if (run.results[i].outcome == v1::MUTATION_OUTCOME_REJECTED) continue;
    const v1::RecordState& after = run.states[i + 1];
    MergeResult again = Merge(&after, run.order[i], Context(policies, after.version() + 1));
    if (again.changed || again.metadata_changed) {
      std::string changed;
      for (const std::string& f : again.changed_fields) changed += f + " ";
      return "idempotence: re-merging " + run.order[i].provenance().device_id() + "#" +
             std::to_string(run.order[i].client_seq()) + " changed [" + changed + "]" +
             (again.metadata_changed ? " (metadata)" : "");
    }
  }
  return "";
}

std::string CheckReplica(const Scenario& s, const Run& run, uint64_t pull_seed) {
  Rng rng(pull_seed);
  v1::RecordState replica;
  Result<ReplicaAction> first = ApplyChange(&replica, BuildChange(s.initial, 0, false));
  if (!first.ok()) return "replica: " + first.status().ToString();
  for (size_t i = 1; i < run.states.size(); ++i) {
    if (!rng.OneIn(3) && i + 1 < run.states.size()) continue;
    const v1::Change change = BuildChange(run.states[i], replica.version(), false);
    Result<ReplicaAction> a = ApplyChange(&replica, change);
    if (!a.ok()) return "replica: " + a.status().ToString();
    const std::string snapshot = replica.SerializeAsString();
    Result<ReplicaAction> b = ApplyChange(&replica, change);
    if (!b.ok() || *b != ReplicaAction::kUnchanged || replica.SerializeAsString() != snapshot) {
      return "replica: re-applying a change was not a no-op";
    }
  }
  if (CanonicalBytes(replica) != CanonicalBytes(run.final_state())) {
    return "replica: diverged from server:\n  " + replica.data().ShortDebugString() + "\n  " +
           run.final_state().data().ShortDebugString();
  }
  return "";
}

std::string CheckSeed(uint64_t seed, const HarnessOptions& options) {
  const Scenario s = MakeScenario(seed, options);
  std::string err = CheckConvergence(s);
  const Run run = ApplyInterleaving(s, seed ^ 0x3333);
  if (err.empty()) err = CheckOracles(s, run);
  if (err.empty()) err = CheckIdempotence(s, run);
  if (err.empty()) err = CheckReplica(s, run, seed ^ 0x4444);
  if (!err.empty()) err += "\n" + Describe(s);
  return err;
}

std::string Describe(const Scenario& s) {
  std::ostringstream out;
  out << "scenario seed " << s.seed << ": initial " << s.initial.data().ShortDebugString() << "\n";
  for (const auto& device : s.devices) {
    for (const v1::Mutation& m : device) {
      out << "  " << m.provenance().device_id() << "#" << m.client_seq() << " "
          << v1::Operation_Name(m.operation()) << " [";
      for (const std::string& p : m.update_mask().paths()) out << p << " ";
      out << "] hlc " << m.hlc().wall_time_ms() << "." << m.hlc().logical() << " values "
          << m.values().ShortDebugString() << "\n";
    }
  }
  return out.str();
}

}  // namespace crmsync::sync::harness
