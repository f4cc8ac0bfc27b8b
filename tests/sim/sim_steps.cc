// The random steps of the simulation: offline edits, terminal actions,
// reassignments, syncs, connectivity changes, crashes and server restarts.
#include "crmsync/sync/record_model.h"
#include "logic/pruner.h"
#include "sim_world.h"

namespace crmsync::sim {

namespace {
constexpr char kTenant[] = "t-sim";
constexpr double kStoreLat = 48.8606, kStoreLon = 2.3376;

std::string Word(std::mt19937_64& rng) {
  static const char* kWords[] = {"north", "blue",  "fair", "quick", "prime", "delta",
                                 "oak",   "river", "sun",  "stone", "alpha", "omega"};
  return std::string(kWords[rng() % 12]) + std::to_string(rng() % 100);
}
}  // namespace

void SimWorld::Step() {
  now_ms_ += Pick(5000);
  server_clock_.Set(now_ms_);
  ++stats_["steps"];
  DeliverDelayed(/*all=*/false);
  int r = Pick(100);
  Device* d = devices_[Pick(static_cast<int>(devices_.size()))].get();
  if (r < 40) {
    if (!d->terminal) LocalEdit(d);
  } else if (r < 52) {
    if (d->terminal) TerminalAction(d);
  } else if (r < 80) {
    SyncDevice(d);
  } else if (r < 86) {
    d->offline = !d->offline;
    ++stats_[d->offline ? "went_offline" : "went_online"];
  } else if (r < 90) {
    Reassign();
  } else if (r < 95) {
    // The device process dies between steps: whatever it committed locally
    // stays, pushes whose reply was lost stay pending.
    CloseDevice(d);
    OpenDevice(d);
    ++stats_["device_crashes"];
  } else if (r < 97) {
    StopServer();
    StartServer();
    ++stats_["server_restarts"];
  } else if (r < 97 + options_.prune_pct) {
    Prune();
  }
}

void SimWorld::Prune() {
  // As crm-syncd's pruning loop runs it; the store's faults apply.
  auto report = server::PruneTenant(&store_->changes(), &store_->directory(), kTenant, now_ms_,
                                    options_.retention_ms);
  if (!report.ok()) {
    ++stats_["prune_failed"];
    return;
  }
  ++stats_["prunes"];
  stats_["pruned_history_rows"] += report->rows_removed;
  stats_["pruned_results"] += report->applied_removed;
  stats_["devices_forgotten"] += report->devices_forgotten;
}

void SimWorld::Record(Device* d, const absl::StatusOr<v1::RecordState>& result, const char* what) {
  if (!result.ok()) {
    ++stats_[std::string("local_write_refused_") + what];
    return;
  }
  ++stats_[std::string("local_") + what];
  auto outbox = d->db->Outbox();
  if (outbox.ok() && !outbox->empty()) {
    int64_t newest = 0;
    for (const auto& p : *outbox) newest = std::max(newest, p.client_seq);
    issued_.emplace_back(d->id, newest);
  }
}

void SimWorld::LocalEdit(Device* d) {
  static const v1::EntityType kTypes[] = {v1::ENTITY_TYPE_LEAD, v1::ENTITY_TYPE_OPPORTUNITY,
                                          v1::ENTITY_TYPE_CONTACT, v1::ENTITY_TYPE_CALENDAR_EVENT};
  v1::EntityType type = kTypes[Pick(4)];
  auto list = d->db->List(type);
  if (!list.ok()) return;
  int r = Pick(100);
  if (list->empty() || r < 10) {
    v1::Record values;
    if (type == v1::ENTITY_TYPE_CALENDAR_EVENT) {
      v1::CalendarEvent* e = values.mutable_calendar_event();
      e->set_title("Meet " + Word(rng_));
      e->set_owner_user_id(d->user);
      e->set_team_id(d->principal.team_id);
      e->set_visibility(Chance(50) ? v1::VISIBILITY_TEAM : v1::VISIBILITY_PRIVATE);
      e->add_attendee_ids(d->user);
      // About one of the leads the device holds (which may be merged away
      // meanwhile: the server points it at the survivor).
      auto leads = d->db->List(v1::ENTITY_TYPE_LEAD);
      if (leads.ok() && !leads->empty() && Chance(50)) {
        *e->mutable_related() = (*leads)[Pick(static_cast<int>(leads->size()))].ref();
      }
    } else {
      v1::Lead* l = values.mutable_lead();
      l->set_first_name(Word(rng_));
      l->set_phone("+33 " + std::to_string(rng_() % 1000000));
      l->set_owner_user_id(d->user);
      l->set_team_id(d->principal.team_id);
      l->set_visibility(Chance(50) ? v1::VISIBILITY_TEAM : v1::VISIBILITY_PRIVATE);
    }
    Record(d, d->db->Create(values), "create");
    return;
  }
  const v1::RecordState& target = (*list)[Pick(static_cast<int>(list->size()))];
  if (r < 16) {
    Record(d, d->db->Delete(target.ref()), "delete");
    return;
  }
  if (r < 26 && type == v1::ENTITY_TYPE_LEAD && list->size() >= 2) {
    // Two leads the device holds are one prospect: merge one into the
    // other (refused by the server when the rep may not change both). Other
    // devices may still be editing the merged one offline.
    const v1::RecordState& other = (*list)[Pick(static_cast<int>(list->size()))];
    if (other.ref().id() != target.ref().id()) {
      v1::MergeSpec spec;
      spec.set_merged_record_id(other.ref().id());
      if (Chance(30)) spec.add_take_from_merged("first_name");
      Record(d, d->db->Merge(target.ref(), spec), "merge");
      return;
    }
  }
  v1::Record values;
  google::protobuf::FieldMask mask;
  switch (type) {
    case v1::ENTITY_TYPE_LEAD: {
      v1::Lead* l = values.mutable_lead();
      switch (Pick(6)) {
        case 5:
          if (target.data().lead().owner_user_id() == d->user) {
            // The owner hides the lead from the team, or shares it again.
            l->set_visibility(target.data().lead().visibility() == v1::VISIBILITY_PRIVATE
                                  ? v1::VISIBILITY_TEAM
                                  : v1::VISIBILITY_PRIVATE);
            mask.add_paths("visibility");
            break;
          }
          [[fallthrough]];
        case 0:
          l->set_first_name(Word(rng_));
          mask.add_paths("first_name");
          break;
        case 1:
          l->set_phone("+33 " + std::to_string(rng_() % 1000000));
          mask.add_paths("phone");
          break;
        case 2:
          l->set_notes(Word(rng_) + " " + Word(rng_));
          mask.add_paths("notes");
          break;
        case 3:
          l->set_rating(Pick(6));
          mask.add_paths("rating");
          break;
        default: {
          *l->mutable_tags() = target.data().lead().tags();
          if (l->tags_size() > 0 && Chance(40)) {
            l->mutable_tags()->DeleteSubrange(Pick(l->tags_size()), 1);
          } else {
            l->add_tags(Word(rng_));
          }
          mask.add_paths("tags");
        }
      }
      break;
    }
    case v1::ENTITY_TYPE_OPPORTUNITY: {
      v1::Opportunity* o = values.mutable_opportunity();
      switch (Pick(3)) {
        case 0:
          o->mutable_amount()->set_currency_code("EUR");
          o->mutable_amount()->set_amount_minor(1000 * (1 + Pick(500)));
          mask.add_paths("amount");
          break;
        case 1:
          o->set_stage(static_cast<v1::OpportunityStage>(1 + Pick(6)));
          mask.add_paths("stage");
          break;
        default: o->set_notes(Word(rng_)); mask.add_paths("notes");
      }
      break;
    }
    case v1::ENTITY_TYPE_CONTACT: {
      v1::Contact* c = values.mutable_contact();
      if (Chance(50)) {
        c->set_email(Word(rng_) + "@example.com");
        mask.add_paths("email");
      } else {
        c->set_notes(Word(rng_));
        mask.add_paths("notes");
      }
      break;
    }
    default: {
      v1::CalendarEvent* e = values.mutable_calendar_event();
      if (Chance(50)) {
        e->set_title("Visit " + Word(rng_));
        mask.add_paths("title");
      } else {
        *e->mutable_attendee_ids() = target.data().calendar_event().attendee_ids();
        static const char* kPeople[] = {"alice", "bob", "carl", "maria"};
        e->add_attendee_ids(kPeople[Pick(4)]);
        mask.add_paths("attendee_ids");
      }
    }
  }
  // Same id as the target.
  google::protobuf::Message* entity = sync::MutableEntity(&values, type);
  entity->GetReflection()->SetString(entity, entity->GetDescriptor()->FindFieldByName("id"),
                                     target.ref().id());
  Record(d, d->db->Update(values, &mask), "update");
}

void SimWorld::TerminalAction(Device* d) {
  if (Chance(50)) {
    auto coupons = d->db->List(v1::ENTITY_TYPE_COUPON);
    if (!coupons.ok() || coupons->empty()) return;
    const auto& c = (*coupons)[Pick(static_cast<int>(coupons->size()))];
    client::LocalEdit edit;
    edit.ref.set_entity_type(v1::ENTITY_TYPE_REDEMPTION);
    edit.ref.set_id("red-" + d->id + "-" + std::to_string(stats_["redeem_attempts"]++));
    edit.operation = v1::OPERATION_REDEEM;
    v1::Redemption* r = edit.values.mutable_redemption();
    r->set_id(edit.ref.id());
    r->set_coupon_id(c.ref().id());
    r->set_store_id("store-1");
    r->set_device_id(d->id);
    r->set_loyalty_account_id("card-" + std::to_string(Pick(2)));  // the customer's card
    r->set_status(v1::REDEMPTION_STATUS_PENDING);
    r->mutable_redeemed_at()->set_seconds(now_ms_ / 1000);
    r->mutable_position()->set_latitude(kStoreLat + (Pick(200) - 100) * 1e-5);
    r->mutable_position()->set_longitude(kStoreLon);
    r->set_position_accuracy_m(15);
    Record(d, d->db->Apply(edit), "redeem");
  } else {
    auto cards = d->db->List(v1::ENTITY_TYPE_LOYALTY_ACCOUNT);
    if (!cards.ok() || cards->empty()) return;
    const auto& card = (*cards)[Pick(static_cast<int>(cards->size()))];
    int64_t delta = Pick(81) - 40;
    if (delta == 0) delta = 1;
    client::LocalEdit edit;
    edit.ref = card.ref();
    edit.operation = v1::OPERATION_INCREMENT;
    edit.mask.add_paths("points_balance");
    edit.values.mutable_loyalty_account()->set_id(card.ref().id());
    edit.values.mutable_loyalty_account()->set_points_balance(delta);
    size_t before = issued_.size();
    Record(d, d->db->Apply(edit), "points");
    if (issued_.size() > before) {
      increments_.push_back({d->id, issued_.back().second, card.ref().id(), delta});
    }
  }
}

void SimWorld::Reassign() {
  Device* maria = nullptr;
  for (auto& d : devices_) {
    if (d->user == "maria") maria = d.get();
  }
  auto leads = maria->db->List(v1::ENTITY_TYPE_LEAD);
  if (!leads.ok() || leads->empty()) return;
  const auto& lead = (*leads)[Pick(static_cast<int>(leads->size()))];
  static const char* kReps[] = {"alice", "bob", "carl"};
  std::string to = kReps[Pick(3)];
  if (to == lead.data().lead().owner_user_id()) return;
  v1::Record values;
  values.mutable_lead()->set_id(lead.ref().id());
  values.mutable_lead()->set_owner_user_id(to);
  google::protobuf::FieldMask mask;
  mask.add_paths("owner_user_id");
  Record(maria, maria->db->Update(values, &mask), "reassign");
}

void SimWorld::SyncDevice(Device* d) {
  if (d->offline) return;
  absl::Status s = d->engine->SyncOnce();
  ++stats_[s.ok() ? "syncs_ok" : "syncs_failed"];
}

}  // namespace crmsync::sim
