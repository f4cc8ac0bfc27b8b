// Bulk import (AdminService.ImportRecords / GetImport) on both stores: rows
// land as the import's writes (channel, precision, author, device), go
// through validation, scope, merge policies and duplicate checks like a
// device's push, are applied once per import however often a batch is
// sent, and a rejected row never fails its batch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "admin_fixture.h"
#include "crmsync/sync/record_model.h"

namespace crmsync::server::testing {
namespace {

using ::testing::HasSubstr;

class ImportTest : public AdminHandlerTest {
 protected:
  static v1::ImportRow Row(int64_t row, const std::string& id, const v1::Record& values,
                           const std::vector<std::string>& paths) {
    v1::ImportRow r;
    r.set_row(row);
    r.mutable_record()->set_entity_type(sync::EntityTypeOf(values));
    r.mutable_record()->set_id(id);
    *r.mutable_values() = values;
    for (const std::string& p : paths) r.mutable_update_mask()->add_paths(p);
    return r;
  }

  // A lead row with the fields a CSV of leads would have.
  static v1::ImportRow LeadRow(int64_t row, const std::string& id, const std::string& owner,
                               const std::string& first, const std::string& email, int rating = 3) {
    v1::Record rec;
    v1::Lead* l = rec.mutable_lead();
    l->set_id(id);
    l->set_owner_user_id(owner);
    l->set_first_name(first);
    l->set_last_name("Imported");
    l->set_email(email);
    l->set_rating(rating);
    return Row(row, id, rec, {"owner_user_id", "first_name", "last_name", "email", "rating"});
  }

  static v1::ImportRecordsRequest Batch(const std::string& import_id,
                                        std::vector<v1::ImportRow> rows) {
    v1::ImportRecordsRequest req;
    req.set_import_id(import_id);
    for (auto& r : rows) *req.add_rows() = std::move(r);
    return req;
  }

  v1::ImportRecordsResponse ImportOk(const v1::ImportRecordsRequest& req) {
    v1::ImportRecordsResponse resp;
    const absl::Status s = admin_->ImportRecords(Admin(), AdminContext{"test"}, req, &resp);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(resp.results_size(), req.rows_size());
    return resp;
  }

  absl::StatusCode ImportCode(const Principal& who, const v1::ImportRecordsRequest& req) {
    v1::ImportRecordsResponse resp;
    return admin_->ImportRecords(who, AdminContext{"test"}, req, &resp).code();
  }

  int64_t LatestSeq() {
    auto seq = store_->changes().LatestSeq(kTenant);
    EXPECT_TRUE(seq.ok());
    return seq.ok() ? *seq : -1;
  }

  std::optional<v1::RecordState> Stored(const std::string& id) {
    v1::RecordRef ref;
    ref.set_entity_type(v1::ENTITY_TYPE_LEAD);
    ref.set_id(id);
    auto found = store_->changes().GetRecord(kTenant, ref);
    EXPECT_TRUE(found.ok());
    return found.ok() ? *found : std::nullopt;
  }
};

TEST_P(ImportTest, RowsLandAsTheImportsWritesAndRejectedRowsDoNotFailTheBatch) {
  v1::Record conflict;
  conflict.mutable_conflict()->set_id("cf-forged");
  v1::ImportRecordsRequest req =
      Batch("crm-2026", {LeadRow(1, "l-1", "alice", "Ana", "ana@acme.example"),
                         LeadRow(2, "l-2", "alice", "Bruno", "bruno@beta.example", /*rating=*/9),
                         Row(5, "cf-forged", conflict, {"id"}),
                         LeadRow(7, "l-3", "bob", "Carla", "carla@gamma.example")});
  req.set_channel(v1::CHANNEL_CALL_CENTER);
  req.set_precision(v1::PRECISION_SELF_REPORTED);
  const v1::ImportRecordsResponse resp = ImportOk(req);
  ASSERT_EQ(resp.results_size(), 4);
  EXPECT_EQ(resp.results(0).row(), 1);
  EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_GT(resp.results(0).change_seq(), 0);
  EXPECT_EQ(resp.results(1).outcome(), v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(resp.results(1).reject_reason(), v1::REJECT_REASON_VALIDATION);
  EXPECT_THAT(resp.results(1).message(), HasSubstr("rating"));
  EXPECT_EQ(resp.results(2).row(), 5);
  EXPECT_EQ(resp.results(2).reject_reason(), v1::REJECT_REASON_PERMISSION_DENIED);
  EXPECT_THAT(resp.results(2).message(), HasSubstr("only customer data"));
  EXPECT_EQ(resp.results(3).row(), 7);
  EXPECT_EQ(resp.results(3).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(resp.rows_through(), 7);

  auto l1 = Stored("l-1");
  ASSERT_TRUE(l1);
  const v1::Provenance& p = l1->fields().at("email").provenance();
  EXPECT_EQ(p.channel(), v1::CHANNEL_CALL_CENTER);
  EXPECT_EQ(p.precision(), v1::PRECISION_SELF_REPORTED);
  EXPECT_EQ(p.author_user_id(), "admin");
  EXPECT_EQ(p.device_id(), "import:crm-2026");
  EXPECT_FALSE(Stored("l-2")) << "a rejected row stores nothing";

  // The owners' devices receive them like any record of theirs.
  std::string cursor;
  std::set<std::string> alice_sees;
  for (const v1::Change& c : PullAll(Rep("alice", "dev-alice"), &cursor)) {
    alice_sees.insert(c.record().id());
  }
  EXPECT_TRUE(alice_sees.count("l-1"));
  EXPECT_FALSE(alice_sees.count("l-3")) << "Bob's lead";

  // Started once, audited once; the import is no user's device.
  v1::ListAuditEventsRequest audit_req;
  audit_req.set_action("import_started");
  v1::ListAuditEventsResponse audit;
  ASSERT_TRUE(admin_->ListAuditEvents(Admin(), audit_req, &audit).ok());
  ASSERT_EQ(audit.events_size(), 1);
  EXPECT_EQ(audit.events(0).target(), "import:crm-2026");
  v1::ListDevicesResponse devices;
  ASSERT_TRUE(admin_->ListDevices(Admin(), {}, &devices).ok());
  for (const auto& d : devices.devices()) EXPECT_NE(d.id(), "import:crm-2026");
}

TEST_P(ImportTest, ARetriedBatchChangesNothingAndGetImportSaysHowFarItGot) {
  v1::GetImportRequest get;
  get.set_import_id("leads");
  v1::GetImportResponse status;
  EXPECT_EQ(admin_->GetImport(Admin(), get, &status).code(), absl::StatusCode::kNotFound);

  const v1::ImportRecordsRequest first =
      Batch("leads", {LeadRow(1, "l-1", "alice", "Ana", "ana@acme.example"),
                      LeadRow(2, "l-2", "alice", "Bea", "bea@beta.example", /*rating=*/7),
                      LeadRow(3, "l-3", "alice", "Cid", "cid@gamma.example")});
  const v1::ImportRecordsResponse answered = ImportOk(first);
  const int64_t after_first = LatestSeq();
  clock_.Advance(1000);
  // The reply was lost; the same batch again: the same answers, no write.
  const v1::ImportRecordsResponse again = ImportOk(first);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(again.results(i).outcome(), answered.results(i).outcome()) << i;
    EXPECT_EQ(again.results(i).change_seq(), answered.results(i).change_seq()) << i;
    EXPECT_EQ(again.results(i).message(), answered.results(i).message()) << i;
  }
  EXPECT_EQ(LatestSeq(), after_first);
  ASSERT_TRUE(admin_->GetImport(Admin(), get, &status).ok());
  EXPECT_EQ(status.rows_through(), 3);
  EXPECT_EQ(status.started_by_user_id(), "admin");

  // The next batch settles the first; sending the first once more (a
  // confused client) still writes nothing.
  const v1::ImportRecordsRequest second =
      Batch("leads", {LeadRow(4, "l-4", "bob", "Dan", "dan@delta.example"),
                      LeadRow(5, "l-5", "bob", "Eve", "eve@epsilon.example")});
  const v1::ImportRecordsResponse second_answer = ImportOk(second);
  const int64_t after_second = LatestSeq();
  EXPECT_EQ(after_second, after_first + 2);
  const v1::ImportRecordsResponse settled = ImportOk(first);
  for (const auto& r : settled.results()) {
    EXPECT_EQ(r.reject_reason(), v1::REJECT_REASON_RESULT_PRUNED) << r.row();
    EXPECT_THAT(r.message(), HasSubstr("was loaded before"));
  }
  ImportOk(second);
  EXPECT_EQ(LatestSeq(), after_second);

  // Row 5 with other values under the same import is refused, not applied.
  v1::ImportRecordsRequest changed =
      Batch("leads", {LeadRow(5, "l-5", "bob", "Eva", "eve@epsilon.example")});
  const v1::ImportRecordsResponse refused = ImportOk(changed);
  EXPECT_EQ(refused.results(0).outcome(), v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_THAT(refused.results(0).message(), HasSubstr("new import_id"));
  EXPECT_EQ(Stored("l-5")->data().lead().first_name(), "Eve");
  EXPECT_EQ(LatestSeq(), after_second);

  ASSERT_TRUE(admin_->GetImport(Admin(), get, &status).ok());
  EXPECT_EQ(status.rows_through(), 5);
  EXPECT_EQ(second_answer.rows_through(), 5);
}

TEST_P(ImportTest, ImportedValuesMeetMergePoliciesAndDuplicateChecks) {
  // Alice checked this phone number in person.
  Device alice("dev-alice", "alice");
  v1::Mutation create =
      alice.Create(LeadRecord("l-1", "alice", "Ann", "+33 1 00 00 00 01"), kStartMs);
  create.mutable_provenance()->set_precision(v1::PRECISION_VERIFIED);
  PushOk(Rep("alice", "dev-alice"), {create});
  clock_.Advance(60'000);

  // A purchased list has another number for her, and a new lead with the
  // same number as Alice's.
  v1::Record listed;
  listed.mutable_lead()->set_id("l-1");
  listed.mutable_lead()->set_phone("+33 9 99 99 99 99");
  v1::Record twin = LeadRecord("l-twin", "bob", "Anne", "+33 1 00 00 00 01");
  const v1::ImportRecordsResponse resp =
      ImportOk(Batch("list", {Row(1, "l-1", listed, {"phone"}),
                              Row(2, "l-twin", twin, {"owner_user_id", "first_name", "phone"})}));
  EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_MERGED) << resp.DebugString();
  EXPECT_THAT(resp.results(0).message(), HasSubstr("phone"));
  EXPECT_EQ(Stored("l-1")->data().lead().phone(), "+33 1 00 00 00 01") << "verified beats reported";
  EXPECT_EQ(resp.results(1).outcome(), v1::MUTATION_OUTCOME_APPLIED);

  v1::ListDuplicatesResponse dups;
  ASSERT_TRUE(admin_->ListDuplicates(Admin(), {}, &dups).ok());
  EXPECT_EQ(dups.duplicates_size(), 2) << "flags on both records: " << dups.DebugString();
}

TEST_P(ImportTest, BadRequestsAreRefusedWholeAndStoreNothing) {
  const v1::ImportRow ok = LeadRow(1, "l-1", "alice", "Ana", "ana@acme.example");
  EXPECT_EQ(ImportCode(Rep("alice", "dev-alice"), Batch("x", {ok})),
            absl::StatusCode::kPermissionDenied);
  for (const std::string& id :
       {std::string(), std::string("has space"), std::string(65, 'a'), std::string("a/b")}) {
    EXPECT_EQ(ImportCode(Admin(), Batch(id, {ok})), absl::StatusCode::kInvalidArgument) << id;
  }
  v1::ImportRecordsRequest system = Batch("x", {ok});
  system.set_channel(v1::CHANNEL_SYSTEM);
  EXPECT_EQ(ImportCode(Admin(), system), absl::StatusCode::kInvalidArgument);
  v1::ImportRecordsRequest bad_precision = Batch("x", {ok});
  bad_precision.set_precision(static_cast<v1::Precision>(99));
  EXPECT_EQ(ImportCode(Admin(), bad_precision), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ImportCode(Admin(), Batch("x", {ok, ok})), absl::StatusCode::kInvalidArgument)
      << "rows must increase";
  EXPECT_EQ(ImportCode(Admin(), Batch("x", {LeadRow(0, "l-0", "alice", "Z", "z@z.example")})),
            absl::StatusCode::kInvalidArgument);
  std::vector<v1::ImportRow> many;
  for (int i = 1; i <= push_options_.max_batch + 1; ++i) {
    many.push_back(LeadRow(i, "l-" + std::to_string(i), "alice", "N", ""));
  }
  EXPECT_EQ(ImportCode(Admin(), Batch("x", many)), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(Stored("l-1"));
  v1::GetImportRequest get;
  get.set_import_id("x");
  v1::GetImportResponse status;
  EXPECT_EQ(admin_->GetImport(Admin(), get, &status).code(), absl::StatusCode::kNotFound)
      << "no batch was taken: the import has not started";
  EXPECT_FALSE(Stored("l-2"));

  // An import id whose device name a user's device already has.
  DeviceRow taken;
  taken.tenant_id = kTenant;
  taken.device.set_id("import:taken");
  taken.device.set_user_id("alice");
  taken.device.set_status(v1::DEVICE_STATUS_ACTIVE);
  ASSERT_TRUE(store_->directory().PutDevice(taken).ok());
  EXPECT_EQ(ImportCode(Admin(), Batch("taken", {ok})), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(Stored("l-1"));
}

TEST_P(ImportTest, ABatchThatFollowsRowsTheImportDoesNotHoldWaitsForThemOrIsRefused) {
  const v1::ImportRecordsRequest first =
      Batch("leads", {LeadRow(1, "l-1", "alice", "Ana", "ana@acme.example"),
                      LeadRow(2, "l-2", "alice", "Bea", "bea@beta.example"),
                      LeadRow(3, "l-3", "alice", "Cid", "cid@gamma.example")});
  v1::ImportRecordsRequest second =
      Batch("leads", {LeadRow(4, "l-4", "bob", "Dan", "dan@delta.example"),
                      LeadRow(5, "l-5", "bob", "Eve", "eve@epsilon.example")});
  second.set_follows_row(3);
  // Nothing of the import is being applied: refused at once, nothing stored.
  v1::ImportRecordsResponse resp;
  absl::Status s = admin_->ImportRecords(Admin(), AdminContext{"test"}, second, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("follows row 3"));
  EXPECT_THAT(s.message(), HasSubstr("has not started"));
  EXPECT_FALSE(Stored("l-4"));
  v1::GetImportRequest get;
  get.set_import_id("leads");
  v1::GetImportResponse status;
  EXPECT_EQ(admin_->GetImport(Admin(), get, &status).code(), absl::StatusCode::kNotFound)
      << "only the batch it follows starts an import";
  // Started, but not as far as the row it follows.
  ImportOk(Batch("leads", {LeadRow(1, "l-1", "alice", "Ana", "ana@acme.example")}));
  s = admin_->ImportRecords(Admin(), AdminContext{"test"}, second, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("holds rows up to 1"));
  EXPECT_FALSE(Stored("l-4"));
  EXPECT_TRUE(ImportOk(first).takes_follows_row()) << "says a client may send batches early";
  const v1::ImportRecordsResponse taken = ImportOk(second);
  EXPECT_EQ(taken.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(taken.rows_through(), 5);
  EXPECT_EQ(Stored("l-5")->data().lead().first_name(), "Eve");

  v1::ImportRecordsRequest bad = second;
  bad.set_follows_row(-1);
  EXPECT_EQ(ImportCode(Admin(), bad), absl::StatusCode::kInvalidArgument);
  bad.set_follows_row(4);  // not below the batch's first row
  EXPECT_EQ(ImportCode(Admin(), bad), absl::StatusCode::kInvalidArgument);
  bad = second;
  bad.set_results_kept_through(-1);
  EXPECT_EQ(ImportCode(Admin(), bad), absl::StatusCode::kInvalidArgument);
}

// Rows refused before the push path (a type no import may write) are
// answered like the others: an import holds them, and a batch that
// follows one of them is taken.
TEST_P(ImportTest, ABatchMayFollowRowsThatWereRefused) {
  v1::Record conflict;
  conflict.mutable_conflict()->set_id("cf-forged");
  const v1::ImportRecordsResponse first =
      ImportOk(Batch("mixed", {LeadRow(1, "m-1", "alice", "Ana", "ana@acme.example"),
                               Row(2, "cf-forged", conflict, {"id"})}));
  EXPECT_EQ(first.results(1).reject_reason(), v1::REJECT_REASON_PERMISSION_DENIED);
  EXPECT_EQ(first.rows_through(), 2);
  v1::ImportRecordsRequest second =
      Batch("mixed", {LeadRow(3, "m-3", "bob", "Bea", "bea@beta.example")});
  second.set_follows_row(2);
  EXPECT_EQ(ImportOk(second).results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  // A batch of refused rows only: held as well.
  const v1::ImportRecordsResponse third =
      ImportOk(Batch("mixed", {Row(4, "cf-forged", conflict, {"id"})}));
  EXPECT_EQ(third.rows_through(), 4);
  v1::ImportRecordsRequest fourth =
      Batch("mixed", {LeadRow(5, "m-5", "bob", "Cid", "cid@gamma.example")});
  fourth.set_follows_row(4);
  EXPECT_EQ(ImportOk(fourth).rows_through(), 5);
  v1::GetImportRequest get;
  get.set_import_id("mixed");
  v1::GetImportResponse status;
  ASSERT_TRUE(admin_->GetImport(Admin(), get, &status).ok());
  EXPECT_EQ(status.rows_through(), 5);
}

TEST_P(ImportTest, StoredResultsGoOnlyUpToTheRowsTheClientKept) {
  const v1::ImportRecordsRequest first =
      Batch("leads", {LeadRow(1, "l-1", "alice", "Ana", "ana@acme.example"),
                      LeadRow(2, "l-2", "alice", "Bea", "bea@beta.example")});
  const v1::ImportRecordsResponse first_answer = ImportOk(first);
  // Sent before the first one's rejects were written: its results stay.
  v1::ImportRecordsRequest second =
      Batch("leads", {LeadRow(3, "l-3", "bob", "Cid", "cid@gamma.example")});
  second.set_follows_row(2);
  second.set_results_kept_through(0);
  const v1::ImportRecordsResponse second_answer = ImportOk(second);
  const int64_t seq = LatestSeq();
  const v1::ImportRecordsResponse again = ImportOk(first);
  for (int i = 0; i < 2; ++i) {
    EXPECT_NE(again.results(i).reject_reason(), v1::REJECT_REASON_RESULT_PRUNED) << i;
    EXPECT_EQ(again.results(i).change_seq(), first_answer.results(i).change_seq()) << i;
  }
  EXPECT_EQ(LatestSeq(), seq);
  // A later batch says the first one's results are kept: they go, the
  // second's stay (even if it claims more than the rows before it).
  v1::ImportRecordsRequest third =
      Batch("leads", {LeadRow(4, "l-4", "bob", "Dan", "dan@delta.example")});
  third.set_follows_row(3);
  third.set_results_kept_through(2);
  ImportOk(third);
  EXPECT_EQ(ImportOk(first).results(0).reject_reason(), v1::REJECT_REASON_RESULT_PRUNED);
  EXPECT_EQ(ImportOk(second).results(0).change_seq(), second_answer.results(0).change_seq());
  v1::ImportRecordsRequest fourth =
      Batch("leads", {LeadRow(5, "l-5", "bob", "Eve", "eve@epsilon.example")});
  fourth.set_follows_row(4);
  fourth.set_results_kept_through(1000);
  const v1::ImportRecordsResponse fourth_answer = ImportOk(fourth);
  EXPECT_EQ(ImportOk(fourth).results(0).change_seq(), fourth_answer.results(0).change_seq())
      << "a batch never drops its own results";
  EXPECT_EQ(LatestSeq(), seq + 2);
}

TEST_P(ImportTest, TwoBatchesOnTheirWayAtOnceAreAppliedInRowOrder) {
  ImportOk(Batch("bulk", {LeadRow(1, "b-0", "alice", "Zoe", "zoe@zeta.example")}));
  // The first is large, so the second (which follows it, and says the
  // rows before itself are settled) usually reaches the server while the
  // first is being applied and waits for it. Had it gone first, the
  // first's rows would be answered "loaded before" and never stored.
  std::vector<v1::ImportRow> rows;
  for (int i = 2; i <= 301; ++i) {
    rows.push_back(LeadRow(i, "b-" + std::to_string(i), "alice", "N" + std::to_string(i),
                           "n" + std::to_string(i) + "@example.com"));
  }
  v1::ImportRecordsRequest first = Batch("bulk", rows);
  first.set_follows_row(1);
  v1::ImportRecordsRequest second =
      Batch("bulk", {LeadRow(302, "b-302", "bob", "Last", "last@example.com")});
  second.set_follows_row(301);
  v1::ImportRecordsResponse first_answer;
  absl::Status first_status;
  std::thread sender([&] {
    first_status = admin_->ImportRecords(Admin(), AdminContext{"test"}, first, &first_answer);
  });
  v1::ImportRecordsResponse second_answer;
  absl::Status second_status =
      admin_->ImportRecords(Admin(), AdminContext{"test"}, second, &second_answer);
  sender.join();
  ASSERT_TRUE(first_status.ok()) << first_status;
  if (!second_status.ok()) {
    // It arrived before the first had begun: refused, and taken once the
    // first is answered.
    EXPECT_EQ(second_status.code(), absl::StatusCode::kFailedPrecondition) << second_status;
    second_answer = ImportOk(second);
  }
  ASSERT_EQ(first_answer.results_size(), 300);
  for (const auto& r : first_answer.results()) {
    EXPECT_EQ(r.outcome(), v1::MUTATION_OUTCOME_APPLIED) << r.row() << ": " << r.message();
  }
  EXPECT_EQ(second_answer.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  EXPECT_EQ(second_answer.rows_through(), 302);
  EXPECT_GT(second_answer.results(0).change_seq(), first_answer.results(299).change_seq());
  EXPECT_TRUE(Stored("b-2"));
  EXPECT_TRUE(Stored("b-301"));
}

INSTANTIATE_TEST_SUITE_P(Stores, ImportTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace crmsync::server::testing
