#include "api_seeds.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "crmsync/sync/change.h"
#include "crmsync/sync/record_model.h"
#include "fuzz_input.h"

namespace crmsync::fuzz {
namespace {

namespace v1 = ::crmsync::v1;

constexpr int64_t kNowMs = 1'800'000'000'000;

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Bytes of a FuzzedDataProvider script: arbitrary, but fixed.
std::string Script(uint8_t first, uint32_t seed, size_t n) {
  std::mt19937 rng(seed);
  std::string out(1, static_cast<char>(first));
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(rng() & 0xff));
  return out;
}

// ---- fuzz_push_batch (principals: 0 admin, 1 maria, 2 alice, 3 alice's
// second device, 4 bob, 5 carol, 6 the Paris till; versions as seeded by
// server_world.cc: acc-alice-1 1, lead-alice-1 3, lead-alice-2 4,
// coupon-welcome 17, loyalty-0001 19, opp-alice-1 20, its amount conflict
// cf-0af714b422f21235; CRMSYNC_FUZZ_VERBOSE=1 fuzz_push_batch lists them).

v1::Mutation Base(v1::EntityType type, const std::string& id, v1::Operation op,
                  int64_t base_version, const std::string& device, const std::string& user) {
  v1::Mutation m;
  m.mutable_record()->set_entity_type(type);
  m.mutable_record()->set_id(id);
  m.set_operation(op);
  m.set_base_version(base_version);
  m.mutable_hlc()->set_wall_time_ms(kNowMs - 60'000);
  m.mutable_hlc()->set_node_id(device);
  m.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
  m.mutable_provenance()->set_precision(v1::PRECISION_REPORTED);
  m.mutable_provenance()->set_author_user_id(user);
  m.mutable_provenance()->set_device_id(device);
  return m;
}

std::string Push(int principal, uint8_t flags, std::vector<v1::Mutation> mutations) {
  v1::PushRequest req;
  req.mutable_client()->set_protocol_version(1);
  int64_t seq = 0;
  for (auto& m : mutations) {
    m.set_client_seq(++seq);
    *req.add_mutations() = std::move(m);
  }
  std::string out(1, static_cast<char>((principal << 1) | flags));
  return out + StableBytes(req);
}

void PushBatchSeeds(const std::string& dir) {
  const uint8_t kFlags = kPushForceVersion | kPushRenumber;
  {  // Alice edits her lead and creates one, then retries the batch.
    v1::Mutation edit =
        Base(v1::ENTITY_TYPE_LEAD, "lead-alice-1", v1::OPERATION_UPSERT, 3, "dev-alice", "u-alice");
    edit.mutable_values()->mutable_lead()->set_phone("+33 6 12 34 56 78");
    edit.mutable_values()->mutable_lead()->set_notes("call back on Monday");
    edit.mutable_update_mask()->add_paths("phone");
    edit.mutable_update_mask()->add_paths("notes");
    edit.mutable_base_values()->mutable_lead()->set_first_name("Jeanne");
    v1::Mutation create =
        Base(v1::ENTITY_TYPE_LEAD, "lead-new-1", v1::OPERATION_UPSERT, 0, "dev-alice", "u-alice");
    v1::Lead* lead = create.mutable_values()->mutable_lead();
    lead->set_id("lead-new-1");
    lead->set_first_name("Nina");
    lead->set_company("Fleurs & Co");
    lead->set_owner_user_id("u-alice");
    lead->set_team_id("team-north");
    lead->set_visibility(v1::VISIBILITY_TEAM);
    for (const char* f :
         {"id", "first_name", "company", "owner_user_id", "team_id", "visibility"}) {
      create.mutable_update_mask()->add_paths(f);
    }
    v1::Mutation tag =
        Base(v1::ENTITY_TYPE_LEAD, "lead-new-1", v1::OPERATION_SET_ADD, 0, "dev-alice", "u-alice");
    tag.mutable_values()->mutable_lead()->add_tags("hot");
    tag.mutable_update_mask()->add_paths("tags");
    Write(dir + "/alice-edit-create-retry.bin", Push(2, kFlags | kPushRetry, {edit, create, tag}));
  }
  {  // Bob edits Alice's team-visible account and deletes one of his leads.
    v1::Mutation name =
        Base(v1::ENTITY_TYPE_ACCOUNT, "acc-alice-1", v1::OPERATION_UPSERT, 1, "dev-bob", "u-bob");
    name.mutable_values()->mutable_account()->set_name("Boulangerie Martin & Fils");
    name.mutable_update_mask()->add_paths("name");
    name.mutable_base_values()->mutable_account()->set_name("Boulangerie Martin");
    v1::Mutation del =
        Base(v1::ENTITY_TYPE_LEAD, "lead-bob-2", v1::OPERATION_DELETE, 11, "dev-bob", "u-bob");
    Write(dir + "/bob-account-delete.bin", Push(4, kFlags, {name, del}));
  }
  {  // The till redeems the coupon and credits, then over-debits, points.
    v1::Mutation redeem = Base(v1::ENTITY_TYPE_REDEMPTION, "red-1", v1::OPERATION_REDEEM, 0,
                               "dev-till", "u-till-paris");
    v1::Redemption* r = redeem.mutable_values()->mutable_redemption();
    r->set_id("red-1");
    r->set_coupon_id("coupon-welcome");
    r->set_store_id("store-paris");
    r->set_device_id("dev-till");
    r->set_loyalty_account_id("loyalty-0001");
    r->mutable_redeemed_at()->set_seconds(kNowMs / 1000);
    r->mutable_position()->set_latitude(48.8606);
    r->mutable_position()->set_longitude(2.3376);
    for (const char* f : {"id", "coupon_id", "store_id", "device_id", "loyalty_account_id",
                          "redeemed_at", "position"}) {
      redeem.mutable_update_mask()->add_paths(f);
    }
    v1::Mutation credit = Base(v1::ENTITY_TYPE_LOYALTY_ACCOUNT, "loyalty-0001",
                               v1::OPERATION_INCREMENT, 19, "dev-till", "u-till-paris");
    credit.mutable_values()->mutable_loyalty_account()->set_points_balance(25);
    credit.mutable_update_mask()->add_paths("points_balance");
    v1::Mutation debit = credit;
    debit.mutable_values()->mutable_loyalty_account()->set_points_balance(-500);
    Write(dir + "/till-redeem-points.bin", Push(6, kFlags | kPushRetry, {redeem, credit, debit}));
  }
  {  // The manager moves Alice's lead to Bob; Alice edits it offline.
    v1::Mutation move =
        Base(v1::ENTITY_TYPE_LEAD, "lead-alice-2", v1::OPERATION_UPSERT, 4, "dev-maria", "u-maria");
    move.mutable_values()->mutable_lead()->set_owner_user_id("u-bob");
    move.mutable_update_mask()->add_paths("owner_user_id");
    Write(dir + "/manager-reassigns.bin", Push(1, kFlags, {move}));
    v1::Mutation late = Base(v1::ENTITY_TYPE_LEAD, "lead-alice-2", v1::OPERATION_UPSERT, 4,
                             "dev-alice-2", "u-alice");
    late.mutable_values()->mutable_lead()->set_notes("visited");
    late.mutable_update_mask()->add_paths("notes");
    Write(dir + "/alice-late-edit.bin", Push(3, kFlags, {late}));
  }
  {  // Carol (team south) tries to edit Alice's private lead.
    v1::Mutation edit =
        Base(v1::ENTITY_TYPE_LEAD, "lead-alice-1", v1::OPERATION_UPSERT, 3, "dev-carol", "u-carol");
    edit.mutable_values()->mutable_lead()->set_first_name("X");
    edit.mutable_update_mask()->add_paths("first_name");
    Write(dir + "/carol-out-of-scope.bin", Push(5, kFlags, {edit}));
  }
  {  // The admin settles the amount conflict and changes the coupon.
    v1::Mutation resolve = Base(v1::ENTITY_TYPE_OPPORTUNITY, "opp-alice-1",
                                v1::OPERATION_RESOLVE_CONFLICT, 20, "dev-admin", "u-admin");
    resolve.set_conflict_id("cf-0af714b422f21235");
    resolve.mutable_values()->mutable_opportunity()->mutable_amount()->set_amount_minor(2000001);
    resolve.mutable_update_mask()->add_paths("amount.amount_minor");
    v1::Mutation coupon = Base(v1::ENTITY_TYPE_COUPON, "coupon-welcome", v1::OPERATION_UPSERT, 17,
                               "dev-admin", "u-admin");
    coupon.mutable_values()->mutable_coupon()->set_max_redemptions_total(2);
    coupon.mutable_update_mask()->add_paths("max_redemptions_total");
    Write(dir + "/admin-resolve-coupon.bin", Push(0, kFlags, {resolve, coupon}));
  }
  for (uint32_t i = 0; i < 4; ++i) {
    Write(dir + "/script-" + std::to_string(i) + ".bin", Script(1 + 2 * i, 100 + i, 160 + 60 * i));
  }
}

// ---- fuzz_pull_apply (records of its client store: lead-1 .. lead-3,
// acc-1, opp-1, cal-1, loyalty-1, coupon-1 at versions 1-8; pending edits
// on lead-1, lead-2, lead-3, lead-local, loyalty-1 and opp-1).

v1::RecordState Server(const v1::Record& data, int64_t version, const std::string& device) {
  v1::RecordState s;
  s.mutable_ref()->set_entity_type(sync::EntityTypeOf(data));
  const auto* e = sync::EntityOf(data);
  s.mutable_ref()->set_id(
      e->GetReflection()->GetString(*e, e->GetDescriptor()->FindFieldByName("id")));
  *s.mutable_data() = data;
  s.set_version(version);
  s.set_created_version(1);
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  e->GetReflection()->ListFields(*e, &fields);
  for (const auto* f : fields) {
    v1::FieldState& fs = (*s.mutable_fields())[f->name()];
    fs.set_version(version);
    fs.mutable_hlc()->set_wall_time_ms(kNowMs);
    fs.mutable_hlc()->set_node_id(device);
    fs.mutable_provenance()->set_device_id(device);
  }
  *s.mutable_scope() = sync::ScopeKeysOf(data);
  s.mutable_hlc()->set_wall_time_ms(kNowMs);
  return s;
}

v1::Record Lead(const std::string& id, const std::string& name, const std::string& notes) {
  v1::Record r;
  r.mutable_lead()->set_id(id);
  r.mutable_lead()->set_first_name(name);
  r.mutable_lead()->set_notes(notes);
  r.mutable_lead()->set_owner_user_id("u-alice");
  r.mutable_lead()->set_team_id("team-north");
  return r;
}

v1::Change Notice(v1::EntityType type, const std::string& id, v1::ChangeKind kind,
                  int64_t version) {
  v1::Change c;
  c.set_seq(version);
  c.set_version(version);
  c.set_kind(kind);
  c.mutable_record()->set_entity_type(type);
  c.mutable_record()->set_id(id);
  return c;
}

std::string Page(uint8_t flags, const std::vector<v1::Change>& changes, int64_t cursor,
                 bool has_more) {
  v1::PullResponse page;
  for (const auto& c : changes) *page.add_changes() = c;
  page.set_next_cursor("c1." + std::to_string(cursor));
  page.set_has_more(has_more);
  page.mutable_server_hlc()->set_wall_time_ms(kNowMs);
  return std::string(1, static_cast<char>(flags)) + StableBytes(page);
}

void PullApplySeeds(const std::string& dir) {
  {  // Deltas, a tombstone and a left-scope notice, applied twice.
    v1::Change delta = sync::BuildChange(
        Server(Lead("lead-1", "Jeanne", "second visit booked"), 20, "dev-bob"), 8, false);
    delta.clear_fields();
    (*delta.mutable_fields())["notes"].set_version(20);
    delta.clear_changed_fields();
    delta.mutable_changed_fields()->add_paths("notes");
    Write(dir + "/delta-tombstone-left.bin",
          Page(kPullTwice,
               {delta, Notice(v1::ENTITY_TYPE_LEAD, "lead-3", v1::CHANGE_KIND_TOMBSTONE, 21),
                Notice(v1::ENTITY_TYPE_ACCOUNT, "acc-1", v1::CHANGE_KIND_LEFT_SCOPE, 22)},
               22, false));
  }
  {  // A new record and the erasure of one with pending edits.
    v1::Change created = sync::BuildChange(
        Server(Lead("lead-new", "Hugo", "from the web form"), 23, "dev-bob"), 0, true);
    Write(dir + "/new-and-erased.bin",
          Page(0,
               {created, Notice(v1::ENTITY_TYPE_LEAD, "lead-1", v1::CHANGE_KIND_ERASED, 24),
                Notice(v1::ENTITY_TYPE_LOYALTY_ACCOUNT, "loyalty-1", v1::CHANGE_KIND_ERASED, 25)},
               25, true));
  }
  {  // A re-bootstrap that sees only two records again.
    v1::Record opp;
    opp.mutable_opportunity()->set_id("opp-1");
    opp.mutable_opportunity()->set_name("Oven replacement");
    opp.mutable_opportunity()->mutable_amount()->set_currency_code("EUR");
    opp.mutable_opportunity()->mutable_amount()->set_amount_minor(1400000);
    opp.mutable_opportunity()->set_owner_user_id("u-alice");
    Write(dir + "/rebootstrap.bin",
          Page(kPullBeginReset | kPullFinishReset,
               {sync::BuildChange(Server(Lead("lead-2", "Paul", ""), 30, "dev-bob"), 0, true),
                sync::BuildChange(Server(opp, 31, "dev-alice"), 0, true)},
               31, false));
  }
  for (uint32_t i = 0; i < 4; ++i) {
    Write(dir + "/script-" + std::to_string(i) + ".bin", Script(1 + 2 * i, 200 + i, 160 + 60 * i));
  }
}

// ---- fuzz_token

void TokenSeeds(const std::string& dir) {
  auto text = [&](const std::string& name, TokenPart part, const std::string& body) {
    Write(dir + "/" + name + ".bin", std::string(1, static_cast<char>(part)) + body);
  };
  // A token of the right shape (header {"alg":"EdDSA","kid":"x","typ":"JWT"}).
  text("raw-token", kTokenRaw,
       "eyJhbGciOiJFZERTQSIsImtpZCI6IngiLCJ0eXAiOiJKV1QifQ.eyJ0ZW4iOiJ0LWRlbW8iLCJzdWIiOiJ1LWFs"
       "aWNlIn0.c2lnbmF0dXJl");
  text("bearer", kTokenRaw, "Bearer a.b.c");
  text("cursor", kTokenCursor, "c1.42");
  text("cursor-paging", kTokenCursor, "c1.42.7");
  text("base64", kTokenBase64, "SGVsbG8td29ybGQ_");
  text("api-key", kTokenApiKey, "crmk.abc.def");
  text("refresh", kTokenRefresh, "rt.abcdef");
  for (uint32_t i = 0; i < 3; ++i) {
    Write(dir + "/signed-" + std::to_string(i) + ".bin", Script(kTokenSigned + 6 * i, 300 + i, 64));
    Write(dir + "/api-key-edit-" + std::to_string(i) + ".bin",
          Script(kTokenApiKey + 6 * i, 400 + i, 48));
    Write(dir + "/refresh-edit-" + std::to_string(i) + ".bin",
          Script(kTokenRefresh + 6 * i, 500 + i, 48));
  }
}

}  // namespace

void WriteApiSeeds(const std::string& corpus_dir) {
  for (const char* sub : {"push_batch", "pull_apply", "token"}) {
    std::filesystem::create_directories(corpus_dir + "/" + sub);
  }
  PushBatchSeeds(corpus_dir + "/push_batch");
  PullApplySeeds(corpus_dir + "/pull_apply");
  TokenSeeds(corpus_dir + "/token");
}

}  // namespace crmsync::fuzz
