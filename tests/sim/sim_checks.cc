// Quiescence and the invariants checked at its end.
#include <google/protobuf/util/message_differencer.h>

#include <set>

#include "crmsync/sync/change.h"
#include "crmsync/sync/timeline.h"
#include "logic/cursor.h"
#include "logic/scope.h"
#include "sim_world.h"
#include "version.h"

namespace crmsync::sim {

namespace {
constexpr char kTenant[] = "t-sim";
const std::vector<v1::EntityType> kTypes = {
    v1::ENTITY_TYPE_ACCOUNT,     v1::ENTITY_TYPE_CONTACT,    v1::ENTITY_TYPE_LEAD,
    v1::ENTITY_TYPE_OPPORTUNITY, v1::ENTITY_TYPE_ACTIVITY,   v1::ENTITY_TYPE_CALENDAR_EVENT,
    v1::ENTITY_TYPE_COUPON,      v1::ENTITY_TYPE_REDEMPTION, v1::ENTITY_TYPE_LOYALTY_ACCOUNT,
    v1::ENTITY_TYPE_CONFLICT,    v1::ENTITY_TYPE_STORE,      v1::ENTITY_TYPE_POSSIBLE_DUPLICATE};
}  // namespace

std::string SimWorld::Bootstrap(const server::Principal& who, int page_size,
                                std::map<std::string, v1::RecordState>* replica) {
  std::string cursor;
  for (int page = 0; page < 100000; ++page) {
    v1::PullRequest request;
    request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
    request.set_cursor(cursor);
    request.set_page_size(page_size);
    v1::PullResponse response;
    if (absl::Status s = ServePull(who, request, &response); !s.ok()) {
      return std::string(s.message());
    }
    for (const v1::Change& c : response.changes()) {
      const std::string key = std::to_string(c.record().entity_type()) + "/" + c.record().id();
      v1::RecordState& copy = (*replica)[key];
      auto action = sync::ApplyChange(&copy, c);
      if (!action.ok()) return std::string(action.status().message());
      if (*action == sync::ReplicaAction::kRemove || copy.deleted()) replica->erase(key);
    }
    cursor = response.next_cursor();
    if (!response.has_more()) return "";
  }
  return "does not end";
}

bool SimWorld::Quiesce() {
  for (auto& d : devices_) d->offline = false;
  for (int round = 0; round < 40; ++round) {
    faults_off_ = round >= 3;  // faults go on for a while, then the network heals
    DeliverDelayed(/*all=*/faults_off_);
    auto before = store_->changes().LatestSeq(kTenant);
    bool pending = false;
    for (auto& d : devices_) {
      (void)d->engine->SyncOnce();
      auto n = d->db->PendingCount();
      pending |= !n.ok() || *n > 0;
    }
    auto after = store_->changes().LatestSeq(kTenant);
    if (!pending && before.ok() && after.ok() && *before == *after && faults_off_) {
      // Nothing moved during a fault-free round in which every device pulled.
      stats_["quiescence_rounds"] = round + 1;
      return true;
    }
  }
  return false;
}

void SimWorld::CheckInvariants(SimReport* report) {
  auto fail = [&](const std::string& what) {
    if (report->violations.size() < 20) report->violations.push_back(what);
  };
  store_script_on_ = false;
  store_->set_active(false);
  // The server's view.
  std::vector<server::RecordRow> rows;
  for (int64_t after = 0;;) {
    auto page = store_->changes().ReadSince(kTenant, after, 1000);
    if (!page.ok()) {
      fail("cannot read the server feed: " + std::string(page.status().message()));
      return;
    }
    for (auto& r : *page) {
      after = r.state.version();
      rows.push_back(std::move(r));
    }
    if (page->size() < 1000) break;
  }
  auto latest = store_->changes().LatestSeq(kTenant);

  // Gap-free feed: versions unique, the newest equals the tenant sequence.
  std::set<int64_t> versions;
  for (const auto& r : rows) {
    if (!versions.insert(r.state.version()).second) {
      fail("two records share version " + std::to_string(r.state.version()));
    }
  }
  if (latest.ok() && !versions.empty() && *versions.rbegin() != *latest) {
    fail("newest record version " + std::to_string(*versions.rbegin()) +
         " differs from the tenant sequence " + std::to_string(*latest));
  }

  // Merges: a merged-away record names a survivor of its type, and no live
  // record still refers to it (its references moved).
  std::map<std::string, const v1::RecordState*> by_key;
  for (const auto& r : rows) {
    by_key[std::to_string(r.state.ref().entity_type()) + "/" + r.state.ref().id()] = &r.state;
  }
  for (const auto& r : rows) {
    if (r.state.has_merged_into()) {
      ++stats_["records_merged_away"];
      const v1::RecordRef& to = r.state.merged_into();
      if (!r.state.deleted() || to.entity_type() != r.state.ref().entity_type() ||
          !by_key.count(std::to_string(to.entity_type()) + "/" + to.id())) {
        fail(r.state.ref().id() + " names survivor " + to.id() +
             ", which is not a record of its type, or it is not a tombstone");
      }
    }
    if (r.state.deleted()) continue;
    for (const v1::RecordRef& ref : sync::ReferencesOf(r.state.data())) {
      auto it = by_key.find(std::to_string(ref.entity_type()) + "/" + ref.id());
      if (it != by_key.end() && it->second->has_merged_into()) {
        fail(r.state.ref().id() + " still refers to " + ref.id() + ", merged into " +
             it->second->merged_into().id());
      }
    }
  }

  // Every replica equals the server's records in its scope, record by record.
  for (auto& d : devices_) {
    std::map<std::string, const v1::RecordState*> expected;
    for (const auto& r : rows) {
      if (!r.state.deleted() &&
          server::CanRead(d->principal, r.state.ref().entity_type(), r.state.scope())) {
        expected[std::to_string(r.state.ref().entity_type()) + "/" + r.state.ref().id()] = &r.state;
      }
    }
    std::map<std::string, v1::RecordState> held;
    for (v1::EntityType t : kTypes) {
      auto list = d->db->List(t);
      if (!list.ok()) {
        fail(d->id + ": cannot list its replica");
        continue;
      }
      for (auto& r : *list) held[std::to_string(t) + "/" + r.ref().id()] = std::move(r);
    }
    for (const auto& [key, state] : expected) {
      auto it = held.find(key);
      if (it == held.end()) {
        fail(d->id + " is missing " + key + " (version " + std::to_string(state->version()) + ")");
      } else {
        std::string diff;
        google::protobuf::util::MessageDifferencer differ;
        differ.ReportDifferencesToString(&diff);
        bool same = differ.Compare(state->data(), it->second.data());
        if (it->second.version() != state->version() || !same) {
          if (diff.size() > 300) diff = diff.substr(0, 300) + "...";
          fail(d->id + " holds " + key + " at version " + std::to_string(it->second.version()) +
               ", server has version " + std::to_string(state->version()) +
               (same ? "" : "; data differs (server -> device): " + diff));
        }
      }
    }
    for (const auto& [key, state] : held) {
      if (expected.count(key)) continue;
      std::string where = "the server has no such record";
      for (const auto& r : rows) {
        if (std::to_string(r.state.ref().entity_type()) + "/" + r.state.ref().id() == key) {
          where = std::string(r.state.deleted() ? "deleted" : "live") + " on the server at v" +
                  std::to_string(r.state.version()) + " with scope {" +
                  r.state.scope().ShortDebugString() + "}";
        }
      }
      fail(d->id + " holds " + key + " (v" + std::to_string(state.version()) + ", scope {" +
           state.scope().ShortDebugString() + "}), which is not in its scope: " + where);
    }
    // The replica does not depend on page sizes: bootstraps of the device's
    // scope in pages of one change and in one page give what it holds.
    for (int page_size : {1, 5000}) {
      std::map<std::string, v1::RecordState> fresh;
      std::string error = Bootstrap(d->principal, page_size, &fresh);
      if (!error.empty()) {
        fail(d->id + ": bootstrap in pages of " + std::to_string(page_size) + ": " + error);
        continue;
      }
      for (const auto& [key, state] : fresh) {
        auto it = held.find(key);
        if (it == held.end() || it->second.version() != state.version() ||
            !google::protobuf::util::MessageDifferencer::Equals(it->second.data(), state.data())) {
          fail(d->id + ": a bootstrap in pages of " + std::to_string(page_size) + " gives " + key +
               " at v" + std::to_string(state.version()) + ", the device holds " +
               (it == held.end() ? "nothing" : "v" + std::to_string(it->second.version())));
        }
      }
      for (const auto& [key, state] : held) {
        if (!fresh.count(key)) {
          fail(d->id + " holds " + key + ", which a bootstrap in pages of " +
               std::to_string(page_size) + " does not give");
        }
      }
    }
    if (latest.ok()) {
      auto cursor = d->db->Cursor();
      auto position = cursor.ok() ? server::ParseCursor(*cursor) : cursor.status();
      if (!position.ok() || position->seq != *latest || position->base != *latest) {
        fail(d->id + " did not pull up to the newest change");
      }
    }
  }

  // No mutation a device wrote is lost, and each has exactly one result.
  std::map<std::pair<std::string, int64_t>, v1::MutationResult> results;
  absl::Status read = store_->changes().Write(kTenant, [&](server::WriteTx& tx) -> absl::Status {
    for (const auto& [device, seq] : issued_) {
      auto applied = tx.GetApplied(device, seq);
      if (!applied.ok()) return applied.status();
      if (!*applied) {
        // Pruned: only below the device's applied floor, and only after the
        // server committed a result for it.
        auto floor = tx.RaiseAppliedFloor(device, 0);
        if (!floor.ok()) return floor.status();
        auto committed = committed_results_.find({device, seq});
        if (seq <= floor->floor && committed != committed_results_.end()) {
          results[{device, seq}] = committed->second;
          ++stats_["results_pruned_at_end"];
        } else {
          fail("mutation " + device + "#" + std::to_string(seq) +
               " was written on the device but never reached the server");
        }
      } else {
        results[{device, seq}] = (*applied)->result;
      }
    }
    return absl::OkStatus();
  });
  if (!read.ok()) fail("cannot read applied mutations: " + std::string(read.message()));

  // Points balances equal the initial balance plus every accepted increment.
  std::map<std::string, int64_t> expected_points = {{"card-0", 100}, {"card-1", 100}};
  for (const auto& inc : increments_) {
    auto it = results.find({inc.device, inc.client_seq});
    if (it != results.end() && it->second.outcome() != v1::MUTATION_OUTCOME_REJECTED) {
      expected_points[inc.account] += inc.delta;
      ++stats_["points_changes_accepted"];
    }
  }
  // ... plus the bonus points of every accepted redemption of a points coupon.
  std::map<std::string, int64_t> bonus_of;
  for (const auto& r : rows) {
    if (r.state.data().has_coupon())
      bonus_of[r.state.ref().id()] = r.state.data().coupon().bonus_points();
  }
  for (const auto& r : rows) {
    const v1::Redemption& red = r.state.data().redemption();
    if (r.state.data().has_redemption() && red.status() == v1::REDEMPTION_STATUS_ACCEPTED &&
        bonus_of[red.coupon_id()] > 0) {
      expected_points[red.loyalty_account_id()] += bonus_of[red.coupon_id()];
      ++stats_["bonus_credits"];
    }
  }
  std::map<std::string, int64_t> accepted_redemptions;
  for (const auto& r : rows) {
    if (r.state.data().has_loyalty_account()) {
      int64_t balance = r.state.data().loyalty_account().points_balance();
      if (balance != expected_points[r.state.ref().id()]) {
        fail(r.state.ref().id() + " has " + std::to_string(balance) +
             " points; accepted "
             "credits and debits sum to " +
             std::to_string(expected_points[r.state.ref().id()]));
      }
      if (balance < 0) fail(r.state.ref().id() + " has a negative balance");
    }
    if (r.state.data().has_redemption() &&
        r.state.data().redemption().status() == v1::REDEMPTION_STATUS_ACCEPTED) {
      ++accepted_redemptions[r.state.data().redemption().coupon_id()];
      ++stats_["redemptions_accepted"];
    }
    if (r.state.ref().entity_type() == v1::ENTITY_TYPE_CONFLICT) ++stats_["conflict_records"];
  }
  // No coupon redeemed past its limit; its count matches its redemptions.
  for (const auto& r : rows) {
    if (!r.state.data().has_coupon()) continue;
    const v1::Coupon& c = r.state.data().coupon();
    int64_t accepted = accepted_redemptions[c.id()];
    if (c.max_redemptions_total() > 0 && accepted > c.max_redemptions_total()) {
      fail(c.id() + " was redeemed " + std::to_string(accepted) + " times, limit " +
           std::to_string(c.max_redemptions_total()));
    }
    if (c.redemption_count() != accepted) {
      fail(c.id() + " counts " + std::to_string(c.redemption_count()) + " redemptions, " +
           std::to_string(accepted) + " were accepted");
    }
  }
  // A retried mutation gets its original result: never applied twice.
  for (const auto& m : result_mismatches_) fail(m);
  std::set<std::string> reported;
  for (const auto& m : run_violations_) {
    if (reported.insert(m).second) fail(m);
  }
  CheckSameFieldEdits(rows, fail);
  stats_["records"] = static_cast<int64_t>(rows.size());
  stats_["mutations_issued"] = static_cast<int64_t>(issued_.size());
}

}  // namespace crmsync::sim
