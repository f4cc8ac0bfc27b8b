// Integrations (ROLE_INTEGRATION) on both stores: the grant an admin gives
// one, the tenant-wide scope it reads, what it may write, and the channel
// and precision the server stamps on its writes, which the provenance
// policy then weighs against the sales force's edits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "admin_fixture.h"

namespace crmsync::server::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

v1::ChannelGrant Grant(v1::Channel channel, v1::Precision precision) {
  v1::ChannelGrant g;
  g.set_channel(channel);
  g.set_precision(precision);
  return g;
}

class IntegrationTest : public AdminHandlerTest {
 protected:
  void SetUp() override {
    AdminHandlerTest::SetUp();
    if (HasFatalFailure()) return;
    DeviceRow row;
    row.tenant_id = kTenant;
    row.device.set_id("dev-callcenter");
    row.device.set_user_id("callcenter");
    row.device.set_status(v1::DEVICE_STATUS_ACTIVE);
    ASSERT_TRUE(store_->directory().PutDevice(row).ok());
  }

  // The call centre's system: writes as the call centre (self-reported) or
  // as web forms (reported); leads and contacts only unless `types` says.
  Principal CallCenter(const std::vector<v1::EntityType>& types = {v1::ENTITY_TYPE_LEAD,
                                                                   v1::ENTITY_TYPE_CONTACT}) const {
    Principal p;
    p.tenant_id = kTenant;
    p.user_id = "callcenter";
    p.role = v1::ROLE_INTEGRATION;
    p.device_id = "dev-callcenter";
    *p.integration.add_channels() = Grant(v1::CHANNEL_CALL_CENTER, v1::PRECISION_SELF_REPORTED);
    *p.integration.add_channels() = Grant(v1::CHANNEL_WEB, v1::PRECISION_REPORTED);
    for (v1::EntityType t : types) p.integration.add_entity_types(t);
    return p;
  }

  v1::RecordState Stored(const std::string& id) {
    v1::RecordRef ref;
    ref.set_entity_type(v1::ENTITY_TYPE_LEAD);
    ref.set_id(id);
    auto found = store_->changes().GetRecord(kTenant, ref);
    EXPECT_TRUE(found.ok() && *found) << id;
    return found.ok() && *found ? **found : v1::RecordState{};
  }

  absl::Status CreateUser(const v1::User& user, const std::string& password = "") {
    v1::CreateUserRequest req;
    *req.mutable_user() = user;
    req.set_password(password);
    v1::CreateUserResponse resp;
    return admin_->CreateUser(Admin(), AdminContext{"test"}, req, &resp);
  }

  // `m` (made by a fixture Device, which names the field app) naming
  // `channel` instead; none: the grant's first.
  static v1::Mutation Via(v1::Mutation m, v1::Channel channel = v1::CHANNEL_UNSPECIFIED) {
    m.mutable_provenance()->set_channel(channel);
    return m;
  }

  Device integration_device_{"dev-callcenter", "callcenter"};
  Device alice_{"dev-alice", "alice"};
};

TEST_P(IntegrationTest, ReadsEveryRecordOfItsTypesWhoeverOwnsIt) {
  Device bob("dev-bob", "bob");
  Device carol("dev-carol", "carol");
  PushOk(Rep("alice", "dev-alice"),
         {alice_.Create(LeadRecord("l-alice", "alice", "Ann", "+33 1 00 00 00 01"), kStartMs)});
  PushOk(Rep("carol", "dev-carol"),
         {carol.Create(LeadRecord("l-carol", "carol", "Cid", "+33 1 00 00 00 02"), kStartMs)});
  v1::Record account;
  account.mutable_account()->set_id("acc-bob");
  account.mutable_account()->set_name("Bob's customer");
  account.mutable_account()->set_owner_user_id("bob");
  PushOk(Rep("bob", "dev-bob"), {bob.Create(account, kStartMs)});

  // Across teams and owners, private records too: the whole tenant, but
  // only the granted types.
  std::string cursor;
  std::set<std::string> ids;
  for (const v1::Change& c : PullAll(CallCenter(), &cursor, /*page_size=*/1)) {
    ids.insert(c.record().id());
  }
  EXPECT_EQ(ids, (std::set<std::string>{"l-alice", "l-carol"}));
  EXPECT_EQ(ReadableIds(CallCenter()), ids);

  // With no types named, every record of the tenant.
  cursor.clear();
  ids.clear();
  for (const v1::Change& c : PullAll(CallCenter({}), &cursor)) ids.insert(c.record().id());
  EXPECT_TRUE(ids.count("acc-bob") && ids.count("l-alice") && ids.count("l-carol"))
      << ::testing::PrintToString(ids);

  // A later change reaches its cursor, once.
  v1::Record phone;
  phone.mutable_lead()->set_phone("+33 1 00 00 00 09");
  PushOk(Rep("carol", "dev-carol"),
         {carol.Update(Stored("l-carol"), phone, {"phone"}, kStartMs + 1000)});
  std::vector<v1::Change> more = PullAll(CallCenter({}), &cursor);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].record().id(), "l-carol");
  EXPECT_TRUE(PullAll(CallCenter({}), &cursor).empty());
}

TEST_P(IntegrationTest, WritesCarryTheGrantedChannelAndPrecisionWhateverTheySay) {
  v1::Mutation m = integration_device_.Create(
      LeadRecord("l-web", "alice", "Wendy", "+33 1 00 00 00 03"), kStartMs);
  // It claims more than it was granted: verified, by someone else.
  m = Via(m);
  m.mutable_provenance()->set_precision(v1::PRECISION_VERIFIED);
  m.mutable_provenance()->set_author_user_id("alice");
  m.mutable_provenance()->set_device_id("dev-alice");
  v1::MutationResult r = PushOk(CallCenter(), {m}).results(0);
  ASSERT_EQ(r.outcome(), v1::MUTATION_OUTCOME_APPLIED) << r.message();
  const v1::RecordState web_lead = Stored("l-web");
  const v1::Provenance& p = web_lead.fields().at("phone").provenance();
  EXPECT_EQ(p.channel(), v1::CHANNEL_CALL_CENTER) << "the first grant, as none was named";
  EXPECT_EQ(p.precision(), v1::PRECISION_SELF_REPORTED);
  EXPECT_EQ(p.author_user_id(), "callcenter");
  EXPECT_EQ(p.device_id(), "dev-callcenter");

  // Naming a granted channel takes that grant's precision.
  v1::Record first;
  first.mutable_lead()->set_first_name("Wendy-Ann");
  v1::Mutation web =
      integration_device_.Update(Stored("l-web"), first, {"first_name"}, kStartMs + 10);
  web.mutable_provenance()->set_channel(v1::CHANNEL_WEB);
  ASSERT_EQ(PushOk(CallCenter(), {web}).results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(Stored("l-web").fields().at("first_name").provenance().precision(),
            v1::PRECISION_REPORTED);
  EXPECT_EQ(Stored("l-web").fields().at("first_name").provenance().channel(), v1::CHANNEL_WEB);

  // A channel it was not granted is refused, naming what it has; a retry
  // of the same mutation gets the same answer.
  v1::Record last;
  last.mutable_lead()->set_last_name("Social");
  v1::Mutation social =
      integration_device_.Update(Stored("l-web"), last, {"last_name"}, kStartMs + 20);
  social.mutable_provenance()->set_channel(v1::CHANNEL_SOCIAL);
  for (int attempt = 0; attempt < 2; ++attempt) {
    v1::MutationResult refused = PushOk(CallCenter(), {social}).results(0);
    EXPECT_EQ(refused.outcome(), v1::MUTATION_OUTCOME_REJECTED);
    EXPECT_EQ(refused.reject_reason(), v1::REJECT_REASON_PERMISSION_DENIED);
    EXPECT_THAT(refused.message(), HasSubstr("may not write through social"));
    EXPECT_THAT(refused.message(), HasSubstr("call_center=self_reported,web=reported"));
  }
  EXPECT_TRUE(Stored("l-web").data().lead().last_name().empty());
}

TEST_P(IntegrationTest, ProvenanceWeighsItsWritesAgainstTheSalesForce) {
  // Alice verified the phone number in person.
  v1::Mutation create =
      alice_.Create(LeadRecord("l-1", "alice", "Ann", "+33 1 00 00 00 01"), kStartMs);
  create.mutable_provenance()->set_precision(v1::PRECISION_VERIFIED);
  PushOk(Rep("alice", "dev-alice"), {create});
  // An enrichment service infers another number, later; and a web form
  // brings the e-mail address Alice had only heard from a colleague.
  v1::Mutation email_edit;
  {
    v1::Record email;
    email.mutable_lead()->set_email("ann@colleague.example");
    email_edit = alice_.Update(Stored("l-1"), email, {"email"}, kStartMs + 10);
    PushOk(Rep("alice", "dev-alice"), {email_edit});
  }
  Principal enrichment = CallCenter();
  enrichment.integration.clear_channels();
  *enrichment.integration.add_channels() = Grant(v1::CHANNEL_IMPORT, v1::PRECISION_INFERRED);
  v1::Record guessed;
  guessed.mutable_lead()->set_phone("+33 9 99 99 99 99");
  // An integration's blind upsert (base version 0) races every field.
  v1::Mutation guess = integration_device_.Create(guessed, kStartMs + 100);
  guess.mutable_record()->set_id("l-1");
  guess.mutable_update_mask()->Clear();
  guess.mutable_update_mask()->add_paths("phone");
  v1::MutationResult kept = PushOk(enrichment, {Via(guess)}).results(0);
  EXPECT_THAT(kept.server_kept_fields(), UnorderedElementsAre("phone")) << kept.DebugString();
  EXPECT_EQ(Stored("l-1").data().lead().phone(), "+33 1 00 00 00 01") << "verified beats inferred";

  v1::Record stated;
  stated.mutable_lead()->set_email("ann@her-own.example");
  v1::Mutation form = integration_device_.Create(stated, kStartMs + 200);
  form.mutable_record()->set_id("l-1");
  form.mutable_update_mask()->Clear();
  form.mutable_update_mask()->add_paths("email");
  v1::MutationResult taken = PushOk(CallCenter(), {Via(form)}).results(0);
  EXPECT_NE(taken.outcome(), v1::MUTATION_OUTCOME_REJECTED) << taken.message();
  EXPECT_EQ(Stored("l-1").data().lead().email(), "ann@her-own.example")
      << "what the customer said on the phone beats hearsay";
  EXPECT_EQ(Stored("l-1").fields().at("email").provenance().channel(), v1::CHANNEL_CALL_CENTER);
}

TEST_P(IntegrationTest, WritesOnlyCustomerDataOfItsTypes) {
  Principal leads_only = CallCenter({v1::ENTITY_TYPE_LEAD});
  v1::Record contact;
  contact.mutable_contact()->set_id("c-1");
  contact.mutable_contact()->set_last_name("Dupont");
  contact.mutable_contact()->set_owner_user_id("alice");
  v1::MutationResult r =
      PushOk(leads_only, {Via(integration_device_.Create(contact, kStartMs))}).results(0);
  EXPECT_EQ(r.reject_reason(), v1::REJECT_REASON_PERMISSION_DENIED) << "not a granted type";
  EXPECT_THAT(r.message(), Not(HasSubstr("write through"))) << "refused for its type";

  // Retail data is the tills' and the server's, even with every type.
  v1::Record coupon;
  coupon.mutable_coupon()->set_id("cp-1");
  coupon.mutable_coupon()->set_code("SPRING");
  coupon.mutable_coupon()->add_store_ids("store-1");
  r = PushOk(CallCenter({}), {Via(integration_device_.Create(coupon, kStartMs + 1))}).results(0);
  EXPECT_EQ(r.reject_reason(), v1::REJECT_REASON_PERMISSION_DENIED) << r.message();
  EXPECT_THAT(r.message(), Not(HasSubstr("write through")));

  // Merging and settling conflicts are for people.
  PushOk(Rep("alice", "dev-alice"),
         {alice_.Create(LeadRecord("l-a", "alice", "Ann", "+33 1 00 00 00 01"), kStartMs),
          alice_.Create(LeadRecord("l-b", "alice", "Ann", "+33 1 00 00 00 01"), kStartMs)});
  v1::Mutation merge = integration_device_.Delete(Stored("l-a"), kStartMs + 2);
  merge.set_operation(v1::OPERATION_MERGE);
  merge.mutable_merge()->set_merged_record_id("l-b");
  r = PushOk(CallCenter(), {Via(merge)}).results(0);
  EXPECT_EQ(r.reject_reason(), v1::REJECT_REASON_PERMISSION_DENIED);
  EXPECT_THAT(r.message(), HasSubstr("for people"));
  EXPECT_FALSE(Stored("l-b").deleted());

  // A create for any owner is fine: integrations bring new customers in.
  r = PushOk(leads_only,
             {Via(integration_device_.Create(LeadRecord("l-new", "bob", "Neo", ""), kStartMs + 3))})
          .results(0);
  EXPECT_EQ(r.outcome(), v1::MUTATION_OUTCOME_APPLIED) << r.message();
}

TEST_P(IntegrationTest, AdminsGrantChannelsAndTypesThatMakeSense) {
  v1::User user;
  user.set_username("warehouse");
  user.set_role(v1::ROLE_INTEGRATION);
  absl::Status s = CreateUser(user);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("at least one channel"));

  *user.mutable_integration()->add_channels() = Grant(v1::CHANNEL_SYSTEM, v1::PRECISION_VERIFIED);
  EXPECT_THAT(CreateUser(user).message(), HasSubstr("cannot be granted"));
  user.mutable_integration()->clear_channels();
  *user.mutable_integration()->add_channels() =
      Grant(v1::CHANNEL_IMPORT, v1::PRECISION_UNSPECIFIED);
  EXPECT_THAT(CreateUser(user).message(), HasSubstr("needs a precision"));
  user.mutable_integration()->clear_channels();
  *user.mutable_integration()->add_channels() = Grant(v1::CHANNEL_IMPORT, v1::PRECISION_REPORTED);
  *user.mutable_integration()->add_channels() = Grant(v1::CHANNEL_IMPORT, v1::PRECISION_INFERRED);
  EXPECT_THAT(CreateUser(user).message(), HasSubstr("granted twice"));
  user.mutable_integration()->mutable_channels()->RemoveLast();
  user.mutable_integration()->add_entity_types(static_cast<v1::EntityType>(999));
  EXPECT_THAT(CreateUser(user).message(), HasSubstr("unknown entity type"));
  user.mutable_integration()->clear_entity_types();
  EXPECT_EQ(CreateUser(user, "a-long-enough-password").code(), absl::StatusCode::kInvalidArgument)
      << "integrations sign in with API keys only";

  v1::User rep = user;
  rep.set_username("rep-with-grant");
  rep.set_role(v1::ROLE_SALES_REP);
  EXPECT_THAT(CreateUser(rep).message(), HasSubstr("role integration only"));

  ASSERT_TRUE(CreateUser(user).ok());
  auto stored = store_->directory().GetUserByName(kTenant, "warehouse");
  ASSERT_TRUE(stored.ok() && *stored);
  EXPECT_EQ((*stored)->user.integration().channels(0).precision(), v1::PRECISION_REPORTED);
  EXPECT_TRUE((*stored)->password_hash.empty());

  // Changing its role away drops the grant with it.
  v1::UpdateUserRequest update;
  update.mutable_user()->set_id((*stored)->user.id());
  update.mutable_user()->set_role(v1::ROLE_SALES_REP);
  update.mutable_update_mask()->add_paths("role");
  v1::UpdateUserResponse updated;
  ASSERT_TRUE(admin_->UpdateUser(Admin(), AdminContext{"test"}, update, &updated).ok());
  EXPECT_FALSE(updated.user().has_integration());
}

INSTANTIATE_TEST_SUITE_P(Stores, IntegrationTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace crmsync::server::testing
