// Named merge scenarios: two or more reps edit the same record offline and
// sync later. Each test states the story in its name and first comment.
#include <gtest/gtest.h>

#include "sync_test_support.h"

namespace crmsync::sync {
namespace {

using testing::TestDevice;
using testing::TestServer;

constexpr int64_t kT = 1'700'000'000'000;

v1::Record LeadRecord() {
  v1::Record r;
  v1::Lead* l = r.mutable_lead();
  l->set_first_name("Ada");
  l->set_last_name("Lovelace");
  l->set_company("Analytical Engines");
  l->set_email("ada@example.com");
  l->set_phone("+44 1");
  l->set_status(v1::LEAD_STATUS_NEW);
  l->set_owner_user_id("rep-a");
  l->set_team_id("team-1");
  l->set_territory("north");
  l->add_tags("vip");
  return r;
}

// Seeds the server with lead "L1" created by an import at version 1 and lets
// both devices pull it.
struct Fixture {
  explicit Fixture(PolicyTable p = PolicyTable::Defaults()) : server(std::move(p)) {
    TestDevice importer("importer", v1::PRECISION_INFERRED);
    server.Push(importer.Create("L1", LeadRecord(), kT - 100'000));
  }
  TestServer server;
  TestDevice a{"dev-a"};
  TestDevice b{"dev-b"};
  void PullBoth() {
    a.Pull(server, "L1");
    b.Pull(server, "L1");
  }
  const v1::Lead& lead() const { return server.Get("L1").data().lead(); }
};

TEST(MergeTest, CreateIsAppliedWithMetadata) {
  TestServer server;
  TestDevice dev("dev-a");
  MergeResult r = server.Push(dev.Create("L1", LeadRecord(), kT));
  EXPECT_EQ(r.outcome, v1::MUTATION_OUTCOME_APPLIED);
  ASSERT_TRUE(r.changed);
  const v1::RecordState& s = server.Get("L1");
  EXPECT_EQ(s.version(), 1);
  EXPECT_EQ(s.created_version(), 1);
  EXPECT_FALSE(s.deleted());
  EXPECT_EQ(s.data().lead().id(), "L1");
  EXPECT_EQ(s.data().lead().phone(), "+44 1");
  EXPECT_EQ(s.scope().owner_user_id(), "rep-a");
  EXPECT_EQ(s.scope().team_id(), "team-1");
  EXPECT_EQ(s.scope().territory(), "north");
  ASSERT_TRUE(s.fields().count("phone"));
  EXPECT_EQ(s.fields().at("phone").version(), 1);
  EXPECT_EQ(s.fields().at("phone").provenance().device_id(), "dev-a");
  EXPECT_EQ(s.hlc().node_id(), "dev-a");
  // Tags are a set: the element carries the create's dot.
  ASSERT_EQ(s.fields().at("tags").set_elements_size(), 1);
  EXPECT_EQ(s.fields().at("tags").set_elements(0).key(), "vip");
}

TEST(MergeTest, DifferentFieldsEditedOfflineBothKept) {
  // Rep A changes the phone offline, rep B changes the e-mail offline.
  Fixture f;
  f.PullBoth();
  v1::Mutation ma = f.a.Edit([](v1::Record* r) { r->mutable_lead()->set_phone("+44 2"); }, kT);
  v1::Mutation mb =
      f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_email("ada@new.example"); }, kT);
  EXPECT_EQ(f.server.Push(ma).outcome, v1::MUTATION_OUTCOME_APPLIED);
  MergeResult rb = f.server.Push(mb);
  EXPECT_EQ(rb.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_TRUE(rb.conflicts.empty());
  EXPECT_EQ(f.lead().phone(), "+44 2");
  EXPECT_EQ(f.lead().email(), "ada@new.example");
  EXPECT_EQ(f.server.Get("L1").version(), 3);
}

TEST(MergeTest, SameFieldSameValueIsNoConflict) {
  // Both reps correct the same typo the same way.
  Fixture f;
  f.PullBoth();
  v1::Mutation ma = f.a.Edit([](v1::Record* r) { r->mutable_lead()->set_company("AE Ltd"); }, kT);
  v1::Mutation mb = f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_company("AE Ltd"); }, kT);
  f.server.Push(ma);
  MergeResult rb = f.server.Push(mb);
  EXPECT_EQ(rb.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_FALSE(rb.changed);
  EXPECT_TRUE(rb.conflicts.empty());
  EXPECT_TRUE(rb.server_kept_fields.empty());
  EXPECT_EQ(f.server.Get("L1").version(), 2);
}

TEST(MergeTest, SettingCurrentValueChangesNothing) {
  Fixture f;
  f.PullBoth();
  v1::Mutation m = f.a.Op(v1::OPERATION_UPSERT, {"phone"}, f.a.replica().data(), kT);
  MergeResult r = f.server.Push(m);
  EXPECT_EQ(r.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_FALSE(r.changed);
  EXPECT_TRUE(r.changed_fields.empty());
  EXPECT_EQ(r.new_state.version(), 1);
  EXPECT_EQ(f.server.next_version(), 2);
}

TEST(MergeTest, LwwLaterClockWinsWhenItArrivesFirst) {
  // B edits the notes later than A but syncs first; A's older edit loses.
  Fixture f;
  f.PullBoth();
  v1::Mutation ma =
      f.a.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("from A"); }, kT - 5000);
  v1::Mutation mb =
      f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("from B"); }, kT - 1000);
  EXPECT_EQ(f.server.Push(mb).outcome, v1::MUTATION_OUTCOME_APPLIED);
  MergeResult ra = f.server.Push(ma);
  EXPECT_EQ(ra.outcome, v1::MUTATION_OUTCOME_MERGED);
  EXPECT_EQ(ra.server_kept_fields, std::vector<std::string>{"notes"});
  EXPECT_EQ(f.lead().notes(), "from B");
  ASSERT_EQ(ra.conflicts.size(), 1u);
  const v1::Conflict& c = ra.conflicts[0];
  EXPECT_TRUE(c.auto_resolved());
  EXPECT_EQ(c.status(), v1::CONFLICT_STATUS_RESOLVED);
  EXPECT_EQ(c.policy(), v1::CONFLICT_POLICY_LWW);
  EXPECT_EQ(c.client_value().lead().notes(), "from A");
  EXPECT_EQ(c.server_value().lead().notes(), "from B");
  EXPECT_EQ(c.resolved_value().lead().notes(), "from B");
  EXPECT_EQ(c.server_provenance().device_id(), "dev-b");
}

TEST(MergeTest, LwwLaterClockWinsWhenItArrivesSecond) {
  Fixture f;
  f.PullBoth();
  v1::Mutation ma =
      f.a.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("from A"); }, kT - 5000);
  v1::Mutation mb =
      f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("from B"); }, kT - 1000);
  f.server.Push(ma);
  MergeResult rb = f.server.Push(mb);
  EXPECT_EQ(rb.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(f.lead().notes(), "from B");
  ASSERT_EQ(rb.conflicts.size(), 1u);
  EXPECT_TRUE(rb.conflicts[0].auto_resolved());
  EXPECT_EQ(rb.conflicts[0].resolved_value().lead().notes(), "from B");
}

TEST(MergeTest, LwwSameMillisecondTieBrokenByNodeId) {
  Fixture f;
  f.PullBoth();
  v1::Mutation ma = f.a.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("A"); }, kT);
  v1::Mutation mb = f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("B"); }, kT);
  ASSERT_EQ(ma.hlc().wall_time_ms(), mb.hlc().wall_time_ms());
  ASSERT_EQ(ma.hlc().logical(), mb.hlc().logical());
  f.server.Push(mb);
  f.server.Push(ma);
  EXPECT_EQ(f.lead().notes(), "B");  // "dev-b" > "dev-a"
}

TEST(MergeTest, FutureClockIsClampedAndCannotWinForever) {
  // Device A's clock is a year ahead. Its edit is clamped to server time +
  // 60 s, so an edit made two minutes later by B still wins.
  Fixture f;
  f.PullBoth();
  const int64_t year = 365LL * 24 * 3600 * 1000;
  v1::Mutation ma =
      f.a.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("future"); }, kT + year);
  f.server.physical_ms = kT;
  f.server.Push(ma);
  EXPECT_EQ(f.server.Get("L1").fields().at("notes").hlc().wall_time_ms(), kT + 60'000);
  f.server.physical_ms = kT + 120'000;
  v1::Mutation mb =
      f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("now"); }, kT + 120'000);
  MergeResult rb = f.server.Push(mb);
  EXPECT_EQ(rb.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(f.lead().notes(), "now");
}

TEST(MergeTest, FutureClockWithinSkewIsNotClamped) {
  Fixture f;
  f.PullBoth();
  v1::Mutation ma = f.a.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("x"); }, kT + 30'000);
  f.server.physical_ms = kT;
  f.server.Push(ma);
  EXPECT_EQ(f.server.Get("L1").fields().at("notes").hlc().wall_time_ms(), kT + 30'000);
}

TEST(MergeTest, ServerWinsKeepsRedemptionStatus) {
  TestServer server;
  TestDevice terminal("till-1");
  v1::Record r;
  r.mutable_redemption()->set_coupon_id("C1");
  r.mutable_redemption()->set_store_id("S1");
  r.mutable_redemption()->set_device_id("till-1");
  r.mutable_redemption()->set_status(v1::REDEMPTION_STATUS_PENDING);
  server.Push(terminal.Create("R1", r, kT));
  terminal.Pull(server, "R1");
  // The server accepts it...
  TestDevice system("server");
  system.Pull(server, "R1");
  server.Push(system.Edit(
      [](v1::Record* x) { x->mutable_redemption()->set_status(v1::REDEMPTION_STATUS_ACCEPTED); },
      kT + 10));
  // ...while the terminal, offline, marks it rejected.
  MergeResult rt = server.Push(terminal.Edit(
      [](v1::Record* x) { x->mutable_redemption()->set_status(v1::REDEMPTION_STATUS_REJECTED); },
      kT + 50));
  EXPECT_EQ(rt.outcome, v1::MUTATION_OUTCOME_MERGED);
  EXPECT_EQ(server.Get("R1").data().redemption().status(), v1::REDEMPTION_STATUS_ACCEPTED);
  ASSERT_EQ(rt.conflicts.size(), 1u);
  EXPECT_EQ(rt.conflicts[0].policy(), v1::CONFLICT_POLICY_SERVER_WINS);
  EXPECT_EQ(server.Get("R1").scope().store_ids(0), "S1");
  EXPECT_EQ(server.Get("R1").scope().device_id(), "till-1");
}

TEST(MergeTest, ClientWinsOverwritesEvenWithOlderClock) {
  PolicyTable p = PolicyTable::Defaults();
  ASSERT_TRUE(p.Set(v1::ENTITY_TYPE_LEAD, "notes", v1::CONFLICT_POLICY_CLIENT_WINS).ok());
  Fixture f(p);
  f.PullBoth();
  v1::Mutation ma =
      f.a.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("old A"); }, kT - 9000);
  v1::Mutation mb = f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("new B"); }, kT);
  f.server.Push(mb);
  MergeResult ra = f.server.Push(ma);
  EXPECT_EQ(ra.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(f.lead().notes(), "old A");
  ASSERT_EQ(ra.conflicts.size(), 1u);
  EXPECT_TRUE(ra.conflicts[0].auto_resolved());
}

TEST(MergeTest, ProvenanceVerifiedPhoneBeatsLaterInferredPhone) {
  // A call-centre agent verifies the phone; later an enrichment feed infers
  // another one. The verified number stays.
  Fixture f;
  f.PullBoth();
  f.a.set_precision(v1::PRECISION_VERIFIED);
  f.b.set_precision(v1::PRECISION_INFERRED);
  v1::Mutation ma =
      f.a.Edit([](v1::Record* r) { r->mutable_lead()->set_phone("+44 verified"); }, kT - 5000);
  v1::Mutation mb =
      f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_phone("+44 guessed"); }, kT);
  f.server.Push(ma);
  MergeResult rb = f.server.Push(mb);
  EXPECT_EQ(rb.outcome, v1::MUTATION_OUTCOME_MERGED);
  EXPECT_EQ(f.lead().phone(), "+44 verified");
  ASSERT_EQ(rb.conflicts.size(), 1u);
  EXPECT_EQ(rb.conflicts[0].policy(), v1::CONFLICT_POLICY_PROVENANCE);
  EXPECT_EQ(rb.conflicts[0].server_provenance().precision(), v1::PRECISION_VERIFIED);
}

TEST(MergeTest, ProvenanceEqualPrecisionFallsBackToLww) {
  Fixture f;
  f.PullBoth();
  v1::Mutation ma =
      f.a.Edit([](v1::Record* r) { r->mutable_lead()->set_phone("+44 A"); }, kT - 5000);
  v1::Mutation mb = f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_phone("+44 B"); }, kT);
  f.server.Push(mb);
  EXPECT_EQ(f.server.Push(ma).outcome, v1::MUTATION_OUTCOME_MERGED);
  EXPECT_EQ(f.lead().phone(), "+44 B");
}

v1::Record Opportunity() {
  v1::Record r;
  v1::Opportunity* o = r.mutable_opportunity();
  o->set_name("Big deal");
  o->set_stage(v1::OPPORTUNITY_STAGE_PROPOSAL);
  o->mutable_amount()->set_currency_code("EUR");
  o->mutable_amount()->set_amount_minor(100'000);
  o->set_owner_user_id("rep-a");
  return r;
}

TEST(MergeTest, FieldLeftUnsetByCreateThenSetBeforeSyncIsNoConflict) {
  // A rep creates a deal offline without a stage or notes, then sets both
  // before the device syncs: the create and the edit reach the server
  // together, the edit from base version 0. Nobody else wrote those fields,
  // so the edit is applied without any conflict (stage is a manual field).
  TestServer server;
  TestDevice a("dev-a");
  v1::Record deal = Opportunity();
  deal.mutable_opportunity()->clear_stage();
  const v1::Mutation create = a.Create("O1", deal, kT - 10'000);
  const v1::Mutation edit = a.Edit(
      [](v1::Record* r) {
        r->mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_CLOSED_WON);
        r->mutable_opportunity()->set_notes("signed");
      },
      kT);
  ASSERT_EQ(edit.base_version(), 0);
  EXPECT_EQ(server.Push(create).outcome, v1::MUTATION_OUTCOME_APPLIED);
  MergeResult r = server.Push(edit);
  EXPECT_EQ(r.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_TRUE(r.conflicts.empty());
  EXPECT_EQ(server.Get("O1").data().opportunity().stage(), v1::OPPORTUNITY_STAGE_CLOSED_WON);
  EXPECT_EQ(server.Get("O1").data().opportunity().notes(), "signed");
}

TEST(MergeTest, FieldLeftUnsetByCreateThenSetByAnotherDeviceStillConflicts) {
  // The same offline edit, but meanwhile a colleague who pulled the deal
  // set its stage: that is a real concurrent write, decided by the policy.
  TestServer server;
  TestDevice a("dev-a"), b("dev-b");
  v1::Record deal = Opportunity();
  deal.mutable_opportunity()->clear_stage();
  server.Push(a.Create("O1", deal, kT - 10'000));
  const v1::Mutation edit = a.Edit(
      [](v1::Record* r) { r->mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_CLOSED_WON); },
      kT - 5000);
  b.Pull(server, "O1");
  server.Push(b.Edit(
      [](v1::Record* r) { r->mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_CLOSED_LOST); },
      kT - 1000));
  MergeResult r = server.Push(edit);
  EXPECT_EQ(r.outcome, v1::MUTATION_OUTCOME_CONFLICT);
  EXPECT_EQ(server.Get("O1").data().opportunity().stage(), v1::OPPORTUNITY_STAGE_CLOSED_LOST);
}

TEST(MergeTest, ManualAmountConflictKeepsServerValueAndOpensOneConflict) {
  // Two reps change the deal amount offline; B also edits the next step.
  TestServer server;
  TestDevice a("dev-a"), b("dev-b");
  server.Push(a.Create("O1", Opportunity(), kT - 10'000));
  a.Pull(server, "O1");
  b.Pull(server, "O1");
  MergeResult ra = server.Push(a.Edit(
      [](v1::Record* r) { r->mutable_opportunity()->mutable_amount()->set_amount_minor(150'000); },
      kT - 5000));
  EXPECT_EQ(ra.outcome, v1::MUTATION_OUTCOME_APPLIED);
  MergeResult rb = server.Push(b.Edit(
      [](v1::Record* r) {
        r->mutable_opportunity()->mutable_amount()->set_amount_minor(90'000);
        r->mutable_opportunity()->set_next_step("call CFO");
      },
      kT));
  EXPECT_EQ(rb.outcome, v1::MUTATION_OUTCOME_CONFLICT);
  const v1::Opportunity& o = server.Get("O1").data().opportunity();
  EXPECT_EQ(o.amount().amount_minor(), 150'000);  // Server value kept.
  EXPECT_EQ(o.next_step(), "call CFO");           // Non-conflicting field applied.
  ASSERT_EQ(rb.conflicts.size(), 1u);
  const v1::Conflict& c = rb.conflicts[0];
  EXPECT_EQ(c.status(), v1::CONFLICT_STATUS_OPEN);
  EXPECT_FALSE(c.auto_resolved());
  EXPECT_EQ(c.field_path(), "amount.amount_minor");
  EXPECT_EQ(c.base_value().opportunity().amount().amount_minor(), 100'000);
  EXPECT_EQ(c.server_value().opportunity().amount().amount_minor(), 150'000);
  EXPECT_EQ(c.client_value().opportunity().amount().amount_minor(), 90'000);
  EXPECT_EQ(c.server_provenance().device_id(), "dev-a");
  EXPECT_EQ(c.client_provenance().device_id(), "dev-b");
  EXPECT_EQ(c.owner_user_id(), "rep-a");
  EXPECT_EQ(c.record().id(), "O1");
  EXPECT_EQ(c.detected_at_version(), 2);
  EXPECT_EQ(c.id().rfind("cf-", 0), 0u);
  EXPECT_EQ(rb.server_kept_fields, std::vector<std::string>{"amount.amount_minor"});
  v1::MutationResult mr = ToMutationResult(rb, v1::Mutation(), false);
  EXPECT_EQ(mr.conflict_ids_size(), 1);
}

TEST(MergeTest, ConflictIdIsDeterministicAcrossRetries) {
  TestServer server;
  TestDevice a("dev-a"), b("dev-b");
  server.Push(a.Create("O1", Opportunity(), kT - 10'000));
  a.Pull(server, "O1");
  b.Pull(server, "O1");
  server.Push(a.Edit(
      [](v1::Record* r) { r->mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_CLOSED_WON); },
      kT));
  v1::Mutation mb = b.Edit(
      [](v1::Record* r) { r->mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_CLOSED_LOST); },
      kT);
  MergeContext ctx;
  ctx.new_version = 10;
  ctx.physical_ms = kT;
  MergeResult r1 = Merge(&server.Get("O1"), mb, ctx);
  MergeResult r2 = Merge(&server.Get("O1"), mb, ctx);
  ASSERT_EQ(r1.conflicts.size(), 1u);
  ASSERT_EQ(r2.conflicts.size(), 1u);
  EXPECT_EQ(r1.conflicts[0].id(), r2.conflicts[0].id());
  EXPECT_EQ(r1.conflicts[0].SerializeAsString(), r2.conflicts[0].SerializeAsString());
  EXPECT_EQ(r1.conflicts[0].id(), ConflictId(mb, "stage"));
  EXPECT_NE(ConflictId(mb, "stage"), ConflictId(mb, "amount"));
}

TEST(MergeTest, ResolveConflictAppliesChosenValue) {
  TestServer server;
  TestDevice a("dev-a"), b("dev-b"), manager("dev-m");
  server.Push(a.Create("O1", Opportunity(), kT - 10'000));
  a.Pull(server, "O1");
  b.Pull(server, "O1");
  server.Push(a.Edit(
      [](v1::Record* r) { r->mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_CLOSED_WON); },
      kT));
  MergeResult rb = server.Push(b.Edit(
      [](v1::Record* r) { r->mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_CLOSED_LOST); },
      kT));
  ASSERT_EQ(rb.conflicts.size(), 1u);
  const std::string cid = rb.conflicts[0].id();
  manager.Pull(server, "O1");
  v1::Record chosen;
  chosen.mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_CLOSED_LOST);
  v1::Mutation resolve = manager.Op(v1::OPERATION_RESOLVE_CONFLICT, {"stage"}, chosen, kT + 1000);
  resolve.set_conflict_id(cid);
  MergeResult rr = server.Push(resolve, server.FindConflict(cid));
  EXPECT_EQ(rr.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_TRUE(rr.changed);
  EXPECT_EQ(server.Get("O1").data().opportunity().stage(), v1::OPPORTUNITY_STAGE_CLOSED_LOST);
  ASSERT_TRUE(rr.resolved_conflict.has_value());
  EXPECT_EQ(rr.resolved_conflict->status(), v1::CONFLICT_STATUS_RESOLVED);
  EXPECT_EQ(rr.resolved_conflict->resolved_by_user_id(), "user-dev-m");
  EXPECT_EQ(rr.resolved_conflict->resolved_value().opportunity().stage(),
            v1::OPPORTUNITY_STAGE_CLOSED_LOST);
  // Resolving again: the conflict is closed.
  resolve.set_client_seq(resolve.client_seq() + 1);
  MergeResult again = server.Push(resolve, server.FindConflict(cid));
  EXPECT_EQ(again.outcome, v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(again.reject_reason, v1::REJECT_REASON_CONFLICT_CLOSED);
}

TEST(MergeTest, DismissConflictKeepsServerValue) {
  TestServer server;
  TestDevice a("dev-a"), b("dev-b");
  server.Push(a.Create("O1", Opportunity(), kT - 10'000));
  a.Pull(server, "O1");
  b.Pull(server, "O1");
  server.Push(a.Edit(
      [](v1::Record* r) { r->mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_CLOSED_WON); },
      kT));
  MergeResult rb = server.Push(b.Edit(
      [](v1::Record* r) { r->mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_CLOSED_LOST); },
      kT));
  ASSERT_EQ(rb.conflicts.size(), 1u);
  v1::Mutation dismiss = a.Op(v1::OPERATION_RESOLVE_CONFLICT, {}, v1::Record(), kT + 1);
  dismiss.set_conflict_id(rb.conflicts[0].id());
  MergeResult rd = server.Push(dismiss, server.FindConflict(rb.conflicts[0].id()));
  EXPECT_EQ(rd.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_FALSE(rd.changed);
  ASSERT_TRUE(rd.resolved_conflict.has_value());
  EXPECT_EQ(rd.resolved_conflict->status(), v1::CONFLICT_STATUS_DISMISSED);
  EXPECT_EQ(server.Get("O1").data().opportunity().stage(), v1::OPPORTUNITY_STAGE_CLOSED_WON);
}

TEST(MergeTest, ResolveUnknownConflictRejected) {
  Fixture f;
  f.PullBoth();
  v1::Record chosen;
  chosen.mutable_lead()->set_notes("x");
  v1::Mutation m = f.a.Op(v1::OPERATION_RESOLVE_CONFLICT, {"notes"}, chosen, kT);
  m.set_conflict_id("cf-missing");
  MergeResult r = f.server.Push(m, nullptr);
  EXPECT_EQ(r.outcome, v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(r.reject_reason, v1::REJECT_REASON_CONFLICT_CLOSED);
}

v1::Record Loyalty(int64_t points) {
  v1::Record r;
  r.mutable_loyalty_account()->set_card_number("4242");
  r.mutable_loyalty_account()->set_points_balance(points);
  return r;
}

TEST(MergeTest, CounterOfflineCreditsFromTwoTillsBothCount) {
  // Two tills credit points offline from a balance of 100: +10 and +5.
  TestServer server;
  TestDevice t1("till-1"), t2("till-2");
  server.Push(t1.Create("LA1", Loyalty(100), kT - 1000));
  t1.Pull(server, "LA1");
  t2.Pull(server, "LA1");
  v1::Mutation m1 =
      t1.Edit([](v1::Record* r) { r->mutable_loyalty_account()->set_points_balance(110); }, kT);
  v1::Mutation m2 =
      t2.Edit([](v1::Record* r) { r->mutable_loyalty_account()->set_points_balance(105); }, kT);
  EXPECT_EQ(server.Push(m1).outcome, v1::MUTATION_OUTCOME_APPLIED);
  MergeResult r2 = server.Push(m2);
  EXPECT_EQ(r2.outcome, v1::MUTATION_OUTCOME_MERGED);
  EXPECT_EQ(r2.server_kept_fields, std::vector<std::string>{"points_balance"});
  EXPECT_TRUE(r2.conflicts.empty());
  EXPECT_EQ(server.Get("LA1").data().loyalty_account().points_balance(), 115);
}

TEST(MergeTest, CounterIncrementIsAppliedAsDelta) {
  TestServer server;
  TestDevice t1("till-1"), t2("till-2");
  server.Push(t1.Create("LA1", Loyalty(100), kT - 1000));
  t1.Pull(server, "LA1");
  t2.Pull(server, "LA1");
  v1::Record delta = Loyalty(-30);
  MergeResult r1 = server.Push(t1.Op(v1::OPERATION_INCREMENT, {"points_balance"}, delta, kT));
  MergeResult r2 = server.Push(t2.Op(v1::OPERATION_INCREMENT, {"points_balance"}, Loyalty(7), kT));
  EXPECT_EQ(r1.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(r2.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(server.Get("LA1").data().loyalty_account().points_balance(), 77);
}

TEST(MergeTest, CounterRedeliveredMutationCountedOnce) {
  TestServer server;
  TestDevice t1("till-1");
  server.Push(t1.Create("LA1", Loyalty(100), kT - 1000));
  t1.Pull(server, "LA1");
  v1::Mutation m = t1.Op(v1::OPERATION_INCREMENT, {"points_balance"}, Loyalty(25), kT);
  server.Push(m);
  MergeResult again = server.Push(m);
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(server.Get("LA1").data().loyalty_account().points_balance(), 125);
}

TEST(MergeTest, IncrementOfNonCounterFieldRejected) {
  Fixture f;
  f.PullBoth();
  v1::Record v;
  v.mutable_lead()->set_rating(1);
  MergeResult r = f.server.Push(f.a.Op(v1::OPERATION_INCREMENT, {"rating"}, v, kT));
  EXPECT_EQ(r.outcome, v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(r.reject_reason, v1::REJECT_REASON_VALIDATION);
  EXPECT_NE(r.message.find("rating"), std::string::npos);
}

TEST(MergeTest, SetTagsAddedOfflineByTwoRepsBothKept) {
  Fixture f;
  f.PullBoth();
  v1::Mutation ma = f.a.Edit([](v1::Record* r) { r->mutable_lead()->add_tags("hot"); }, kT);
  v1::Mutation mb = f.b.Edit([](v1::Record* r) { r->mutable_lead()->add_tags("expo-2024"); }, kT);
  f.server.Push(ma);
  MergeResult rb = f.server.Push(mb);
  EXPECT_EQ(rb.outcome, v1::MUTATION_OUTCOME_MERGED);  // B sent [vip, expo], got 3 tags.
  EXPECT_TRUE(rb.conflicts.empty());
  ASSERT_EQ(f.lead().tags_size(), 3);
  EXPECT_EQ(f.lead().tags(0), "expo-2024");
  EXPECT_EQ(f.lead().tags(1), "hot");
  EXPECT_EQ(f.lead().tags(2), "vip");
}

TEST(MergeTest, SetRemoveDoesNotDeleteAConcurrentAdd) {
  // A removes "vip" (the copy A saw); B, offline, tags it "vip" again by a
  // set-add. B's add was not observed by A, so "vip" stays.
  Fixture f;
  f.PullBoth();
  v1::Record vip;
  vip.mutable_lead()->add_tags("vip");
  v1::Mutation mb = f.b.Op(v1::OPERATION_SET_ADD, {"tags"}, vip, kT);
  v1::Mutation ma = f.a.Edit([](v1::Record* r) { r->mutable_lead()->clear_tags(); }, kT);
  f.server.Push(mb);
  MergeResult ra = f.server.Push(ma);
  EXPECT_EQ(ra.outcome, v1::MUTATION_OUTCOME_MERGED);
  ASSERT_EQ(f.lead().tags_size(), 1);
  EXPECT_EQ(f.lead().tags(0), "vip");
}

TEST(MergeTest, SetRemoveOfObservedElementRemovesIt) {
  Fixture f;
  f.PullBoth();
  v1::Record vip;
  vip.mutable_lead()->add_tags("vip");
  MergeResult r = f.server.Push(f.a.Op(v1::OPERATION_SET_REMOVE, {"tags"}, vip, kT));
  EXPECT_EQ(r.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(f.lead().tags_size(), 0);
  EXPECT_EQ(r.changed_fields, std::vector<std::string>{"tags"});
}

TEST(MergeTest, SetOperationOnNonSetFieldRejected) {
  PolicyTable p = PolicyTable::Defaults();
  ASSERT_TRUE(p.Set(v1::ENTITY_TYPE_LEAD, "tags", v1::CONFLICT_POLICY_LWW).ok());
  Fixture f(p);
  f.PullBoth();
  v1::Record v;
  v.mutable_lead()->add_tags("x");
  MergeResult r = f.server.Push(f.a.Op(v1::OPERATION_SET_ADD, {"tags"}, v, kT));
  EXPECT_EQ(r.reject_reason, v1::REJECT_REASON_VALIDATION);
}

TEST(MergeTest, RepeatedFieldUnderLwwIsReplacedWhole) {
  PolicyTable p = PolicyTable::Defaults();
  ASSERT_TRUE(p.Set(v1::ENTITY_TYPE_LEAD, "tags", v1::CONFLICT_POLICY_LWW).ok());
  Fixture f(p);
  f.PullBoth();
  f.server.Push(f.a.Edit([](v1::Record* r) { r->mutable_lead()->add_tags("a"); }, kT - 10));
  f.server.Push(f.b.Edit([](v1::Record* r) { r->mutable_lead()->add_tags("b"); }, kT));
  ASSERT_EQ(f.lead().tags_size(), 2);
  EXPECT_EQ(f.lead().tags(1), "b");
}

TEST(MergeTest, UniqueClaimFirstConversionWins) {
  // Two reps convert the same lead offline into different opportunities.
  Fixture f;
  f.PullBoth();
  v1::Mutation ma =
      f.a.Edit([](v1::Record* r) { r->mutable_lead()->set_converted_opportunity_id("O-A"); }, kT);
  v1::Mutation mb = f.b.Edit(
      [](v1::Record* r) {
        r->mutable_lead()->set_converted_opportunity_id("O-B");
        r->mutable_lead()->set_notes("converted by B");
      },
      kT + 10);
  EXPECT_EQ(f.server.Push(ma).outcome, v1::MUTATION_OUTCOME_APPLIED);
  MergeResult rb = f.server.Push(mb);
  EXPECT_EQ(rb.outcome, v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(rb.reject_reason, v1::REJECT_REASON_CLAIM_TAKEN);
  EXPECT_EQ(f.lead().converted_opportunity_id(), "O-A");
  EXPECT_NE(f.lead().notes(), "converted by B");  // Nothing of B applied.
  // The same claim again is fine (idempotent).
  EXPECT_EQ(f.server.Push(ma).outcome, v1::MUTATION_OUTCOME_APPLIED);
}

TEST(MergeTest, UpdateOfDeletedRecordRejectedByDefault) {
  // A deletes the lead; B, offline, edits it. The delete is kept and B is told.
  Fixture f;
  f.PullBoth();
  f.server.Push(f.a.Delete(kT));
  MergeResult rb =
      f.server.Push(f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("x"); }, kT));
  EXPECT_EQ(rb.outcome, v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(rb.reject_reason, v1::REJECT_REASON_RECORD_DELETED);
  EXPECT_NE(rb.message.find("deleted"), std::string::npos);
  EXPECT_TRUE(f.server.Get("L1").deleted());
  EXPECT_TRUE(rb.new_state.deleted());
}

TEST(MergeTest, UpdateOfDeletedRecordResurrectsUnderKeepUpdate) {
  PolicyTable p = PolicyTable::Defaults();
  p.set_delete_rule(DeleteRule::kKeepUpdate);
  Fixture f(p);
  f.PullBoth();
  f.server.Push(f.a.Delete(kT));
  MergeResult rb = f.server.Push(
      f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("still alive"); }, kT));
  EXPECT_EQ(rb.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_FALSE(f.server.Get("L1").deleted());
  EXPECT_EQ(f.lead().notes(), "still alive");
  EXPECT_EQ(f.lead().id(), "L1");
  EXPECT_EQ(f.server.Get("L1").version(), 3);
}

TEST(MergeTest, DeleteWinsOverConcurrentEditAndReportsLostFields) {
  Fixture f;
  f.PullBoth();
  f.server.Push(f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_phone("+44 9"); }, kT));
  MergeResult ra = f.server.Push(f.a.Delete(kT));
  EXPECT_EQ(ra.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_TRUE(ra.changed);
  EXPECT_EQ(ra.lost_fields, std::vector<std::string>{"phone"});
  EXPECT_NE(ra.message.find("phone"), std::string::npos);
  const v1::RecordState& s = f.server.Get("L1");
  EXPECT_TRUE(s.deleted());
  EXPECT_EQ(s.data().lead().id(), "L1");
  EXPECT_TRUE(s.data().lead().phone().empty());
  EXPECT_EQ(s.scope().owner_user_id(), "rep-a");  // Tombstone still routed.
}

TEST(MergeTest, DeleteNotAppliedOverConcurrentEditUnderKeepUpdate) {
  PolicyTable p = PolicyTable::Defaults();
  p.set_delete_rule(DeleteRule::kKeepUpdate);
  Fixture f(p);
  f.PullBoth();
  f.server.Push(f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_phone("+44 9"); }, kT));
  MergeResult ra = f.server.Push(f.a.Delete(kT));
  EXPECT_EQ(ra.outcome, v1::MUTATION_OUTCOME_MERGED);
  EXPECT_FALSE(ra.changed);
  EXPECT_FALSE(f.server.Get("L1").deleted());
  EXPECT_EQ(ra.server_kept_fields, std::vector<std::string>{"phone"});
}

TEST(MergeTest, DeleteOfDeletedRecordIsIdempotent) {
  Fixture f;
  f.PullBoth();
  f.server.Push(f.a.Delete(kT));
  MergeResult rb = f.server.Push(f.b.Delete(kT));
  EXPECT_EQ(rb.outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_FALSE(rb.changed);
  EXPECT_EQ(f.server.Get("L1").version(), 2);
}

TEST(MergeTest, ReSentDeleteOfARecordTheServerLacksLeavesATombstoneWithItsScope) {
  // After a restore: L2 was created and deleted after the backup. The
  // device that holds the delete re-sends it; the server keeps a tombstone
  // so that an older copy re-sent by another device does not bring it back.
  TestServer server;
  TestDevice holder("dev-a");
  TestDevice stale("dev-b");
  v1::Mutation create = stale.Create("L2", LeadRecord(), kT);  // the copy dev-b held
  v1::Mutation del = holder.Create("L2", LeadRecord(), kT);
  del = holder.Delete(kT + 5'000);
  del.set_recovered(false);
  EXPECT_EQ(server.Push(del).reject_reason, v1::REJECT_REASON_NOT_FOUND)
      << "only a re-sent delete may name a record the server never had";
  del.set_recovered(true);
  del.mutable_values()->mutable_lead()->set_owner_user_id("rep-a");
  del.mutable_values()->mutable_lead()->set_team_id("team-1");
  MergeResult r = server.Push(del);
  EXPECT_EQ(r.outcome, v1::MUTATION_OUTCOME_APPLIED);
  ASSERT_TRUE(server.Has("L2"));
  const v1::RecordState& tomb = server.Get("L2");
  EXPECT_TRUE(tomb.deleted());
  EXPECT_EQ(tomb.data().lead().id(), "L2");
  EXPECT_TRUE(tomb.data().lead().owner_user_id().empty()) << "a tombstone keeps only the id";
  EXPECT_EQ(tomb.scope().owner_user_id(), "rep-a");
  EXPECT_EQ(tomb.scope().team_id(), "team-1");
  EXPECT_EQ(tomb.hlc().wall_time_ms(), del.hlc().wall_time_ms());

  // The older copy, re-sent: the delete stands, quietly.
  create.set_recovered(true);
  MergeResult rc = server.Push(create);
  EXPECT_EQ(rc.outcome, v1::MUTATION_OUTCOME_MERGED) << rc.message;
  EXPECT_FALSE(rc.changed);
  EXPECT_TRUE(server.Get("L2").deleted());
  // Not re-sent (an ordinary late create): the delete rule decides.
  create.set_recovered(false);
  EXPECT_EQ(server.Push(create).reject_reason, v1::REJECT_REASON_RECORD_DELETED);
}

TEST(MergeTest, ReSentValuesAreOrderedByWhenTheyWereWrittenNotWhenReSent) {
  // After a restore, dev-b re-sends a stale note (written at kT) after
  // dev-a re-sent the later one (written at kT + 9s); both edit from the
  // restored version. The later write wins whatever the arrival order.
  Fixture f;
  f.PullBoth();
  v1::Mutation stale = f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("stale"); }, kT);
  v1::Mutation late =
      f.a.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("late"); }, kT + 9'000);
  stale.set_recovered(true);
  late.set_recovered(true);
  EXPECT_EQ(f.server.Push(late).outcome, v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(f.server.Push(stale).outcome, v1::MUTATION_OUTCOME_MERGED);
  EXPECT_EQ(f.lead().notes(), "late");
}

TEST(MergeTest, CreateOverExistingRecordIsUpdateFromVersionZero) {
  // The create is re-sent after the record was edited elsewhere: every
  // stored field counts as changed after base 0, so policies decide.
  Fixture f;
  f.PullBoth();
  f.server.Push(f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("B notes"); }, kT));
  TestDevice c("dev-c");
  v1::Record again = LeadRecord();
  again.mutable_lead()->set_notes("C notes");
  v1::Mutation create = c.Create("L1", again, kT - 50'000);
  MergeResult r = f.server.Push(create);
  EXPECT_EQ(r.outcome, v1::MUTATION_OUTCOME_MERGED);
  EXPECT_EQ(f.lead().notes(), "B notes");  // B's later clock wins (lww).
  EXPECT_EQ(f.lead().phone(), "+44 1");
}

TEST(MergeTest, UpdateOfMissingRecordNotFound) {
  TestServer server;
  TestDevice a("dev-a");
  v1::Mutation m = a.Create("L9", LeadRecord(), kT);
  m.set_base_version(4);
  MergeResult r = server.Push(m);
  EXPECT_EQ(r.reject_reason, v1::REJECT_REASON_NOT_FOUND);
}

TEST(MergeTest, InvalidMaskPathRejectedWithMessage) {
  Fixture f;
  f.PullBoth();
  v1::Mutation m = f.a.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("x"); }, kT);
  m.mutable_update_mask()->add_paths("fax");
  MergeResult r = f.server.Push(m);
  EXPECT_EQ(r.outcome, v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(r.reject_reason, v1::REJECT_REASON_VALIDATION);
  EXPECT_NE(r.message.find("fax"), std::string::npos);
  EXPECT_EQ(f.server.Get("L1").version(), 1);
}

v1::Record AccountRecord() {
  v1::Record r;
  r.mutable_account()->set_name("ACME");
  r.mutable_account()->mutable_billing_address()->set_city("Lyon");
  r.mutable_account()->mutable_billing_address()->set_street("1 rue A");
  r.mutable_account()->set_owner_user_id("rep-a");
  return r;
}

TEST(MergeTest, NestedFieldsEditedByDifferentRepsBothKept) {
  TestServer server;
  TestDevice a("dev-a"), b("dev-b");
  server.Push(a.Create("A1", AccountRecord(), kT - 1000));
  a.Pull(server, "A1");
  b.Pull(server, "A1");
  v1::Mutation ma = a.Edit(
      [](v1::Record* r) { r->mutable_account()->mutable_billing_address()->set_city("Paris"); },
      kT);
  v1::Mutation mb = b.Edit(
      [](v1::Record* r) { r->mutable_account()->mutable_billing_address()->set_street("2 rue B"); },
      kT);
  ASSERT_EQ(ma.update_mask().paths(0), "billing_address.city");
  server.Push(ma);
  EXPECT_EQ(server.Push(mb).outcome, v1::MUTATION_OUTCOME_APPLIED);
  const v1::Address& addr = server.Get("A1").data().account().billing_address();
  EXPECT_EQ(addr.city(), "Paris");
  EXPECT_EQ(addr.street(), "2 rue B");
}

TEST(MergeTest, PathNamingWholeNestedMessageReplacesIt) {
  TestServer server;
  TestDevice a("dev-a"), b("dev-b");
  server.Push(a.Create("A1", AccountRecord(), kT - 1000));
  b.Pull(server, "A1");
  v1::Record v;
  v.mutable_account()->mutable_billing_address()->set_city("Nice");
  MergeResult r = server.Push(b.Op(v1::OPERATION_UPSERT, {"billing_address"}, v, kT));
  EXPECT_EQ(r.outcome, v1::MUTATION_OUTCOME_APPLIED);
  const v1::Address& addr = server.Get("A1").data().account().billing_address();
  EXPECT_EQ(addr.city(), "Nice");
  EXPECT_EQ(addr.street(), "");
  // A later edit of the street against the old base conflicts with the
  // whole-address write (ancestor field state).
  a.Pull(server, "A1");
  EXPECT_EQ(server.Get("A1").fields().count("billing_address.city"), 0u);
}

TEST(MergeTest, NewVersionMustExceedStoredVersion) {
  Fixture f;
  f.PullBoth();
  MergeContext ctx;
  ctx.new_version = 1;  // == stored version: a caller bug.
  MergeResult r =
      Merge(&f.server.Get("L1"),
            f.a.Edit([](v1::Record* x) { x->mutable_lead()->set_notes("n"); }, kT), ctx);
  EXPECT_EQ(r.outcome, v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_NE(r.message.find("new_version"), std::string::npos);
}

TEST(MergeTest, ToMutationResultCarriesOutcomeAndRecord) {
  Fixture f;
  f.PullBoth();
  v1::Mutation ma = f.a.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("A"); }, kT - 10);
  v1::Mutation mb = f.b.Edit([](v1::Record* r) { r->mutable_lead()->set_notes("B"); }, kT);
  f.server.Push(mb);
  MergeResult ra = f.server.Push(ma);
  v1::MutationResult with_audit = ToMutationResult(ra, ma, true);
  v1::MutationResult without = ToMutationResult(ra, ma, false);
  EXPECT_EQ(with_audit.client_seq(), ma.client_seq());
  EXPECT_EQ(with_audit.outcome(), v1::MUTATION_OUTCOME_MERGED);
  EXPECT_EQ(with_audit.conflict_ids_size(), 1);
  EXPECT_EQ(without.conflict_ids_size(), 0);
  EXPECT_EQ(with_audit.record().version(), 2);
  EXPECT_EQ(with_audit.change_seq(), 0);
  v1::MutationResult no_record = ToMutationResult(ra, ma, true, /*include_record=*/false);
  EXPECT_FALSE(no_record.has_record());
  EXPECT_EQ(no_record.outcome(), v1::MUTATION_OUTCOME_MERGED);
  EXPECT_EQ(no_record.conflict_ids_size(), 1);
}

TEST(MergeTest, ConflictRecordStateIsScopedToOwner) {
  TestServer server;
  TestDevice a("dev-a"), b("dev-b");
  server.Push(a.Create("O1", Opportunity(), kT - 10'000));
  a.Pull(server, "O1");
  b.Pull(server, "O1");
  server.Push(a.Edit(
      [](v1::Record* r) { r->mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_CLOSED_WON); },
      kT));
  MergeResult rb = server.Push(b.Edit(
      [](v1::Record* r) { r->mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_CLOSED_LOST); },
      kT));
  ASSERT_EQ(rb.conflicts.size(), 1u);
  v1::RecordState cs = ConflictRecordState(rb.conflicts[0], 7, testing::Hlc(kT, 0, "srv"));
  EXPECT_EQ(cs.ref().entity_type(), v1::ENTITY_TYPE_CONFLICT);
  EXPECT_EQ(cs.ref().id(), rb.conflicts[0].id());
  EXPECT_EQ(cs.scope().owner_user_id(), "rep-a");
  EXPECT_EQ(cs.version(), 7);
  v1::Change ch = BuildChange(cs, 0, false);
  EXPECT_EQ(ch.values().conflict().field_path(), "stage");
}

}  // namespace
}  // namespace crmsync::sync
