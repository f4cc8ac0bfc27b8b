// libFuzzer target: Push batches through the server's real PushHandler on a
// real SqliteStore holding the demo tenant (tests/fuzz/server_world.h), reset
// to the same seeded state before every input.
//
// Input (fuzz_input.h): byte 0 chooses the mode.
//  * even: the rest is a serialized crmsync.v1.PushRequest, pushed by the
//    principal ((byte0 >> 1) & 7) % 7; flags force the served protocol version,
//    renumber client_seq from the device's next one, push the request a
//    second time (a retry). Batches are cut to 64 mutations. If the rest
//    does not parse, it is read as a script:
//  * odd (or unparsable): a script of up to 6 steps read with a
//    FuzzedDataProvider: new batches of 1-8 mutations built from the input
//    (fuzz_values.h) by any of the callers, exact retries, retries with one
//    mutation altered under its old client_seq, clock jumps, and pushes by
//    another tenant.
//
// Checked for every push: a well-formed batch (protocol served, client_seq
// positive and increasing, within the limit) is never refused as a whole
// (no "poison" batch that would block a device's outbox for ever); one
// result per mutation, in order, with a decided outcome, a reject reason
// when rejected, change_seq <= the tenant's sequence and the result's record
// being the mutation's record; a refused batch commits nothing; a retry
// returns the first results and commits nothing.
// Checked after every input: the feed is gap-free at its head (record
// versions strictly increase in feed order, the newest equals LatestSeq),
// every row reads back identically by GetRecord, field versions never
// exceed the record's version, the other tenant is untouched; and for each
// caller that pushed, a bootstrap Pull (small pages) applies cleanly with
// sync::ApplyChange, holds exactly the live records the caller may read,
// byte-equal (canonical bytes) to the server's, and matches GetChecksum.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "crmsync/sync/change.h"
#include "crmsync/sync/checksum.h"
#include "crmsync/sync/record_model.h"
#include "fuzz_check.h"
#include "fuzz_input.h"
#include "fuzz_values.h"
#include "logic/cursor.h"
#include "logic/hashing.h"
#include "logic/pull_handler.h"
#include "logic/push_handler.h"
#include "logic/scope.h"
#include "server_world.h"
#include "version.h"

namespace v1 = ::crmsync::v1;
using crmsync::fuzz::ServerWorld;
using crmsync::server::Principal;

namespace {

constexpr int kMaxMutations = 64;

ServerWorld* World() {
  static ServerWorld* const world = new ServerWorld();
  return world;
}

std::string Key(const v1::RecordRef& ref) {
  return std::to_string(ref.entity_type()) + "/" + ref.id();
}

bool SameRef(const v1::RecordRef& a, const v1::RecordRef& b) {
  return a.entity_type() == b.entity_type() && a.id() == b.id();
}

// CRMSYNC_FUZZ_VERBOSE=1 prints every push and its answer (for triage).
bool Verbose() {
  static const bool verbose = std::getenv("CRMSYNC_FUZZ_VERBOSE") != nullptr;
  return verbose;
}

// Small store reads, so the bootstrap's small pages do not re-read the
// whole feed each time (and the scan loop runs several rounds).
crmsync::server::PullOptions SmallScans() {
  crmsync::server::PullOptions o;
  o.scan_batch = 8;
  return o;
}

// One input's run: the handlers, each device's next client_seq, what was
// pushed.
class Session {
 public:
  explicit Session(ServerWorld* w)
      : w_(w),
        push_(&w->store()->changes(), &w->store()->directory(), &w->store()->audit(),
              &w->policies(), &w->clock(), crmsync::server::PushOptions{}),
        pull_(&w->store()->changes(), &w->store()->directory(), &w->clock(), SmallScans()) {
    for (const Principal& p : w->principals()) {
      // The seed pushed client_seq 1 from these devices.
      next_seq_[p.device_id] =
          (p.device_id == "dev-maria" || p.device_id == "dev-alice" || p.device_id == "dev-carol")
              ? 2
              : 1;
    }
    other_ = Principal{crmsync::fuzz::kOtherTenant, "u-olga", v1::ROLE_ADMIN, "", "", "dev-olga"};
    next_seq_["dev-olga"] = 2;
  }

  // ---- the two input modes

  void RunParsed(uint8_t mode, v1::PushRequest request) {
    const auto& principals = w_->principals();
    const Principal& who = principals[((mode >> 1) & 7) % principals.size()];
    while (request.mutations_size() > kMaxMutations) request.mutable_mutations()->RemoveLast();
    if (mode & crmsync::fuzz::kPushForceVersion) {
      request.mutable_client()->set_protocol_version(crmsync::kMaxProtocolVersion);
    }
    if (mode & crmsync::fuzz::kPushRenumber) {
      for (auto& m : *request.mutable_mutations()) m.set_client_seq(next_seq_[who.device_id]++);
    }
    v1::PushResponse first;
    const absl::Status s = Push(who, request, &first);
    if (mode & crmsync::fuzz::kPushRetry) Retry(who, request, s, first);
  }

  void RunScript(FuzzedDataProvider* in) {
    crmsync::fuzz::ValueMaker vm(in, &w_->ids());
    refs_ = w_->records();
    const int steps = in->ConsumeIntegralInRange<int>(1, 6);
    for (int step = 0; step < steps && in->remaining_bytes() > 0; ++step) {
      const int kind = in->ConsumeIntegralInRange<int>(0, 9);
      if (kind <= 5 || kind == 9) {
        const Principal& who = kind == 9 ? other_ : vm.Pick(w_->principals());
        last_request_ = MakeBatch(&vm, who);
        last_who_ = &who;
        last_status_ = Push(who, last_request_, &last_response_);
        have_last_ = true;
      } else if (kind == 6 && have_last_) {
        Retry(*last_who_, last_request_, last_status_, last_response_);
      } else if (kind == 7 && have_last_ && last_request_.mutations_size() > 0) {
        RetryAltered(&vm);
      } else if (kind == 8) {
        w_->clock().Advance(in->ConsumeIntegralInRange<int64_t>(0, 30LL * 24 * 3600 * 1000));
      }
    }
  }

  // ---- checks after the input

  void CheckStore() {
    crmsync::server::Store* store = w_->store();
    if (!other_pushed_) {
      auto other = store->changes().LatestSeq(crmsync::fuzz::kOtherTenant);
      FUZZ_CHECK(other.ok() && *other == w_->other_tenant_seq(), "the other tenant changed");
    }
    auto head = store->changes().LatestSeq(crmsync::fuzz::kTenant);
    FUZZ_CHECK(head.ok(), "LatestSeq failed");
    if (*head == w_->seeded_seq()) return;  // nothing committed: still the seeded data
    auto rows = store->changes().ReadSince(crmsync::fuzz::kTenant, 0, 1 << 20);
    FUZZ_CHECK(rows.ok(), "ReadSince failed: " + rows.status().ToString());
    auto latest = store->changes().LatestSeq(crmsync::fuzz::kTenant);
    FUZZ_CHECK(latest.ok(), "LatestSeq failed");
    int64_t prev = 0;
    for (const crmsync::server::RecordRow& row : *rows) {
      const v1::RecordState& s = row.state;
      FUZZ_CHECK(s.version() > prev, "feed versions not strictly increasing at " + Key(s.ref()));
      prev = s.version();
      FUZZ_CHECK(!s.ref().id().empty(), "stored record without id");
      FUZZ_CHECK(crmsync::sync::EntityDescriptor(s.ref().entity_type()) != nullptr,
                 "stored record of unknown type " + Key(s.ref()));
      if (!s.deleted()) {
        FUZZ_CHECK(crmsync::sync::EntityTypeOf(s.data()) == s.ref().entity_type(),
                   "stored data of another type than the ref: " + Key(s.ref()));
      }
      FUZZ_CHECK(s.created_version() <= s.version(), "created after its version: " + Key(s.ref()));
      for (const auto& [path, field] : s.fields()) {
        FUZZ_CHECK(field.version() <= s.version(),
                   "field " + path + " newer than its record " + Key(s.ref()));
      }
      auto again = store->changes().GetRecord(crmsync::fuzz::kTenant, s.ref());
      FUZZ_CHECK(again.ok() && again->has_value(), "feed row not readable: " + Key(s.ref()));
      FUZZ_CHECK(
          crmsync::server::DeterministicBytes(**again) == crmsync::server::DeterministicBytes(s),
          "GetRecord differs from the feed row: " + Key(s.ref()));
    }
    FUZZ_CHECK(prev == *latest, "newest version " + std::to_string(prev) + " != LatestSeq " +
                                    std::to_string(*latest));
    for (const Principal* who : pushed_by_) CheckBootstrap(*who, *rows);
  }

 private:
  // ---- pushing

  absl::Status Push(const Principal& who, const v1::PushRequest& request,
                    v1::PushResponse* response) {
    crmsync::server::Store* store = w_->store();
    const std::string demo = crmsync::fuzz::kTenant;
    auto before = store->changes().LatestSeq(who.tenant_id);
    auto demo_before = store->changes().LatestSeq(demo);
    absl::Status s = push_.Push(who, request, response);
    if (Verbose()) {
      std::fprintf(stderr, "push by %s: %s\n-> %s %s\n", who.device_id.c_str(),
                   request.ShortDebugString().c_str(), s.ToString().c_str(),
                   response->ShortDebugString().c_str());
    }
    auto after = store->changes().LatestSeq(who.tenant_id);
    auto demo_after = store->changes().LatestSeq(demo);
    FUZZ_CHECK(before.ok() && after.ok() && demo_before.ok() && demo_after.ok(),
               "LatestSeq failed");
    if (who.tenant_id != demo) {
      other_pushed_ = true;
      FUZZ_CHECK(*demo_before == *demo_after, "a push of another tenant changed the demo tenant");
    } else if (std::find(pushed_by_.begin(), pushed_by_.end(), &who) == pushed_by_.end()) {
      pushed_by_.push_back(&who);
    }

    if (WellFormed(request)) {
      FUZZ_CHECK(s.ok(), "well-formed batch refused as a whole: " + s.ToString());
    }
    if (!s.ok()) {
      const auto code = s.code();
      FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument ||
                     code == absl::StatusCode::kResourceExhausted ||
                     code == absl::StatusCode::kFailedPrecondition,
                 "unexpected push status: " + s.ToString());
      FUZZ_CHECK(*before == *after, "a refused batch committed changes");
      return s;
    }
    FUZZ_CHECK(response->results_size() == request.mutations_size(), "not one result per mutation");
    for (int i = 0; i < request.mutations_size(); ++i) {
      const v1::Mutation& m = request.mutations(i);
      const v1::MutationResult& r = response->results(i);
      const std::string at = "result " + std::to_string(i) + ": ";
      FUZZ_CHECK(r.client_seq() == m.client_seq(), at + "client_seq differs");
      FUZZ_CHECK(r.outcome() != v1::MUTATION_OUTCOME_UNSPECIFIED &&
                     v1::MutationOutcome_IsValid(r.outcome()),
                 at + "no outcome");
      if (r.outcome() == v1::MUTATION_OUTCOME_REJECTED) {
        FUZZ_CHECK(r.reject_reason() != v1::REJECT_REASON_UNSPECIFIED,
                   at + "rejected without a reason: " + r.message());
      }
      FUZZ_CHECK(r.change_seq() >= 0 && r.change_seq() <= *after,
                 at + "change_seq beyond the feed");
      if (r.has_record()) {
        FUZZ_CHECK(SameRef(r.record().ref(), m.record()), at + "record of another ref returned");
        FUZZ_CHECK(r.record().version() <= *after, at + "record version beyond the feed");
      }
      if (r.outcome() != v1::MUTATION_OUTCOME_REJECTED && r.change_seq() > *before &&
          m.operation() == v1::OPERATION_UPSERT && m.base_version() == 0) {
        refs_.push_back(m.record());  // later steps may edit what was created
      }
    }
    return s;
  }

  // Whether Push must accept the batch (every mutation then gets a result).
  bool WellFormed(const v1::PushRequest& request) const {
    const unsigned v = request.client().protocol_version();
    if (v < crmsync::kMinProtocolVersion || v > crmsync::kMaxProtocolVersion) return false;
    int64_t prev = 0;
    for (const v1::Mutation& m : request.mutations()) {
      if (m.client_seq() <= prev) return false;
      prev = m.client_seq();
    }
    // A device acknowledges only results it holds, so never one of a
    // mutation it is still sending.
    const int64_t acked = request.results_acked_through();
    if (acked < 0) return false;
    if (request.mutations_size() > 0 && acked >= request.mutations(0).client_seq()) return false;
    return request.mutations_size() <= crmsync::server::PushOptions{}.max_batch;
  }

  // Pushes `request` again: the same status, the same results, nothing new.
  void Retry(const Principal& who, const v1::PushRequest& request, const absl::Status& first_status,
             const v1::PushResponse& first) {
    auto before = w_->store()->changes().LatestSeq(who.tenant_id);
    v1::PushResponse again;
    const absl::Status s = Push(who, request, &again);
    if (!first_status.ok()) {
      FUZZ_CHECK(s.code() == first_status.code(), "a retried refused batch got another status");
      return;
    }
    FUZZ_CHECK(s.ok(), "a retry of an accepted batch failed: " + s.ToString());
    auto after = w_->store()->changes().LatestSeq(who.tenant_id);
    FUZZ_CHECK(*before == *after, "a retry committed changes");
    for (int i = 0; i < first.results_size(); ++i) {
      const v1::MutationResult& a = first.results(i);
      const v1::MutationResult& b = again.results(i);
      FUZZ_CHECK(a.outcome() == b.outcome() && a.change_seq() == b.change_seq() &&
                     a.reject_reason() == b.reject_reason(),
                 "mutation #" + std::to_string(a.client_seq()) +
                     " applied again on retry: " + v1::MutationOutcome_Name(a.outcome()) + "@" +
                     std::to_string(a.change_seq()) + " then " +
                     v1::MutationOutcome_Name(b.outcome()) + "@" + std::to_string(b.change_seq()));
    }
  }

  // Re-sends the last batch with one mutation changed under its old
  // client_seq: that one is refused as a reused client_seq (if the first
  // push stored it), the others keep their first results.
  void RetryAltered(crmsync::fuzz::ValueMaker* vm) {
    v1::PushRequest request = last_request_;
    const int i = vm->in().ConsumeIntegralInRange<int>(0, request.mutations_size() - 1);
    v1::Mutation* m = request.mutable_mutations(i);
    m->mutable_hlc()->set_logical(m->hlc().logical() + 1);
    v1::PushResponse again;
    auto before = w_->store()->changes().LatestSeq(last_who_->tenant_id);
    const absl::Status s = Push(*last_who_, request, &again);
    if (!last_status_.ok() || !s.ok()) return;
    auto after = w_->store()->changes().LatestSeq(last_who_->tenant_id);
    FUZZ_CHECK(*before == *after, "a retry with a reused client_seq committed changes");
    for (int k = 0; k < again.results_size(); ++k) {
      const v1::MutationResult& a = last_response_.results(k);
      const v1::MutationResult& b = again.results(k);
      if (k == i) {
        FUZZ_CHECK(b.outcome() == v1::MUTATION_OUTCOME_REJECTED &&
                       (b.reject_reason() == v1::REJECT_REASON_CLIENT_SEQ_REUSED ||
                        a.reject_reason() == b.reject_reason()),
                   "a reused client_seq was not refused");
      } else {
        FUZZ_CHECK(a.outcome() == b.outcome() && a.change_seq() == b.change_seq(),
                   "a retried mutation changed its result");
      }
    }
  }

  // ---- building batches from the input

  v1::PushRequest MakeBatch(crmsync::fuzz::ValueMaker* vm, const Principal& who) {
    FuzzedDataProvider& in = vm->in();
    v1::PushRequest request;
    request.mutable_client()->set_protocol_version(in.ConsumeIntegralInRange<int>(0, 31) == 0
                                                       ? in.ConsumeIntegralInRange<unsigned>(0, 3)
                                                       : crmsync::kMaxProtocolVersion);
    const int n = in.ConsumeIntegralInRange<int>(1, 8);
    int64_t& next = next_seq_[who.device_id];
    for (int i = 0; i < n; ++i) {
      int64_t seq = next;
      switch (in.ConsumeIntegralInRange<int>(0, 15)) {
        case 0:  // reuse an older client_seq
          seq = std::max<int64_t>(1, next - in.ConsumeIntegralInRange<int64_t>(1, 3));
          break;
        case 1:  // a gap
          seq = next + in.ConsumeIntegralInRange<int64_t>(1, 5);
          break;
        case 2:  // out of range
          seq = in.ConsumeIntegral<int64_t>();
          break;
        default: break;
      }
      if (seq >= next && seq < INT64_MAX) next = seq + 1;
      *request.add_mutations() = MakeMutation(vm, who, seq);
    }
    return request;
  }

  v1::Mutation MakeMutation(crmsync::fuzz::ValueMaker* vm, const Principal& who, int64_t seq) {
    FuzzedDataProvider& in = vm->in();
    const int64_t now_ms = w_->clock().NowMs();
    v1::Mutation m;
    m.set_client_seq(seq);

    v1::RecordRef ref;
    if (in.ConsumeIntegralInRange<int>(0, 9) < 7 && !refs_.empty()) {
      ref = vm->Pick(refs_);
    } else {
      ref.set_entity_type(vm->Pick(crmsync::fuzz::AllEntityTypes()));
      ref.set_id(vm->Id());
    }
    if (in.ConsumeIntegralInRange<int>(0, 31) == 0) {
      ref.set_entity_type(static_cast<v1::EntityType>(in.ConsumeIntegralInRange<int>(-1, 25)));
    }
    *m.mutable_record() = ref;

    std::optional<v1::RecordState> stored;
    if (auto got = w_->store()->changes().GetRecord(who.tenant_id, ref);
        got.ok() && got->has_value()) {
      stored = **got;
    }

    static const std::vector<v1::Operation> kOps = {
        v1::OPERATION_UPSERT,           v1::OPERATION_UPSERT,     v1::OPERATION_UPSERT,
        v1::OPERATION_UPSERT,           v1::OPERATION_DELETE,     v1::OPERATION_INCREMENT,
        v1::OPERATION_SET_ADD,          v1::OPERATION_SET_REMOVE, v1::OPERATION_REDEEM,
        v1::OPERATION_RESOLVE_CONFLICT, v1::OPERATION_UNSPECIFIED};
    const v1::Operation op = vm->Pick(kOps);
    m.set_operation(op);

    const v1::EntityType type = crmsync::sync::EntityDescriptor(ref.entity_type()) != nullptr
                                    ? ref.entity_type()
                                    : vm->Pick(crmsync::fuzz::AllEntityTypes());
    std::vector<std::string> names;
    if (op != v1::OPERATION_DELETE || in.ConsumeIntegralInRange<int>(0, 7) == 0) {
      if (stored && !stored->deleted() && in.ConsumeBool()) {
        *m.mutable_values() = stored->data();  // edit the stored record
      }
      names = vm->Entity(m.mutable_values(), type, ref.id());
      if (op == v1::OPERATION_REDEEM && in.ConsumeIntegralInRange<int>(0, 3) != 0) {
        v1::Redemption* r = m.mutable_values()->mutable_redemption();
        r->set_id(ref.id());
        r->set_coupon_id(in.ConsumeBool() ? "coupon-welcome" : vm->Id());
        r->set_store_id(who.store_id.empty() ? vm->Id() : who.store_id);
        r->set_device_id(who.device_id);
        r->set_loyalty_account_id(in.ConsumeBool() ? "loyalty-0001" : "");
        r->mutable_position()->set_latitude(48.8566 +
                                            in.ConsumeIntegralInRange<int>(-100, 100) * 0.001);
        r->mutable_position()->set_longitude(2.3522 +
                                             in.ConsumeIntegralInRange<int>(-100, 100) * 0.001);
        r->mutable_redeemed_at()->set_seconds(now_ms / 1000);
        names = {"id",       "coupon_id",  "store_id", "device_id", "loyalty_account_id",
                 "position", "redeemed_at"};
      }
    }
    switch (in.ConsumeIntegralInRange<int>(0, 4)) {
      case 0: break;  // no mask
      case 1:
        for (int k = in.ConsumeIntegralInRange<int>(1, 3); k > 0; --k) {
          m.mutable_update_mask()->add_paths(vm->Path(type));
        }
        break;
      default: {
        std::set<std::string> unique(names.begin(), names.end());
        if (stored && in.ConsumeIntegralInRange<int>(0, 3) != 0) unique.erase("id");
        for (const std::string& p : unique) m.mutable_update_mask()->add_paths(p);
        break;
      }
    }

    switch (in.ConsumeIntegralInRange<int>(0, 7)) {
      case 0: m.set_base_version(0); break;
      case 1: m.set_base_version(vm->SmallInt()); break;
      case 2:
        m.set_base_version(
            stored ? std::max<int64_t>(0, stored->version() - in.ConsumeIntegralInRange<int>(1, 20))
                   : 0);
        break;
      default: m.set_base_version(stored ? stored->version() : 0); break;
    }
    if (stored && m.base_version() > 0) {
      if (in.ConsumeIntegralInRange<int>(0, 3) != 0) {
        *m.mutable_base_values() = stored->data();
      } else if (in.ConsumeBool()) {
        vm->Entity(m.mutable_base_values(), type, ref.id());
      }
    }
    *m.mutable_hlc() = vm->Hlc(now_ms, who.device_id);
    m.mutable_provenance()->set_channel(
        static_cast<v1::Channel>(in.ConsumeIntegralInRange<int>(0, 9)));
    m.mutable_provenance()->set_precision(
        static_cast<v1::Precision>(in.ConsumeIntegralInRange<int>(0, 5)));
    m.mutable_provenance()->set_author_user_id(
        in.ConsumeIntegralInRange<int>(0, 7) == 0 ? vm->Id() : who.user_id);
    m.mutable_provenance()->set_device_id(
        in.ConsumeIntegralInRange<int>(0, 7) == 0 ? vm->Id() : who.device_id);
    if (op == v1::OPERATION_RESOLVE_CONFLICT || in.ConsumeIntegralInRange<int>(0, 15) == 0) {
      m.set_conflict_id(vm->Id());
    }
    return m;
  }

  // ---- the caller's view

  // A bootstrap pull in small pages, applied like the SDK applies it.
  void CheckBootstrap(const Principal& who, const std::vector<crmsync::server::RecordRow>& rows) {
    std::map<std::string, v1::RecordState> replica;
    std::string cursor;
    int64_t last_seq = 0;
    for (int page = 0;; ++page) {
      FUZZ_CHECK(page < 10000, "bootstrap does not end");
      v1::PullRequest request;
      request.mutable_client()->set_protocol_version(crmsync::kMaxProtocolVersion);
      request.set_cursor(cursor);
      request.set_page_size(7);
      v1::PullResponse response;
      absl::Status s = pull_.Pull(who, request, &response);
      FUZZ_CHECK(s.ok(), "bootstrap pull failed: " + s.ToString());
      for (const v1::Change& c : response.changes()) {
        FUZZ_CHECK(c.seq() > last_seq, "pulled changes out of order");
        last_seq = c.seq();
        v1::RecordState& r = replica[Key(c.record())];
        auto action = crmsync::sync::ApplyChange(&r, c);
        FUZZ_CHECK(action.ok(), "a pulled change does not apply: " + action.status().message());
        if (*action == crmsync::sync::ReplicaAction::kRemove) replica.erase(Key(c.record()));
      }
      auto position = crmsync::server::DecodeCursor(response.next_cursor());
      FUZZ_CHECK(position.ok(), "next_cursor does not decode");
      cursor = response.next_cursor();
      if (!response.has_more()) break;
    }

    crmsync::sync::ReplicaChecksum mine(&crmsync::server::Sha256Hex);
    std::set<std::string> expected;
    for (const crmsync::server::RecordRow& row : rows) {
      const v1::RecordState& s = row.state;
      if (s.deleted() || !crmsync::server::CanRead(who, s.ref().entity_type(), s.scope())) continue;
      expected.insert(Key(s.ref()));
    }
    for (const auto& [key, r] : replica) {
      if (r.deleted()) continue;
      FUZZ_CHECK(expected.count(key) == 1, who.device_id + " holds " + key + " outside its scope");
      mine.Add(r);
    }
    for (const crmsync::server::RecordRow& row : rows) {
      const std::string key = Key(row.state.ref());
      if (expected.count(key) == 0) continue;
      auto it = replica.find(key);
      FUZZ_CHECK(it != replica.end() && !it->second.deleted(),
                 who.device_id + " did not receive " + key);
      FUZZ_CHECK(
          crmsync::sync::CanonicalBytes(it->second) == crmsync::sync::CanonicalBytes(row.state),
          who.device_id + "'s replica of " + key + " differs from the server's:\n" +
              it->second.ShortDebugString() + "\nserver:\n" + row.state.ShortDebugString());
    }
    v1::GetChecksumRequest creq;
    creq.mutable_client()->set_protocol_version(crmsync::kMaxProtocolVersion);
    creq.set_cursor(cursor);
    v1::GetChecksumResponse theirs;
    FUZZ_CHECK(pull_.GetChecksum(who, creq, &theirs).ok(), "GetChecksum failed");
    const v1::GetChecksumResponse ours = mine.Finish();
    FUZZ_CHECK(ours.digest() == theirs.digest(), "replica checksum differs after a bootstrap");
  }

  ServerWorld* w_;
  crmsync::server::PushHandler push_;
  crmsync::server::PullHandler pull_;
  std::map<std::string, int64_t> next_seq_;
  Principal other_;
  bool other_pushed_ = false;
  std::vector<const Principal*> pushed_by_;
  std::vector<v1::RecordRef> refs_;
  v1::PushRequest last_request_;
  v1::PushResponse last_response_;
  absl::Status last_status_;
  const Principal* last_who_ = nullptr;
  bool have_last_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Unparsable strings in fuzzed requests are expected; keep the log quiet.
  google::protobuf::SetLogHandler(nullptr);
  World();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ServerWorld* w = World();
  w->Reset();
  Session session(w);
  const uint8_t mode = data[0];
  v1::PushRequest request;
  if ((mode & 1) == 0 && request.ParseFromArray(data + 1, static_cast<int>(size - 1))) {
    session.RunParsed(mode, std::move(request));
  } else {
    FuzzedDataProvider in(data + 1, size - 1);
    session.RunScript(&in);
  }
  session.CheckStore();
  return 0;
}
