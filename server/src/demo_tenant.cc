#include "demo_tenant.h"

#include <spdlog/spdlog.h>

#include "version.h"

namespace crmsync::server {
namespace {

constexpr char kSeedDevice[] = "server-seed";

v1::User MakeUser(const std::string& id, const std::string& name, const std::string& display,
                  v1::Role role, const std::string& team, const std::string& store) {
  v1::User u;
  u.set_id(id);
  u.set_username(name);
  u.set_display_name(display);
  u.set_email(name + "@demo.example");
  u.set_role(role);
  u.set_team_id(team);
  u.set_store_id(store);
  return u;
}

// Builds an UPSERT mutation that creates `record` with every set field.
class SeedBatch {
 public:
  explicit SeedBatch(int64_t now_ms) : now_ms_(now_ms) {}

  template <typename Entity>
  void Create(v1::EntityType type, const Entity& entity) {
    v1::Mutation* m = request_.add_mutations();
    m->set_client_seq(++seq_);
    m->mutable_record()->set_entity_type(type);
    m->mutable_record()->set_id(entity.id());
    m->set_operation(v1::OPERATION_UPSERT);
    SetEntity(m->mutable_values(), entity);
    const auto* refl = entity.GetReflection();
    std::vector<const google::protobuf::FieldDescriptor*> fields;
    refl->ListFields(entity, &fields);
    for (const auto* f : fields) m->mutable_update_mask()->add_paths(f->name());
    m->mutable_hlc()->set_wall_time_ms(now_ms_);
    m->mutable_hlc()->set_logical(static_cast<uint32_t>(seq_));
    m->mutable_hlc()->set_node_id(kSeedDevice);
    m->mutable_provenance()->set_channel(v1::CHANNEL_IMPORT);
    m->mutable_provenance()->set_precision(v1::PRECISION_REPORTED);
    m->mutable_provenance()->set_author_user_id("u-admin");
    m->mutable_provenance()->set_device_id(kSeedDevice);
  }

  v1::PushRequest& request() { return request_; }

 private:
  static void SetEntity(v1::Record* r, const v1::Account& e) { *r->mutable_account() = e; }
  static void SetEntity(v1::Record* r, const v1::Contact& e) { *r->mutable_contact() = e; }
  static void SetEntity(v1::Record* r, const v1::Lead& e) { *r->mutable_lead() = e; }
  static void SetEntity(v1::Record* r, const v1::Opportunity& e) { *r->mutable_opportunity() = e; }
  static void SetEntity(v1::Record* r, const v1::CalendarEvent& e) {
    *r->mutable_calendar_event() = e;
  }
  static void SetEntity(v1::Record* r, const v1::Coupon& e) { *r->mutable_coupon() = e; }
  static void SetEntity(v1::Record* r, const v1::LoyaltyAccount& e) {
    *r->mutable_loyalty_account() = e;
  }
  static void SetEntity(v1::Record* r, const v1::Store& e) { *r->mutable_store() = e; }

  v1::PushRequest request_;
  int64_t seq_ = 0;
  int64_t now_ms_;
};

void AddCrmRecords(SeedBatch* b, int64_t now_ms) {
  struct Owner {
    const char* user;
    const char* prefix;
  };
  for (Owner o : {Owner{"u-alice", "alice"}, Owner{"u-bob", "bob"}}) {
    std::string p = o.prefix;
    v1::Account acc;
    acc.set_id("acc-" + p + "-1");
    acc.set_name(p == "alice" ? "Boulangerie Martin" : "Garage Dupont");
    acc.set_industry(p == "alice" ? "food" : "automotive");
    acc.set_phone(p == "alice" ? "+33 1 42 00 00 01" : "+33 4 72 00 00 02");
    acc.set_owner_user_id(o.user);
    acc.set_team_id("team-north");
    acc.set_visibility(v1::VISIBILITY_TEAM);
    acc.add_tags("demo");
    b->Create(v1::ENTITY_TYPE_ACCOUNT, acc);

    v1::Contact c;
    c.set_id("con-" + p + "-1");
    c.set_account_id(acc.id());
    c.set_first_name(p == "alice" ? "Claire" : "Marc");
    c.set_last_name(p == "alice" ? "Martin" : "Dupont");
    c.set_email(p == "alice" ? "claire@martin.example" : "marc@dupont.example");
    c.set_phone(p == "alice" ? "+33 6 00 00 00 01" : "+33 6 00 00 00 02");
    c.set_owner_user_id(o.user);
    c.set_team_id("team-north");
    c.set_visibility(v1::VISIBILITY_PRIVATE);
    b->Create(v1::ENTITY_TYPE_CONTACT, c);

    for (int i = 1; i <= 3; ++i) {
      v1::Lead l;
      l.set_id("lead-" + p + "-" + std::to_string(i));
      l.set_first_name(i == 1 ? "Jeanne" : i == 2 ? "Paul" : "Sophie");
      l.set_last_name(p == "alice" ? "Leroy" : "Moreau");
      l.set_company(i == 1 ? "Café du Port" : i == 2 ? "Fleurs & Co" : "Atelier Bleu");
      l.set_email("lead" + std::to_string(i) + "@" + p + ".example");
      l.set_status(i == 3 ? v1::LEAD_STATUS_CONTACTED : v1::LEAD_STATUS_NEW);
      l.set_source(v1::CHANNEL_WEB);
      l.set_rating(i + 1);
      l.set_owner_user_id(o.user);
      l.set_team_id("team-north");
      l.set_visibility(v1::VISIBILITY_PRIVATE);
      b->Create(v1::ENTITY_TYPE_LEAD, l);
    }

    v1::Opportunity opp;
    opp.set_id("opp-" + p + "-1");
    opp.set_account_id(acc.id());
    opp.set_name(p == "alice" ? "Oven replacement" : "Fleet maintenance");
    opp.set_stage(v1::OPPORTUNITY_STAGE_PROPOSAL);
    opp.mutable_amount()->set_currency_code("EUR");
    opp.mutable_amount()->set_amount_minor(p == "alice" ? 1250000 : 3400000);
    opp.set_probability(40);
    opp.set_owner_user_id(o.user);
    opp.set_team_id("team-north");
    opp.set_visibility(v1::VISIBILITY_TEAM);
    b->Create(v1::ENTITY_TYPE_OPPORTUNITY, opp);

    v1::CalendarEvent ev;
    ev.set_id("cal-" + p + "-1");
    ev.set_title("Visit " + acc.name());
    ev.mutable_starts_at()->set_seconds(now_ms / 1000 + 24 * 3600);
    ev.mutable_ends_at()->set_seconds(now_ms / 1000 + 25 * 3600);
    ev.add_attendee_ids(o.user);
    ev.add_attendee_ids(c.id());
    ev.set_owner_user_id(o.user);
    ev.set_team_id("team-north");
    ev.set_visibility(v1::VISIBILITY_PRIVATE);
    ev.set_status(v1::EVENT_STATUS_CONFIRMED);
    b->Create(v1::ENTITY_TYPE_CALENDAR_EVENT, ev);
  }
}

void AddLoyaltyRecords(SeedBatch* b, int64_t now_ms) {
  v1::Store paris;
  paris.set_id("store-paris");
  paris.set_name("Paris Rivoli");
  paris.mutable_location()->set_latitude(48.8606);
  paris.mutable_location()->set_longitude(2.3376);
  paris.set_time_zone("Europe/Paris");
  b->Create(v1::ENTITY_TYPE_STORE, paris);
  v1::Store lyon;
  lyon.set_id("store-lyon");
  lyon.set_name("Lyon Bellecour");
  lyon.mutable_location()->set_latitude(45.7578);
  lyon.mutable_location()->set_longitude(4.8320);
  lyon.set_time_zone("Europe/Paris");
  b->Create(v1::ENTITY_TYPE_STORE, lyon);

  v1::Coupon once;
  once.set_id("coupon-welcome");
  once.set_campaign_id("campaign-winter");
  once.set_code("WELCOME10");
  once.set_title("10 % off, once");
  once.set_percent_off_bp(1000);
  once.mutable_valid_from()->set_seconds(now_ms / 1000 - 3600);
  once.mutable_valid_until()->set_seconds(now_ms / 1000 + 30 * 24 * 3600);
  once.mutable_geofence()->mutable_circle()->mutable_center()->set_latitude(48.8566);
  once.mutable_geofence()->mutable_circle()->mutable_center()->set_longitude(2.3522);
  once.mutable_geofence()->mutable_circle()->set_radius_m(5000);
  once.add_store_ids("store-paris");
  once.set_max_redemptions_total(1);
  once.set_active(true);
  b->Create(v1::ENTITY_TYPE_COUPON, once);

  // Valid inside a 2 km circle around the Louvre: every store in it (here
  // store-paris) gets it, with no store named.
  v1::Coupon nearby;
  nearby.set_id("coupon-louvre-area");
  nearby.set_campaign_id("campaign-winter");
  nearby.set_code("LOUVRE50");
  nearby.set_title("50 bonus points near the Louvre");
  nearby.set_bonus_points(50);
  nearby.mutable_valid_from()->set_seconds(now_ms / 1000 - 3600);
  nearby.mutable_valid_until()->set_seconds(now_ms / 1000 + 30 * 24 * 3600);
  nearby.mutable_geofence()->mutable_circle()->mutable_center()->set_latitude(48.8606);
  nearby.mutable_geofence()->mutable_circle()->mutable_center()->set_longitude(2.3376);
  nearby.mutable_geofence()->mutable_circle()->set_radius_m(2000);
  nearby.set_active(true);
  b->Create(v1::ENTITY_TYPE_COUPON, nearby);

  v1::LoyaltyAccount card;
  card.set_id("loyalty-0001");
  card.set_card_number("4000-0001");
  card.set_customer_name("Lucie Bernard");
  card.set_points_balance(120);
  card.set_home_store_id("store-paris");
  card.set_tier("silver");
  b->Create(v1::ENTITY_TYPE_LOYALTY_ACCOUNT, card);
}

}  // namespace

std::string DemoTenantSlug(int number) {
  return number <= 1 ? std::string(kDemoTenantSlug)
                     : std::string(kDemoTenantSlug) + "-" + std::to_string(number);
}

absl::Status EnsureDemoTenant(Store* store, PushHandler* push, Clock* clock, int number) {
  const std::string slug = DemoTenantSlug(number);
  const std::string tenant_id = "t-" + slug;
  auto existing = store->directory().GetTenantBySlug(slug);
  if (!existing.ok()) return existing.status();
  if (*existing) {
    spdlog::info("demo tenant '{}' already present", slug);
    return absl::OkStatus();
  }
  const int64_t now_ms = clock->NowMs();
  const std::string display =
      number <= 1 ? std::string("Demo company") : "Demo company " + std::to_string(number);
  if (auto s = store->directory().PutTenant({tenant_id, slug, display}); !s.ok()) return s;
  v1::Team team;
  team.set_id("team-north");
  team.set_name("North");
  team.set_manager_user_id("u-maria");
  if (auto s = store->directory().PutTeam(tenant_id, team); !s.ok()) return s;
  for (const v1::User& u :
       {MakeUser("u-admin", "admin", "Ada Admin", v1::ROLE_ADMIN, "", ""),
        MakeUser("u-maria", "maria", "Maria Manager", v1::ROLE_SALES_MANAGER, "team-north", ""),
        MakeUser("u-alice", "alice", "Alice Rep", v1::ROLE_SALES_REP, "team-north", ""),
        MakeUser("u-bob", "bob", "Bob Rep", v1::ROLE_SALES_REP, "team-north", ""),
        MakeUser("u-till-paris", "till-paris", "Till Paris Rivoli", v1::ROLE_STORE_TERMINAL, "",
                 "store-paris")}) {
    UserRow row{tenant_id, u, ""};
    if (auto s = store->directory().PutUser(row); !s.ok()) return s;
  }
  DeviceRow seed;
  seed.tenant_id = tenant_id;
  seed.device.set_id(kSeedDevice);
  seed.device.set_user_id("u-admin");
  seed.device.set_status(v1::DEVICE_STATUS_ACTIVE);
  seed.device.set_platform("server");
  if (auto s = store->directory().PutDevice(seed); !s.ok()) return s;

  SeedBatch batch(now_ms);
  AddCrmRecords(&batch, now_ms);
  AddLoyaltyRecords(&batch, now_ms);
  batch.request().mutable_client()->set_protocol_version(kMaxProtocolVersion);

  Principal admin;
  admin.tenant_id = tenant_id;
  admin.user_id = "u-admin";
  admin.role = v1::ROLE_ADMIN;
  admin.device_id = kSeedDevice;
  v1::PushResponse response;
  if (auto s = push->Push(admin, batch.request(), &response); !s.ok()) return s;
  int applied = 0;
  for (const auto& r : response.results()) {
    if (r.outcome() == v1::MUTATION_OUTCOME_APPLIED) {
      ++applied;
    } else {
      return absl::InternalError("demo seed mutation " + std::to_string(r.client_seq()) +
                                 " not applied: " + r.message());
    }
  }
  spdlog::info("created demo tenant '{}': 5 users, 1 team, {} records", slug, applied);
  return absl::OkStatus();
}

}  // namespace crmsync::server
