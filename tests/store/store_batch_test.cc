// Conformance: batching inside a write transaction. Prefetch is a hint
// (reads give the same answers with or without it); buffered writes are
// seen by the transaction's own reads, by everyone after commit, and by
// nobody after a rollback.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "store_fixture.h"

namespace crmsync::server {
namespace {

using ::testing::ElementsAre;

constexpr char kTenant[] = "tenant-a";

class StoreBatchTest : public StoreTest {};

AppliedMutation Applied(const std::string& device, int64_t client_seq, const std::string& hash) {
  AppliedMutation a;
  a.device_id = device;
  a.client_seq = client_seq;
  a.payload_hash = hash;
  a.result.set_client_seq(client_seq);
  a.result.set_outcome(v1::MUTATION_OUTCOME_APPLIED);
  return a;
}

// Ids that PostgreSQL array literals would misread if not quoted.
const std::vector<std::string>& AwkwardIds() {
  static const std::vector<std::string> ids = {
      "plain", "with \"quotes\"", "back\\slash", "{braces,comma}",
      "NULL",  " padded ",        "ünïcødé",     "'; DROP TABLE records; --"};
  return ids;
}

TEST_P(StoreBatchTest, PrefetchedRowsAndAbsentRowsReadLikeUnprefetchedOnes) {
  PutAccount(kTenant, "acc-1", "alice");
  PutAccount(kTenant, "acc-2", "bob", /*deleted=*/true);
  ASSERT_TRUE(
      store()
          .changes()
          .Write(kTenant, [&](WriteTx& tx) { return tx.PutApplied(Applied("dev-1", 1, "h1")); })
          .ok());
  const auto committed_1 = *store().changes().GetRecord(kTenant, AccountRef("acc-1"));
  const auto committed_2 = *store().changes().GetRecord(kTenant, AccountRef("acc-2"));

  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    std::vector<v1::RecordRef> refs = {AccountRef("acc-1"), AccountRef("acc-2"),
                                       AccountRef("acc-missing"), AccountRef("acc-1")};
    if (auto p = tx.Prefetch(refs, "dev-1", {1, 2, 2}); !p.ok()) return p;
    auto one = tx.GetRecord(AccountRef("acc-1"));
    auto two = tx.GetRecord(AccountRef("acc-2"));
    auto missing = tx.GetRecord(AccountRef("acc-missing"));
    auto not_prefetched = tx.GetRecord(AccountRef("acc-other"));
    EXPECT_TRUE(one.ok() && one->has_value());
    EXPECT_EQ((*one)->SerializeAsString(), committed_1->SerializeAsString());
    EXPECT_TRUE(two.ok() && two->has_value() && (*two)->deleted());
    EXPECT_EQ((*two)->SerializeAsString(), committed_2->SerializeAsString());
    EXPECT_TRUE(missing.ok() && !missing->has_value());
    EXPECT_TRUE(not_prefetched.ok() && !not_prefetched->has_value());

    auto applied = tx.GetApplied("dev-1", 1);
    EXPECT_TRUE(applied.ok() && applied->has_value());
    EXPECT_EQ((*applied)->payload_hash, "h1");
    EXPECT_EQ((*applied)->device_id, "dev-1");
    EXPECT_EQ((*applied)->client_seq, 1);
    EXPECT_FALSE(tx.GetApplied("dev-1", 2)->has_value());
    EXPECT_FALSE(tx.GetApplied("dev-2", 1)->has_value());
    // Known present: refused without harm; known absent: accepted.
    EXPECT_EQ(tx.PutApplied(Applied("dev-1", 1, "again")).code(), absl::StatusCode::kAlreadyExists);
    return tx.PutApplied(Applied("dev-1", 2, "h2"));
  });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           EXPECT_EQ((*tx.GetApplied("dev-1", 1))->payload_hash, "h1");
                           EXPECT_EQ((*tx.GetApplied("dev-1", 2))->payload_hash, "h2");
                           return absl::OkStatus();
                         })
                  .ok());
}

TEST_P(StoreBatchTest, PrefetchKeepsWhatTheTransactionWrote) {
  PutAccount(kTenant, "acc-1", "alice");
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    auto seq = tx.NextSeq();
    if (!seq.ok()) return seq.status();
    v1::RecordState mine = AccountState("acc-1", *seq, "alice");
    mine.set_created_version(1);
    (*mine.mutable_fields())["name"].set_version(*seq);
    if (auto p = tx.PutRecord(mine, nullptr); !p.ok()) return p;
    if (auto p = tx.PutApplied(Applied("dev-1", 5, "mine")); !p.ok()) return p;
    if (auto p = tx.Prefetch({AccountRef("acc-1")}, "dev-1", {5}); !p.ok()) return p;
    EXPECT_EQ((*tx.GetRecord(AccountRef("acc-1")))->SerializeAsString(), mine.SerializeAsString());
    EXPECT_EQ((*tx.GetApplied("dev-1", 5))->payload_hash, "mine");
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
}

TEST_P(StoreBatchTest, PrefetchSkipsWhatGetRecordWouldRefuse) {
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    v1::RecordRef no_type;
    no_type.set_id("x");
    v1::RecordRef no_id = AccountRef("");
    v1::RecordRef too_long = AccountRef(std::string(300, 'a'));
    EXPECT_TRUE(tx.Prefetch({no_type, no_id, too_long, AccountRef("fine")}, "", {1}).ok());
    EXPECT_TRUE(tx.Prefetch({}, std::string("nul\0id", 6), {1}).ok());
    EXPECT_EQ(tx.GetRecord(no_type).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(tx.GetRecord(too_long).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(tx.GetApplied("", 1).status().code(), absl::StatusCode::kInvalidArgument);
    // Not poisoned.
    EXPECT_FALSE(tx.GetRecord(AccountRef("fine"))->has_value());
    return tx.PutApplied(Applied("dev-1", 1, "h"));
  });
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(StoreBatchTest, BufferedWritesAreReadBackInTheTransactionAndByTheFeedAfterCommit) {
  const int64_t v1_alice = PutAccount(kTenant, "acc-1", "alice");  // version 1
  ASSERT_EQ(v1_alice, 1);
  // More rows than one flush holds, so some are written before the end.
  constexpr int kMany = 2600;
  int64_t last = 0;
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    std::vector<v1::RecordRef> refs = {AccountRef("acc-1")};
    for (int i = 0; i < kMany; ++i) refs.push_back(AccountRef("bulk-" + std::to_string(i)));
    if (auto p = tx.Prefetch(refs, "dev-1", {}); !p.ok()) return p;
    // acc-1: reassigned to bob (version 2), then edited again (version 3).
    auto v2 = tx.NextSeq();
    auto v3 = tx.NextSeq();
    EXPECT_EQ(*v2, 2);
    EXPECT_EQ(*v3, 3);
    v1::ScopeKeys alice = AccountState("acc-1", 1, "alice").scope();
    v1::RecordState moved = AccountState("acc-1", *v2, "bob");
    moved.set_created_version(1);
    if (auto p = tx.PutRecord(moved, &alice); !p.ok()) return p;
    v1::RecordState edited = AccountState("acc-1", *v3, "bob");
    edited.set_created_version(1);
    if (auto p = tx.PutRecord(edited, nullptr); !p.ok()) return p;
    EXPECT_EQ((*tx.GetRecord(AccountRef("acc-1")))->version(), 3);
    // New records, each written twice; the second write leaves
    // created_version unset (the store keeps the first).
    for (int i = 0; i < kMany; ++i) {
      const std::string id = "bulk-" + std::to_string(i);
      auto a = tx.NextSeq();
      if (!a.ok()) return a.status();
      if (auto p = tx.PutRecord(AccountState(id, *a, "carol"), nullptr); !p.ok()) return p;
      if (auto p = tx.PutApplied(Applied("dev-1", i + 1, "h" + std::to_string(i))); !p.ok()) {
        return p;
      }
      if (i % 100 == 0) {
        auto b = tx.NextSeq();
        if (!b.ok()) return b.status();
        v1::RecordState again = AccountState(id, *b, "carol");
        again.clear_created_version();
        if (auto p = tx.PutRecord(again, nullptr); !p.ok()) return p;
      }
    }
    for (int i = 0; i < kMany; i += 97) {
      auto got = tx.GetRecord(AccountRef("bulk-" + std::to_string(i)));
      EXPECT_TRUE(got.ok() && got->has_value());
      EXPECT_EQ((*tx.GetApplied("dev-1", i + 1))->payload_hash, "h" + std::to_string(i));
    }
    last = *tx.NextSeq() - 1;  // allocated and unused: still consumed
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;

  EXPECT_EQ(*store().changes().LatestSeq(kTenant), last + 1);
  std::vector<int64_t> versions = FeedVersions(kTenant, 700);
  ASSERT_EQ(versions.size(), static_cast<size_t>(kMany + 1));
  for (size_t i = 1; i < versions.size(); ++i) EXPECT_LT(versions[i - 1], versions[i]);
  EXPECT_EQ(versions.front(), 3);  // acc-1 at its last change

  auto rows = store().changes().ReadSince(kTenant, 0, 1);
  ASSERT_TRUE(rows.ok() && rows->size() == 1);
  EXPECT_EQ((*rows)[0].state.ref().id(), "acc-1");
  EXPECT_EQ((*rows)[0].scope_changed_version, 2);
  EXPECT_EQ((*store().changes().ScopeAt(kTenant, AccountRef("acc-1"), 1))->owner_user_id(),
            "alice");
  EXPECT_EQ((*store().changes().ScopeAt(kTenant, AccountRef("acc-1"), 2))->owner_user_id(), "bob");

  // A record written twice keeps the created_version of its first write:
  // it existed at that version.
  auto first = store().changes().GetRecord(kTenant, AccountRef("bulk-0"));
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->version(), 5);
  EXPECT_TRUE(store().changes().ScopeAt(kTenant, AccountRef("bulk-0"), 4)->has_value());
  EXPECT_FALSE(store().changes().ScopeAt(kTenant, AccountRef("bulk-0"), 3)->has_value());

  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           EXPECT_EQ(*tx.NextSeq(), last + 2);
                           EXPECT_EQ((*tx.GetApplied("dev-1", kMany))->payload_hash,
                                     "h" + std::to_string(kMany - 1));
                           EXPECT_FALSE(tx.GetApplied("dev-1", kMany + 1)->has_value());
                           return absl::OkStatus();
                         })
                  .ok());
}

TEST_P(StoreBatchTest, RollbackAfterBufferedWritesLeavesNothing) {
  PutAccount(kTenant, "acc-1", "alice");
  constexpr int kMany = 2600;  // some rows are flushed before the rollback
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    for (int i = 0; i < kMany; ++i) {
      auto seq = tx.NextSeq();
      EXPECT_TRUE(
          tx.PutRecord(AccountState("acc-" + std::to_string(i), *seq, "bob"), nullptr).ok());
      EXPECT_TRUE(tx.PutApplied(Applied("dev-1", i + 1, "h")).ok());
    }
    return absl::CancelledError("client went away");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(*store().changes().LatestSeq(kTenant), 1);
  EXPECT_THAT(FeedVersions(kTenant), ElementsAre(1));
  EXPECT_EQ((*store().changes().GetRecord(kTenant, AccountRef("acc-1")))->scope().owner_user_id(),
            "alice");
  EXPECT_FALSE(store().changes().GetRecord(kTenant, AccountRef("acc-2"))->has_value());
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           EXPECT_EQ(*tx.NextSeq(), 2);
                           EXPECT_TRUE(tx.Prefetch({}, "dev-1", {1, kMany}).ok());
                           EXPECT_FALSE(tx.GetApplied("dev-1", 1)->has_value());
                           EXPECT_FALSE(tx.GetApplied("dev-1", kMany)->has_value());
                           return absl::OkStatus();
                         })
                  .ok());
}

TEST_P(StoreBatchTest, DuplicatePutAppliedInOneTransactionIsRefusedAndTheFirstKept) {
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    if (auto p = tx.PutApplied(Applied("dev-1", 7, "first")); !p.ok()) return p;
    absl::Status again = tx.PutApplied(Applied("dev-1", 7, "second"));
    EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
    EXPECT_EQ((*tx.GetApplied("dev-1", 7))->payload_hash, "first");
    return tx.PutApplied(Applied("dev-1", 8, "next"));
  });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           EXPECT_EQ((*tx.GetApplied("dev-1", 7))->payload_hash, "first");
                           EXPECT_EQ((*tx.GetApplied("dev-1", 8))->payload_hash, "next");
                           // Not prefetched, known only to the database.
                           EXPECT_EQ(tx.PutApplied(Applied("dev-1", 8, "x")).code(),
                                     absl::StatusCode::kAlreadyExists);
                           return absl::OkStatus();
                         })
                  .ok());
}

TEST_P(StoreBatchTest, AwkwardIdsSurviveBatchedWritesAndPrefetch) {
  const std::string device = "dev \"1\" {x}";
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    int64_t n = 0;
    for (const std::string& id : AwkwardIds()) {
      auto seq = tx.NextSeq();
      v1::RecordState state = AccountState(id, *seq, "owner \"" + id + "\"");
      state.mutable_scope()->set_team_id(id);
      if (auto p = tx.PutRecord(state, nullptr); !p.ok()) return p;
      AppliedMutation a = Applied(device, ++n, std::string("\x00\\\"{", 4) + id);
      if (auto p = tx.PutApplied(a); !p.ok()) return p;
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    std::vector<v1::RecordRef> refs;
    for (const std::string& id : AwkwardIds()) refs.push_back(AccountRef(id));
    refs.push_back(AccountRef("plai"));  // a prefix only: absent
    if (auto p = tx.Prefetch(refs, device, {1, 2, 3, 4, 5, 6, 7, 8, 9}); !p.ok()) return p;
    int64_t n = 0;
    for (const std::string& id : AwkwardIds()) {
      auto got = tx.GetRecord(AccountRef(id));
      EXPECT_TRUE(got.ok() && got->has_value()) << id;
      if (got.ok() && got->has_value()) {
        EXPECT_EQ((*got)->ref().id(), id);
        EXPECT_EQ((*got)->scope().team_id(), id);
      }
      auto applied = tx.GetApplied(device, ++n);
      EXPECT_TRUE(applied.ok() && applied->has_value()) << id;
      if (applied.ok() && applied->has_value()) {
        EXPECT_EQ((*applied)->payload_hash, std::string("\x00\\\"{", 4) + id);
      }
    }
    EXPECT_FALSE(tx.GetRecord(AccountRef("plai"))->has_value());
    EXPECT_FALSE(tx.GetApplied(device, 9)->has_value());
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  auto rows = store().changes().ReadSince(kTenant, 0, 100);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), AwkwardIds().size());
  for (size_t i = 0; i < rows->size(); ++i) {
    EXPECT_EQ((*rows)[i].state.ref().id(), AwkwardIds()[i]);
    EXPECT_EQ((*rows)[i].state.scope().owner_user_id(), "owner \"" + AwkwardIds()[i] + "\"");
  }
}

}  // namespace

CRMSYNC_INSTANTIATE_STORE_SUITE(StoreBatchTest);

}  // namespace crmsync::server
