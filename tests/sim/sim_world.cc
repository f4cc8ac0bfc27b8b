#include "sim_world.h"

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "absl/synchronization/mutex.h"
#include "crmsync/client/transport.h"
#include "logic/cursor.h"
#include "logic/directive.h"
#include "logic/scope.h"
#include "version.h"

namespace crmsync::sim {

namespace {

constexpr char kTenant[] = "t-sim";
constexpr double kStoreLat = 48.8606, kStoreLon = 2.3376;

const std::vector<v1::EntityType> kAllTypes = {
    v1::ENTITY_TYPE_ACCOUNT,     v1::ENTITY_TYPE_CONTACT,    v1::ENTITY_TYPE_LEAD,
    v1::ENTITY_TYPE_OPPORTUNITY, v1::ENTITY_TYPE_ACTIVITY,   v1::ENTITY_TYPE_CALENDAR_EVENT,
    v1::ENTITY_TYPE_COUPON,      v1::ENTITY_TYPE_REDEMPTION, v1::ENTITY_TYPE_LOYALTY_ACCOUNT,
    v1::ENTITY_TYPE_CONFLICT,    v1::ENTITY_TYPE_STORE};

struct UserSpec {
  const char* id;
  v1::Role role;
  const char* team;
  const char* store;
};
const std::vector<UserSpec> kUsers = {
    {"admin", v1::ROLE_ADMIN, "", ""},
    {"maria", v1::ROLE_SALES_MANAGER, "north", ""},
    {"alice", v1::ROLE_SALES_REP, "north", ""},
    {"bob", v1::ROLE_SALES_REP, "north", ""},
    {"carl", v1::ROLE_SALES_REP, "north", ""},
    {"dana", v1::ROLE_SALES_REP, "south", ""},
    {"till1", v1::ROLE_STORE_TERMINAL, "", "store-1"},
    {"till2", v1::ROLE_STORE_TERMINAL, "", "store-1"},
};
// (device, user)
const std::vector<std::pair<const char*, const char*>> kDevices = {
    {"alice-1", "alice"}, {"alice-2", "alice"}, {"bob-1", "bob"},     {"carl-1", "carl"},
    {"dana-1", "dana"},   {"maria-1", "maria"}, {"till1-1", "till1"}, {"till2-1", "till2"}};

const UserSpec& UserOf(const std::string& id) {
  for (const auto& u : kUsers) {
    if (id == u.id) return u;
  }
  return kUsers[0];
}

}  // namespace

class SimWorld::SimClock final : public client::Clock {
 public:
  explicit SimClock(const int64_t* now) : now_(now) {}
  int64_t NowMs() override { return *now_; }

 private:
  const int64_t* now_;
};

// Calls the server handlers directly, injecting faults from the world's
// seeded generator.
class SimWorld::Transport final : public client::Transport {
 public:
  Transport(SimWorld* world, Device* device) : world_(world), device_(device) {}

  client::CallStatus Push(const v1::PushRequest& request, v1::PushResponse* response) override {
    ++world_->stats_["push_calls"];
    if (Fault(world_->options_.drop_request_pct, "fault_request_dropped")) {
      return Failure(absl::UnavailableError("simulated network: request dropped"));
    }
    if (Fault(world_->options_.delay_push_pct, "fault_push_delayed")) {
      // Held in the network: the device gives up waiting and goes on; the
      // server gets the request at some later step.
      world_->delayed_.emplace_back(device_, request);
      return Failure(absl::DeadlineExceededError("simulated network: no answer in time"));
    }
    absl::Status s = world_->CallPush(device_, request, response);
    if (s.ok() && Fault(world_->options_.duplicate_pct, "fault_request_duplicated")) {
      v1::PushResponse again;
      s = world_->CallPush(device_, request, &again);
      *response = std::move(again);
    }
    if (!s.ok()) return Failure(s);
    world_->ObserveResults(device_->id, *response);
    if (const char* trace = std::getenv("CRMSYNC_SIM_TRACE")) {
      for (int i = 0; i < response->results_size(); ++i) {
        const auto& m = request.mutations(i);
        const auto& r = response->results(i);
        if (m.record().id().find(trace) != std::string::npos) {
          std::fprintf(stderr, "trace: %s push #%lld %s base=v%lld -> %s seq=%lld rec=v%lld%s\n",
                       device_->id.c_str(), (long long)m.client_seq(),
                       v1::Operation_Name(m.operation()).c_str(), (long long)m.base_version(),
                       v1::MutationOutcome_Name(r.outcome()).c_str(), (long long)r.change_seq(),
                       (long long)r.record().version(), r.record().deleted() ? " deleted" : "");
        }
      }
    }
    if (Fault(world_->options_.lose_response_pct, "fault_response_lost")) {
      response->Clear();
      return Failure(absl::UnavailableError("simulated network: response lost after commit"));
    }
    return {};
  }

  client::CallStatus Pull(const v1::PullRequest& request, v1::PullResponse* response) override {
    ++world_->stats_["pull_calls"];
    if (Fault(world_->options_.drop_request_pct, "fault_request_dropped")) {
      return Failure(absl::UnavailableError("simulated network: request dropped"));
    }
    // Every pull takes a page size of its own, so that no outcome can
    // depend on where pages happen to end.
    v1::PullRequest paged = request;
    paged.set_page_size(world_->PickPageSize());
    absl::Status s = world_->ServePull(device_->principal, paged, response);
    if (!s.ok()) return Failure(s);
    if (const char* trace = std::getenv("CRMSYNC_SIM_TRACE")) {
      for (const auto& c : response->changes()) {
        if (c.record().id().find(trace) != std::string::npos) {
          std::fprintf(stderr, "trace: %s pull cursor=%s -> %s v%lld\n", device_->id.c_str(),
                       request.cursor().c_str(), v1::ChangeKind_Name(c.kind()).c_str(),
                       (long long)c.version());
        }
      }
    }
    if (Fault(world_->options_.lose_response_pct, "fault_response_lost")) {
      response->Clear();
      return Failure(absl::UnavailableError("simulated network: response lost"));
    }
    return {};
  }

  client::CallStatus GetChecksum(const v1::GetChecksumRequest& request,
                                 v1::GetChecksumResponse* response) override {
    absl::Status s = world_->pull_->GetChecksum(device_->principal, request, response);
    return s.ok() ? client::CallStatus{} : Failure(s);
  }

  std::unique_ptr<client::Subscription> Subscribe(
      const v1::SubscribeRequest&, std::function<void(const v1::SubscribeEvent&)>,
      std::function<void(const client::CallStatus&)>) override {
    return std::make_unique<client::Subscription>();  // the simulation drives syncs itself
  }

 private:
  bool Fault(int pct, const char* stat) {
    if (world_->faults_off_ || !world_->Chance(pct)) return false;
    ++world_->stats_[stat];
    return true;
  }
  static client::CallStatus Failure(const absl::Status& s) {
    client::CallStatus out;
    out.status = s;
    if (auto d = server::DirectiveOf(s)) out.directive = client::ParseDirective(*d);
    return out;
  }

  SimWorld* world_;
  Device* device_;
};

absl::Status SimWorld::CallPush(Device* d, const v1::PushRequest& request,
                                v1::PushResponse* response) {
  pushing_ = d;
  push_request_ = &request;
  write_fate_ = WriteFate::kNone;
  absl::Status s = push_->Push(d->principal, request, response);
  if (!s.ok()) ++stats_["push_server_errors"];
  for (int i = 0; s.ok() && i < response->results_size() && i < request.mutations_size(); ++i) {
    const int64_t sent = request.mutations(i).client_seq();
    if (response->results(i).client_seq() != sent) {
      run_violations_.push_back("a push of " + d->id + " answered mutation #" +
                                std::to_string(sent) + " with a result for client_seq " +
                                std::to_string(response->results(i).client_seq()));
      break;
    }
  }
  if (s.ok() && write_fate_ == WriteFate::kRolledBack) {
    run_violations_.push_back("a push of " + d->id + " was answered OK although its transaction " +
                              "rolled back (" + std::to_string(request.mutations_size()) +
                              " mutations from #" +
                              std::to_string(request.mutations(0).client_seq()) + ")");
  }
  pushing_ = nullptr;
  push_request_ = nullptr;
  return s;
}

void SimWorld::DeliverDelayed(bool all) {
  for (size_t i = 0; i < delayed_.size();) {
    if (!all && !Chance(25)) {
      ++i;
      continue;
    }
    auto [d, request] = std::move(delayed_[i]);
    delayed_.erase(delayed_.begin() + static_cast<long>(i));
    v1::PushResponse response;
    ++stats_["delayed_pushes_delivered"];
    // Nobody waits for the answer any more; the results must still be the
    // ones any other delivery of these mutations got.
    if (CallPush(d, request, &response).ok()) ObserveResults(d->id, response);
  }
}

void SimWorld::ObserveResults(const std::string& device, const v1::PushResponse& response) {
  for (const auto& r : response.results()) {
    if (r.outcome() == v1::MUTATION_OUTCOME_REJECTED &&
        r.reject_reason() == v1::REJECT_REASON_VALIDATION) {
      // The simulated devices write only valid data through the SDK: a
      // validation refusal means the SDK or the server mangled a mutation
      // (a redemption once went out without its fields this way).
      result_mismatches_.push_back("mutation " + device + "#" + std::to_string(r.client_seq()) +
                                   " was refused as invalid: " + r.message());
    }
    auto key = std::make_pair(device, r.client_seq());
    if (r.reject_reason() == v1::REJECT_REASON_RESULT_PRUNED) {
      // Allowed only for a mutation the server did process (and so will
      // never apply again); its result was pruned after an acknowledgement
      // or after the device was silent past the retention.
      ++stats_["result_pruned_answers"];
      if (committed_results_.count(key) == 0) {
        result_mismatches_.push_back("mutation " + device + "#" + std::to_string(r.client_seq()) +
                                     " was answered RESULT_PRUNED but never processed");
      }
      continue;
    }
    auto [it, inserted] = first_results_.emplace(key, r);
    if (inserted) continue;
    ++stats_["retried_mutations"];
    const v1::MutationResult& first = it->second;
    if (first.outcome() != r.outcome() || first.change_seq() != r.change_seq() ||
        first.reject_reason() != r.reject_reason()) {
      result_mismatches_.push_back(
          "mutation " + device + "#" + std::to_string(r.client_seq()) +
          " was applied again on retry: first " + v1::MutationOutcome_Name(first.outcome()) +
          " at seq " + std::to_string(first.change_seq()) + ", then " +
          v1::MutationOutcome_Name(r.outcome()) + " at seq " + std::to_string(r.change_seq()));
    }
  }
}

std::string SimReport::Summary() const {
  std::ostringstream out;
  for (const auto& [k, v] : stats) out << k << "=" << v << " ";
  return out.str();
}

SimWorld::SimWorld(SimOptions options)
    : options_(std::move(options)),
      rng_(options_.seed),
      now_ms_(1'800'000'000'000),
      server_clock_(now_ms_),
      client_clock_(std::make_unique<SimClock>(&now_ms_)) {
  // The simulation runs devices' sync cycles inside server transactions on
  // one thread (to interleave them deterministically), so absl's lock-order
  // graph sees device A's cycle lock before device B's and, later, the
  // reverse: orders separate device processes never share. The check stays
  // on in every other test binary.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Memory-backed when available: the simulation is about logic, not disks.
  std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  std::string tmpl = base + "/crmsync-sim-XXXXXX";
  dir_ = mkdtemp(tmpl.data());
}

SimWorld::~SimWorld() {
  for (auto& d : devices_) CloseDevice(d.get());
  StopServer();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string SimWorld::ReplayCommand() const {
  std::string cmd = "crm-sim --seed " + std::to_string(options_.seed) + " --steps " +
                    std::to_string(options_.steps);
  if (!options_.variant.empty()) cmd += " --variant " + options_.variant;
  return cmd;
}

void SimWorld::StartServer() {
  auto store = server::OpenStore("sqlite:" + dir_ + "/server.db");
  if (!store.ok()) throw std::runtime_error(std::string(store.status().message()));
  sqlite_ = std::move(*store);
  if (auto s = sqlite_->Migrate(); !s.ok()) throw std::runtime_error(std::string(s.message()));
  SimStoreOptions store_options;
  store_options.sequence_visible_before_commit = options_.variant == "cursor-before-commit";
  store_options.forget_applied_mutations = options_.variant == "no-dedup";
  store_options.drop_new_conflicts = options_.variant == "drop-conflicts";
  store_options.scopes_from_window_end = options_.variant == "scope-at-page-start";
  store_ =
      std::make_unique<SimStore>(sqlite_.get(), static_cast<StoreScript*>(this), store_options);
  store_->set_active(store_script_on_);
  server::PushOptions push_options;
  if (options_.prune_pct > 0) push_options.retention_ms = options_.retention_ms;
  server::PullOptions pull_options;
  push_ = std::make_unique<server::PushHandler>(&store_->changes(), &store_->directory(),
                                                &store_->audit(), &policies_, &server_clock_,
                                                push_options);
  pull_ = std::make_unique<server::PullHandler>(&store_->changes(), &store_->directory(),
                                                &server_clock_, pull_options);
}

absl::Status SimWorld::ServePull(const server::Principal& who, const v1::PullRequest& request,
                                 v1::PullResponse* response) {
  if (absl::Status s = pull_->Pull(who, request, response); !s.ok()) return s;
  if (options_.variant == "skip-left-scope") {
    // Devices are never told that a record left their scope.
    auto* changes = response->mutable_changes();
    changes->erase(
        std::remove_if(changes->begin(), changes->end(),
                       [](const v1::Change& c) { return c.kind() == v1::CHANGE_KIND_LEFT_SCOPE; }),
        changes->end());
  } else if (options_.variant == "cursor-before-commit" && !response->has_more()) {
    // A caught-up device gets the tenant's latest sequence as its cursor
    // instead of the version of the last row it was sent: with a sequence
    // that counts numbers an open transaction took, the cursor passes
    // changes not committed yet.
    auto cursor = server::ParseCursor(response->next_cursor());
    auto latest = store_->changes().LatestSeq(who.tenant_id);
    if (cursor.ok() && latest.ok() && *latest > cursor->seq) {
      response->set_next_cursor(server::EncodeCursor(*latest, *latest, cursor->history));
    }
  }
  return absl::OkStatus();
}

void SimWorld::StopServer() {
  push_.reset();
  pull_.reset();
  store_.reset();
  sqlite_.reset();
}

void SimWorld::OpenDevice(Device* d) {
  client::DatabaseOptions options;
  options.path = dir_ + "/" + d->id + ".db";
  options.device_id = d->id;
  options.user_id = d->user;
  options.channel = d->terminal ? v1::CHANNEL_STORE_TERMINAL : v1::CHANNEL_FIELD_APP;
  options.clock = client_clock_.get();
  options.random = d->random.get();
  auto db = client::Database::Open(options);
  if (!db.ok())
    throw std::runtime_error("device " + d->id + ": " + std::string(db.status().message()));
  d->db = std::move(*db);
  client::SyncOptions sync_options;
  sync_options.clock = client_clock_.get();
  sync_options.random = d->random.get();
  sync_options.verify_checksum = false;  // the simulation checks replicas itself
  d->engine = std::make_unique<client::SyncEngine>(d->db.get(), d->transport, sync_options);
}

void SimWorld::CloseDevice(Device* d) {
  d->engine.reset();
  d->db.reset();
}

void SimWorld::SeedData() {
  if (auto s = store_->directory().PutTenant({kTenant, "sim", "Simulated"}); !s.ok()) {
    throw std::runtime_error(std::string(s.message()));
  }
  for (const auto& u : kUsers) {
    server::UserRow row;
    row.tenant_id = kTenant;
    row.user.set_id(u.id);
    row.user.set_username(u.id);
    row.user.set_role(u.role);
    row.user.set_team_id(u.team);
    row.user.set_store_id(u.store);
    (void)store_->directory().PutUser(row);
  }
  std::vector<std::pair<std::string, std::string>> devices(kDevices.begin(), kDevices.end());
  devices.emplace_back("seed", "admin");
  for (const auto& [dev, user] : devices) {
    server::DeviceRow row;
    row.tenant_id = kTenant;
    row.device.set_id(dev);
    row.device.set_user_id(user);
    row.device.set_status(v1::DEVICE_STATUS_ACTIVE);
    row.device.mutable_registered_at()->set_seconds(now_ms_ / 1000);
    (void)store_->directory().PutDevice(row);
  }

  v1::PushRequest req;
  req.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  int64_t seq = 0;
  auto add = [&](v1::EntityType type, const std::string& id, const v1::Record& values) {
    v1::Mutation* m = req.add_mutations();
    m->set_client_seq(++seq);
    m->mutable_record()->set_entity_type(type);
    m->mutable_record()->set_id(id);
    m->set_operation(v1::OPERATION_UPSERT);
    *m->mutable_values() = values;
    const auto* e = values.GetReflection()->GetOneofFieldDescriptor(
        values, values.GetDescriptor()->FindOneofByName("entity"));
    const auto& entity = values.GetReflection()->GetMessage(values, e);
    std::vector<const google::protobuf::FieldDescriptor*> fields;
    entity.GetReflection()->ListFields(entity, &fields);
    for (const auto* f : fields) m->mutable_update_mask()->add_paths(f->name());
    m->mutable_hlc()->set_wall_time_ms(now_ms_);
    m->mutable_hlc()->set_node_id("seed");
  };
  const char* owners[] = {"alice", "bob", "carl", "dana"};
  for (int i = 0; i < 8; ++i) {
    v1::Record r;
    v1::Lead* l = r.mutable_lead();
    l->set_id("lead-" + std::to_string(i));
    l->set_first_name("Lead" + std::to_string(i));
    l->set_owner_user_id(owners[i % 4]);
    l->set_team_id(UserOf(owners[i % 4]).team);
    l->set_visibility(i % 3 == 0 ? v1::VISIBILITY_TEAM : v1::VISIBILITY_PRIVATE);
    l->add_tags("seed");
    add(v1::ENTITY_TYPE_LEAD, l->id(), r);
  }
  for (int i = 0; i < 3; ++i) {
    v1::Record r;
    v1::Opportunity* o = r.mutable_opportunity();
    o->set_id("opp-" + std::to_string(i));
    o->set_name("Deal " + std::to_string(i));
    o->mutable_amount()->set_currency_code("EUR");
    o->mutable_amount()->set_amount_minor(100000 * (i + 1));
    o->set_stage(v1::OPPORTUNITY_STAGE_PROSPECTING);
    o->set_owner_user_id(owners[i % 3]);
    o->set_team_id("north");
    o->set_visibility(v1::VISIBILITY_TEAM);
    add(v1::ENTITY_TYPE_OPPORTUNITY, o->id(), r);
  }
  for (int i = 0; i < 3; ++i) {
    v1::Record r;
    v1::Contact* c = r.mutable_contact();
    c->set_id("con-" + std::to_string(i));
    c->set_first_name("Contact" + std::to_string(i));
    c->set_email("c" + std::to_string(i) + "@example.com");
    c->set_owner_user_id(owners[i % 4]);
    c->set_team_id(UserOf(owners[i % 4]).team);
    c->set_visibility(v1::VISIBILITY_TEAM);
    add(v1::ENTITY_TYPE_CONTACT, c->id(), r);
  }
  for (int i = 0; i < 2; ++i) {
    v1::Record r;
    v1::CalendarEvent* e = r.mutable_calendar_event();
    e->set_id("cal-" + std::to_string(i));
    e->set_title("Visit " + std::to_string(i));
    e->add_attendee_ids("alice");
    e->set_owner_user_id(i == 0 ? "alice" : "bob");
    e->set_team_id("north");
    e->set_visibility(v1::VISIBILITY_TEAM);
    add(v1::ENTITY_TYPE_CALENDAR_EVENT, e->id(), r);
  }
  for (int i = 0; i < 3; ++i) {
    v1::Record r;
    v1::Coupon* c = r.mutable_coupon();
    c->set_id("coupon-" + std::to_string(i));
    c->set_code("CODE" + std::to_string(i));
    c->set_active(true);
    // The unlimited coupon is worth points, credited to the customer's card.
    if (i == 2) {
      c->set_bonus_points(kBonusPoints);
    } else {
      c->set_percent_off_bp(500);
    }
    c->mutable_valid_from()->set_seconds(now_ms_ / 1000 - 3600);
    c->mutable_valid_until()->set_seconds(now_ms_ / 1000 + 30 * 86400);
    c->mutable_geofence()->mutable_circle()->mutable_center()->set_latitude(kStoreLat);
    c->mutable_geofence()->mutable_circle()->mutable_center()->set_longitude(kStoreLon);
    c->mutable_geofence()->mutable_circle()->set_radius_m(3000);
    c->add_store_ids("store-1");
    c->set_max_redemptions_total(i == 2 ? 0 : i + 1);
    add(v1::ENTITY_TYPE_COUPON, c->id(), r);
  }
  for (int i = 0; i < 2; ++i) {
    v1::Record r;
    v1::LoyaltyAccount* a = r.mutable_loyalty_account();
    a->set_id("card-" + std::to_string(i));
    a->set_card_number("4000-" + std::to_string(i));
    a->set_home_store_id("store-1");
    a->set_points_balance(100);
    add(v1::ENTITY_TYPE_LOYALTY_ACCOUNT, a->id(), r);
  }
  server::Principal admin{kTenant, "admin", v1::ROLE_ADMIN, "", "", "seed"};
  v1::PushResponse resp;
  if (auto s = push_->Push(admin, req, &resp); !s.ok()) {
    throw std::runtime_error("seed: " + std::string(s.message()));
  }
}

SimReport SimWorld::Run() {
  SimReport report;
  try {
    StartServer();
    SeedData();
    for (const auto& [dev, user] : kDevices) {
      auto d = std::make_unique<Device>();
      d->id = dev;
      d->user = user;
      const UserSpec& u = UserOf(user);
      d->principal = server::Principal{kTenant, user, u.role, u.team, u.store, dev};
      d->terminal = u.role == v1::ROLE_STORE_TERMINAL;
      d->random = client::NewSeededRandom(options_.seed * 1000 + devices_.size());
      d->transport = std::make_shared<Transport>(this, d.get());
      OpenDevice(d.get());
      devices_.push_back(std::move(d));
    }
    store_script_on_ = true;
    store_->set_active(true);
    for (int i = 0; i < options_.steps; ++i) Step();
    if (!Quiesce()) {
      report.violations.push_back("devices did not reach quiescence");
      for (auto& d : devices_) {
        auto pending = d->db->PendingCount();
        auto progress = d->engine->Progress();
        if ((pending.ok() && *pending > 0) || !progress.last_error.empty()) {
          report.violations.push_back("  " + d->id + ": " +
                                      std::to_string(pending.ok() ? *pending : -1) +
                                      " pending, last error: " + progress.last_error);
        }
      }
    }
    CheckInvariants(&report);
  } catch (const std::exception& e) {
    report.violations.push_back(std::string("simulation error: ") + e.what());
  }
  report.ok = report.violations.empty();
  report.stats = stats_;
  return report;
}

}  // namespace crmsync::sim
