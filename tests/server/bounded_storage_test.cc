// The bounded exactly-once log through the push handler and the pruner
// (docs/storage.md, "Bounded storage"), on both stores.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "handler_fixture.h"
#include "logic/directive.h"
#include "logic/pruner.h"
#include "version.h"

namespace crmsync::server::testing {
namespace {

using BoundedStorageTest = HandlerTest;

constexpr int64_t kRetentionMs = 30LL * 24 * 3600 * 1000;

v1::Record Phone(const std::string& id, const std::string& phone) {
  v1::Record r;
  r.mutable_lead()->set_id(id);
  r.mutable_lead()->set_phone(phone);
  return r;
}

class BoundedPush {
 public:
  explicit BoundedPush(PushHandler* push) : push_(push) {}
  absl::Status Push(const Principal& who, int64_t acked, const std::vector<v1::Mutation>& ms,
                    v1::PushResponse* response) {
    v1::PushRequest request;
    request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
    request.set_results_acked_through(acked);
    for (const auto& m : ms) *request.add_mutations() = m;
    return push_->Push(who, request, response);
  }

 private:
  PushHandler* push_;
};

// The client_seqs in [from, to] of `device` that still have a stored result.
std::vector<int64_t> StoredResults(Store* store, const std::string& device, int64_t from,
                                   int64_t to) {
  std::vector<int64_t> seqs;
  absl::Status s = store->changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    seqs.clear();
    for (int64_t seq = from; seq <= to; ++seq) {
      auto got = tx.GetApplied(device, seq);
      if (!got.ok()) return got.status();
      if (got->has_value()) seqs.push_back(seq);
    }
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  return seqs;
}

TEST_P(BoundedStorageTest, AcknowledgedResultsAreDeletedAndUnacknowledgedOnesStay) {
  Device a("dev-alice", "alice");
  BoundedPush push(push_.get());
  v1::PushResponse r;
  ASSERT_TRUE(push.Push(Rep("alice", "dev-alice"), 0,
                        {a.Create(LeadRecord("lead-1", "alice", "J", "1"), kStartMs),
                         a.Create(LeadRecord("lead-2", "alice", "K", "2"), kStartMs),
                         a.Create(LeadRecord("lead-3", "alice", "L", "3"), kStartMs)},
                        &r)
                  .ok());
  EXPECT_EQ(StoredResults(store_.get(), "dev-alice", 1, 4), (std::vector<int64_t>{1, 2, 3}));
  // The device stored the results of 1 and 2 (3's answer was, say, lost).
  ASSERT_TRUE(push.Push(Rep("alice", "dev-alice"), 2,
                        {a.Create(LeadRecord("lead-4", "alice", "M", "4"), kStartMs)}, &r)
                  .ok());
  EXPECT_EQ(StoredResults(store_.get(), "dev-alice", 1, 4), (std::vector<int64_t>{3, 4}));
  // Another device's results are its own.
  Device b("dev-bob", "bob");
  ASSERT_TRUE(push.Push(Rep("bob", "dev-bob"), 0,
                        {b.Create(LeadRecord("lead-b", "bob", "B", "5"), kStartMs)}, &r)
                  .ok());
  EXPECT_EQ(StoredResults(store_.get(), "dev-bob", 1, 1), (std::vector<int64_t>{1}));
}

TEST_P(BoundedStorageTest, RetryAtOrBelowTheFloorIsNeverAppliedAgain) {
  Device a("dev-alice", "alice");
  BoundedPush push(push_.get());
  v1::PushResponse r;
  ASSERT_TRUE(push.Push(Rep("alice", "dev-alice"), 0,
                        {a.Create(LeadRecord("lead-1", "alice", "J", "1"), kStartMs)}, &r)
                  .ok());
  const v1::RecordState created = r.results(0).record();
  const v1::Mutation second = a.Update(created, Phone("lead-1", "2"), {"phone"}, kStartMs + 1);
  ASSERT_TRUE(push.Push(Rep("alice", "dev-alice"), 1, {second}, &r).ok());
  const v1::Mutation third =
      a.Update(r.results(0).record(), Phone("lead-1", "3"), {"phone"}, kStartMs + 2);
  ASSERT_TRUE(push.Push(Rep("alice", "dev-alice"), 2, {third}, &r).ok());
  const int64_t latest = *store_->changes().LatestSeq(kTenant);

  // A delayed copy of the second push arrives after the device acknowledged it.
  ASSERT_TRUE(push.Push(Rep("alice", "dev-alice"), 1, {second}, &r).ok());
  ASSERT_EQ(r.results_size(), 1);
  EXPECT_EQ(r.results(0).client_seq(), second.client_seq());
  EXPECT_EQ(r.results(0).outcome(), v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(r.results(0).reject_reason(), v1::REJECT_REASON_RESULT_PRUNED);
  EXPECT_THAT(r.results(0).message(), ::testing::HasSubstr("not applied again"));
  EXPECT_EQ(r.results(0).record().data().lead().phone(), "3") << "the record as it is now";
  EXPECT_EQ(*store_->changes().LatestSeq(kTenant), latest) << "nothing was written";
}

TEST_P(BoundedStorageTest, AcknowledgementMustBeBelowTheBatch) {
  Device a("dev-alice", "alice");
  BoundedPush push(push_.get());
  v1::PushResponse r;
  absl::Status s = push.Push(Rep("alice", "dev-alice"), 1,
                             {a.Create(LeadRecord("lead-1", "alice", "J", "1"), kStartMs)}, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("results_acked_through"));
  s = push.Push(Rep("alice", "dev-alice"), -1,
                {a.Create(LeadRecord("lead-2", "alice", "J", "1"), kStartMs)}, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*store_->changes().LatestSeq(kTenant), 0) << "nothing applied";
}

TEST_P(BoundedStorageTest, SilentDeviceIsForgottenAndItsLostResultsAreNotReapplied) {
  Device a2("dev-alice-2", "alice");
  BoundedPush push(push_.get());
  v1::PushResponse r;
  ASSERT_TRUE(push.Push(Rep("alice", "dev-alice-2"), 0,
                        {a2.Create(LeadRecord("lead-1", "alice", "J", "1"), kStartMs)}, &r)
                  .ok());
  std::string cursor;
  PullAll(Rep("alice", "dev-alice-2"), &cursor);
  const v1::Mutation lost =
      a2.Update(r.results(0).record(), Phone("lead-1", "2"), {"phone"}, kStartMs + 1);
  ASSERT_TRUE(push.Push(Rep("alice", "dev-alice-2"), 1, {lost}, &r).ok());  // answer lost

  // dev-alice-2 falls silent; another device keeps working and pulling.
  Device a("dev-alice", "alice");
  clock_.Advance(kRetentionMs + 1);
  ASSERT_TRUE(
      push.Push(Rep("alice", "dev-alice"), 0, {a.Delete(r.results(0).record(), clock_.NowMs())}, &r)
          .ok());
  const int64_t latest = *store_->changes().LatestSeq(kTenant);
  ASSERT_TRUE(store_->directory().TouchDevice(kTenant, "dev-alice", clock_.NowMs(), latest).ok());
  auto report =
      PruneTenant(&store_->changes(), &store_->directory(), kTenant, clock_.NowMs(), kRetentionMs);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_GE(report->devices_forgotten, 1);
  EXPECT_EQ(report->horizon, latest);
  EXPECT_TRUE(StoredResults(store_.get(), "dev-alice-2", 1, 2).empty());

  // It comes back: its pull needs a reset, its lost mutation is not applied
  // twice, and a new one applies.
  v1::PullRequest pull;
  pull.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  pull.set_cursor(cursor);
  v1::PullResponse page;
  absl::Status pulled = pull_->Pull(Rep("alice", "dev-alice-2"), pull, &page);
  EXPECT_EQ(pulled.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DirectiveOf(pulled), std::optional<std::string>(kDirectiveResetRequired));

  const v1::Mutation fresh = a2.Create(LeadRecord("lead-9", "alice", "N", "9"), clock_.NowMs());
  ASSERT_TRUE(push.Push(Rep("alice", "dev-alice-2"), 1, {lost, fresh}, &r).ok());
  ASSERT_EQ(r.results_size(), 2);
  EXPECT_EQ(r.results(0).reject_reason(), v1::REJECT_REASON_RESULT_PRUNED);
  EXPECT_EQ(r.results(1).outcome(), v1::MUTATION_OUTCOME_APPLIED) << r.results(1).message();
  EXPECT_EQ(*store_->changes().LatestSeq(kTenant), latest + 1) << "only the new create";
}

TEST_P(BoundedStorageTest, RevokedDevicesResultsGoAndActiveDevicesUnacknowledgedOnesStay) {
  BoundedPush push(push_.get());
  v1::PushResponse r;
  Device a("dev-alice", "alice"), b("dev-bob", "bob");
  ASSERT_TRUE(push.Push(Rep("alice", "dev-alice"), 0,
                        {a.Create(LeadRecord("lead-1", "alice", "J", "1"), kStartMs)}, &r)
                  .ok());
  ASSERT_TRUE(push.Push(Rep("bob", "dev-bob"), 0,
                        {b.Create(LeadRecord("lead-2", "bob", "K", "2"), kStartMs)}, &r)
                  .ok());
  auto bob = store_->directory().GetDevice(kTenant, "dev-bob");
  ASSERT_TRUE(bob.ok() && bob->has_value());
  DeviceRow revoked = **bob;
  revoked.device.set_status(v1::DEVICE_STATUS_REVOKED);
  ASSERT_TRUE(store_->directory().PutDevice(revoked).ok());

  auto report =
      PruneTenant(&store_->changes(), &store_->directory(), kTenant, clock_.NowMs(), kRetentionMs);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->devices_forgotten, 1);
  EXPECT_EQ(report->applied_removed, 1);
  EXPECT_TRUE(StoredResults(store_.get(), "dev-bob", 1, 1).empty());
  EXPECT_EQ(StoredResults(store_.get(), "dev-alice", 1, 1), (std::vector<int64_t>{1}))
      << "an active device's results go only when it acknowledges them";
}

INSTANTIATE_TEST_SUITE_P(Stores, BoundedStorageTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace crmsync::server::testing
