// Conformance: migrations, the change sequence, write transactions, the
// change feed, scope history and pruning.
#include <set>

#include "gmock/gmock.h"
#include "store_fixture.h"

namespace crmsync::server {
namespace {

using ::testing::ElementsAre;

constexpr char kTenant[] = "tenant-a";
constexpr char kOther[] = "tenant-b";

class StoreFeedTest : public StoreTest {};

TEST_P(StoreFeedTest, MigrateTwiceIsANoOp) {
  PutAccount(kTenant, "acc-1", "alice");
  ASSERT_TRUE(store().Migrate().ok());
  ASSERT_TRUE(store().Migrate().ok());
  auto record = store().changes().GetRecord(kTenant, AccountRef("acc-1"));
  ASSERT_TRUE(record.ok()) << record.status();
  ASSERT_TRUE(record->has_value());
  EXPECT_EQ((*record)->data().account().name(), "Account acc-1");
  // A second store object (another server instance) migrates the same database.
  auto second = location().Open();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE((*second)->Migrate().ok());
  EXPECT_EQ(*(*second)->changes().LatestSeq(kTenant), 1);
}

TEST_P(StoreFeedTest, KindNamesTheImplementation) {
  EXPECT_EQ(store().Kind(), GetParam() == Backend::kSqlite ? "sqlite" : "postgres");
}

TEST_P(StoreFeedTest, NextSeqIsContiguousPerTenantAndIndependentAcrossTenants) {
  std::vector<int64_t> a, b;
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           for (int i = 0; i < 3; ++i) a.push_back(*tx.NextSeq());
                           return absl::OkStatus();
                         })
                  .ok());
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kOther,
                         [&](WriteTx& tx) -> absl::Status {
                           b.push_back(*tx.NextSeq());
                           return absl::OkStatus();
                         })
                  .ok());
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           a.push_back(*tx.NextSeq());
                           return absl::OkStatus();
                         })
                  .ok());
  EXPECT_THAT(a, ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(b, ElementsAre(1));
  EXPECT_EQ(*store().changes().LatestSeq(kTenant), 4);
  EXPECT_EQ(*store().changes().LatestSeq(kOther), 1);
  EXPECT_EQ(*store().changes().LatestSeq("tenant-never-written"), 0);
}

TEST_P(StoreFeedTest, RolledBackWriteLeavesNothing) {
  PutAccount(kTenant, "acc-1", "alice");
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    auto seq = tx.NextSeq();
    EXPECT_EQ(*seq, 2);
    v1::RecordState changed = AccountState("acc-1", *seq, "bob");
    v1::ScopeKeys old_scope = AccountState("acc-1", 1, "alice").scope();
    EXPECT_TRUE(tx.PutRecord(changed, &old_scope).ok());
    EXPECT_TRUE(tx.PutRecord(AccountState("acc-2", *seq, "bob"), nullptr).ok());
    AppliedMutation applied;
    applied.device_id = "dev-1";
    applied.client_seq = 1;
    applied.payload_hash = "hash";
    EXPECT_TRUE(tx.PutApplied(applied).ok());
    EXPECT_EQ(*tx.AddToClaim("coupon-1", 1), 1);
    return absl::FailedPreconditionError("caller changed its mind");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "caller changed its mind");

  EXPECT_EQ(*store().changes().LatestSeq(kTenant), 1);
  EXPECT_THAT(FeedVersions(kTenant), ElementsAre(1));
  auto record = store().changes().GetRecord(kTenant, AccountRef("acc-1"));
  EXPECT_EQ((*record)->scope().owner_user_id(), "alice");
  EXPECT_FALSE(store().changes().GetRecord(kTenant, AccountRef("acc-2"))->has_value());
  EXPECT_EQ((*store().changes().ScopeAt(kTenant, AccountRef("acc-1"), 1))->owner_user_id(),
            "alice");
  // A rolled-back write in a tenant that never committed leaves no sequence.
  ASSERT_FALSE(store()
                   .changes()
                   .Write(kOther,
                          [&](WriteTx& tx) -> absl::Status {
                            tx.NextSeq().IgnoreError();
                            return absl::AbortedError("no");
                          })
                   .ok());
  EXPECT_EQ(*store().changes().LatestSeq(kOther), 0);

  // The sequence, the applied mutation and the claim are all still free.
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           EXPECT_EQ(*tx.NextSeq(), 2);
                           EXPECT_FALSE(tx.GetApplied("dev-1", 1)->has_value());
                           EXPECT_EQ(*tx.GetClaim("coupon-1"), 0);
                           return absl::OkStatus();
                         })
                  .ok());
}

TEST_P(StoreFeedTest, PutRecordRejectsVersionNotAllocatedInThisTransaction) {
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    return tx.PutRecord(AccountState("acc-1", 7, "alice"), nullptr);
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    auto seq = tx.NextSeq();
    return tx.PutRecord(AccountState("acc-1", *seq + 1, "alice"), nullptr);
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(*store().changes().LatestSeq(kTenant), 0);
  EXPECT_TRUE(FeedVersions(kTenant).empty());
}

TEST_P(StoreFeedTest, RecordRoundTripsWholeStateAndGetRecordSeesOwnWrites) {
  v1::RecordState state = AccountState("acc-1", 0, "alice");
  (*state.mutable_fields())["name"].set_version(1);
  state.mutable_hlc()->set_wall_time_ms(1700000000000);
  state.mutable_hlc()->set_node_id("dev-1");
  state.mutable_scope()->add_store_ids("store-1");
  state.mutable_scope()->add_store_ids("store-2");
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           auto seq = tx.NextSeq();
                           state.set_version(*seq);
                           state.set_created_version(*seq);
                           if (auto s = tx.PutRecord(state, nullptr); !s.ok()) return s;
                           auto again = tx.GetRecord(AccountRef("acc-1"));
                           EXPECT_TRUE(again.ok() && again->has_value());
                           EXPECT_EQ((*again)->SerializeAsString(), state.SerializeAsString());
                           return absl::OkStatus();
                         })
                  .ok());
  auto stored = store().changes().GetRecord(kTenant, AccountRef("acc-1"));
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->DebugString(), state.DebugString());
  EXPECT_FALSE(store().changes().GetRecord(kTenant, AccountRef("acc-missing"))->has_value());
}

TEST_P(StoreFeedTest, TombstonesAreReturnedByGetRecordAndTheFeed) {
  PutAccount(kTenant, "acc-1", "alice");
  PutAccount(kTenant, "acc-2", "alice");
  const int64_t deleted_at = PutAccount(kTenant, "acc-1", "alice", /*deleted=*/true);
  auto record = store().changes().GetRecord(kTenant, AccountRef("acc-1"));
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_TRUE((*record)->deleted());
  EXPECT_EQ((*record)->version(), deleted_at);
  EXPECT_EQ((*record)->created_version(), 1);
  auto rows = store().changes().ReadSince(kTenant, 0, 10);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].state.ref().id(), "acc-2");
  EXPECT_EQ((*rows)[1].state.ref().id(), "acc-1");
  EXPECT_TRUE((*rows)[1].state.deleted());
}

TEST_P(StoreFeedTest, ReadSinceReturnsLatestChangePerRecordInVersionOrderWithLimit) {
  for (int i = 1; i <= 5; ++i) PutAccount(kTenant, "acc-" + std::to_string(i), "alice");
  PutAccount(kTenant, "acc-2", "alice");  // version 6: acc-2 moves to the end
  auto rows = store().changes().ReadSince(kTenant, 0, 100);
  ASSERT_TRUE(rows.ok());
  std::vector<std::string> ids;
  for (const RecordRow& r : *rows) ids.push_back(r.state.ref().id());
  EXPECT_THAT(ids, ElementsAre("acc-1", "acc-3", "acc-4", "acc-5", "acc-2"));
  EXPECT_THAT(FeedVersions(kTenant, 2), ElementsAre(1, 3, 4, 5, 6));

  auto page = store().changes().ReadSince(kTenant, 3, 2);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].state.version(), 4);
  EXPECT_EQ((*page)[1].state.version(), 5);
  EXPECT_TRUE(store().changes().ReadSince(kTenant, 6, 10)->empty());
  EXPECT_TRUE(store().changes().ReadSince(kTenant, 600, 10)->empty());
}

TEST_P(StoreFeedTest, ReadTypeSinceReturnsOneTypeInVersionOrderWithLimit) {
  // Accounts and leads interleaved, in two tenants.
  auto put_lead = [&](const std::string& tenant, const std::string& id, bool deleted) {
    int64_t version = 0;
    absl::Status s = store().changes().Write(tenant, [&](WriteTx& tx) -> absl::Status {
      auto seq = tx.NextSeq();
      if (!seq.ok()) return seq.status();
      v1::RecordState state;
      state.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_LEAD);
      state.mutable_ref()->set_id(id);
      state.set_version(*seq);
      state.set_created_version(*seq);
      state.set_deleted(deleted);
      state.mutable_data()->mutable_lead()->set_id(id);
      state.mutable_scope()->set_owner_user_id("alice");
      version = *seq;
      return tx.PutRecord(state, nullptr);
    });
    EXPECT_TRUE(s.ok()) << s;
    return version;
  };
  PutAccount(kTenant, "acc-1", "alice");        // 1
  put_lead(kTenant, "lead-1", false);           // 2
  PutAccount(kTenant, "acc-2", "alice");        // 3
  put_lead(kTenant, "lead-2", false);           // 4
  put_lead(kOther, "lead-x", false);            // other tenant
  PutAccount(kTenant, "acc-1", "alice", true);  // 5: tombstone moves to the end
  put_lead(kTenant, "lead-1", false);           // 6: lead-1 moves to the end

  auto accounts = store().changes().ReadTypeSince(kTenant, v1::ENTITY_TYPE_ACCOUNT, 0, 100);
  ASSERT_TRUE(accounts.ok()) << accounts.status();
  std::vector<std::pair<std::string, int64_t>> got;
  for (const RecordRow& r : *accounts) got.emplace_back(r.state.ref().id(), r.state.version());
  EXPECT_THAT(
      got, ElementsAre(std::make_pair("acc-2", int64_t{3}), std::make_pair("acc-1", int64_t{5})));
  EXPECT_TRUE((*accounts)[1].state.deleted()) << "tombstones are part of the type's feed";

  auto leads = store().changes().ReadTypeSince(kTenant, v1::ENTITY_TYPE_LEAD, 0, 1);
  ASSERT_TRUE(leads.ok());
  ASSERT_EQ(leads->size(), 1u);
  EXPECT_EQ((*leads)[0].state.ref().id(), "lead-2");
  leads = store().changes().ReadTypeSince(kTenant, v1::ENTITY_TYPE_LEAD, 4, 10);
  ASSERT_TRUE(leads.ok());
  ASSERT_EQ(leads->size(), 1u);
  EXPECT_EQ((*leads)[0].state.version(), 6);
  EXPECT_TRUE(store().changes().ReadTypeSince(kTenant, v1::ENTITY_TYPE_LEAD, 6, 10)->empty());
  EXPECT_TRUE(store().changes().ReadTypeSince(kTenant, v1::ENTITY_TYPE_CONTACT, 0, 10)->empty());
  auto other = store().changes().ReadTypeSince(kOther, v1::ENTITY_TYPE_LEAD, 0, 10);
  ASSERT_TRUE(other.ok());
  ASSERT_EQ(other->size(), 1u);
  EXPECT_EQ((*other)[0].state.ref().id(), "lead-x");

  // The types an operator lists have an index of their own on PostgreSQL.
  for (v1::EntityType type :
       {v1::ENTITY_TYPE_COUPON, v1::ENTITY_TYPE_CONFLICT, v1::ENTITY_TYPE_STORE}) {
    int64_t first = 0, second = 0;
    for (int64_t* version : {&first, &second}) {
      absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
        auto seq = tx.NextSeq();
        if (!seq.ok()) return seq.status();
        v1::RecordState state;
        state.mutable_ref()->set_entity_type(type);
        state.mutable_ref()->set_id(version == &first ? "x-1" : "x-2");
        state.set_version(*seq);
        state.set_created_version(*seq);
        *version = *seq;
        return tx.PutRecord(state, nullptr);
      });
      ASSERT_TRUE(s.ok()) << s;
      put_lead(kTenant, "lead-between", false);
    }
    auto listed = store().changes().ReadTypeSince(kTenant, type, 0, 10);
    ASSERT_TRUE(listed.ok()) << listed.status();
    ASSERT_EQ(listed->size(), 2u) << v1::EntityType_Name(type);
    EXPECT_EQ((*listed)[0].state.version(), first);
    EXPECT_EQ((*listed)[1].state.version(), second);
    auto after = store().changes().ReadTypeSince(kTenant, type, first, 1);
    ASSERT_TRUE(after.ok());
    ASSERT_EQ(after->size(), 1u);
    EXPECT_EQ((*after)[0].state.ref().id(), "x-2");
  }

  EXPECT_EQ(
      store().changes().ReadTypeSince(kTenant, v1::ENTITY_TYPE_UNSPECIFIED, 0, 10).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store().changes().ReadTypeSince(kTenant, v1::ENTITY_TYPE_LEAD, -1, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store().changes().ReadTypeSince(kTenant, v1::ENTITY_TYPE_LEAD, 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreFeedTest, ScopeAtFollowsSeveralReassignments) {
  PutAccount(kTenant, "acc-1", "alice");  // v1
  PutAccount(kTenant, "other", "zoe");    // v2
  PutAccount(kTenant, "acc-1", "alice");  // v3: no scope change
  PutAccount(kTenant, "acc-1", "bob");    // v4: alice -> bob
  PutAccount(kTenant, "other", "zoe");    // v5
  PutAccount(kTenant, "acc-1", "carol");  // v6: bob -> carol
  auto owner_at = [&](int64_t version) -> std::string {
    auto scope = store().changes().ScopeAt(kTenant, AccountRef("acc-1"), version);
    EXPECT_TRUE(scope.ok()) << scope.status();
    if (!scope.ok() || !scope->has_value()) return "<none>";
    return (*scope)->owner_user_id();
  };
  EXPECT_EQ(owner_at(0), "<none>");  // did not exist yet
  EXPECT_EQ(owner_at(1), "alice");
  EXPECT_EQ(owner_at(2), "alice");
  EXPECT_EQ(owner_at(3), "alice");
  EXPECT_EQ(owner_at(4), "bob");
  EXPECT_EQ(owner_at(5), "bob");
  EXPECT_EQ(owner_at(6), "carol");
  EXPECT_EQ(owner_at(100), "carol");
  EXPECT_FALSE(store().changes().ScopeAt(kTenant, AccountRef("missing"), 3)->has_value());

  auto rows = store().changes().ReadSince(kTenant, 0, 10);
  ASSERT_TRUE(rows.ok());
  for (const RecordRow& r : *rows) {
    if (r.state.ref().id() == "acc-1") {
      EXPECT_EQ(r.scope_changed_version, 6);
    } else {
      EXPECT_EQ(r.scope_changed_version, 0);
    }
  }
  // A later change that keeps the scope keeps scope_changed_version.
  PutAccount(kTenant, "acc-1", "carol");  // v7
  auto record_rows = store().changes().ReadSince(kTenant, 6, 10);
  ASSERT_EQ(record_rows->size(), 1u);
  EXPECT_EQ((*record_rows)[0].scope_changed_version, 6);
}

TEST_P(StoreFeedTest, FeedStateNamesTheHistoryAndANewHistoryReplacesIt) {
  auto empty = store().changes().GetFeedState(kTenant);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->latest_seq, 0);
  EXPECT_EQ(empty->history_id, "") << "a tenant that never wrote has no history yet";
  PutAccount(kTenant, "acc-1", "alice");
  PutAccount(kTenant, "acc-2", "bob");
  PutAccount("t-other", "acc-9", "zoe");
  auto feed = store().changes().GetFeedState(kTenant);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->latest_seq, 2);
  EXPECT_EQ(feed->pruned_through, 0);
  EXPECT_EQ(feed->history_id.size(), 16u);
  EXPECT_EQ(feed->history_id.find_first_not_of("0123456789abcdef"), std::string::npos);
  const std::string other_before = store().changes().GetFeedState("t-other")->history_id;
  EXPECT_NE(other_before, feed->history_id) << "histories are random per tenant";

  ASSERT_TRUE(store().changes().StartNewHistory(kTenant).ok());
  auto renamed = store().changes().GetFeedState(kTenant);
  EXPECT_NE(renamed->history_id, feed->history_id);
  EXPECT_EQ(renamed->latest_seq, 2) << "a new history keeps the records and the sequence";
  EXPECT_EQ(store().changes().GetFeedState("t-other")->history_id, other_before);
  PutAccount(kTenant, "acc-3", "carol");
  EXPECT_EQ(store().changes().GetFeedState(kTenant)->history_id, renamed->history_id)
      << "writes keep the history";
}

TEST_P(StoreFeedTest, ScopesDuringListsEveryScopeInTheWindowOldestFirst) {
  PutAccount(kTenant, "acc-1", "alice");  // v1
  PutAccount(kTenant, "other", "zoe");    // v2
  PutAccount(kTenant, "acc-1", "bob");    // v3: alice -> bob
  PutAccount(kTenant, "acc-1", "carol");  // v4: bob -> carol
  PutAccount(kTenant, "other", "zoe");    // v5
  PutAccount(kTenant, "acc-1", "dan");    // v6: carol -> dan
  auto owners = [&](int64_t from, int64_t to) {
    std::vector<std::string> out;
    auto scopes = store().changes().ScopesDuring(kTenant, AccountRef("acc-1"), from, to);
    EXPECT_TRUE(scopes.ok()) << scopes.status();
    if (scopes.ok()) {
      for (const auto& s : *scopes) out.push_back(s.owner_user_id());
    }
    return out;
  };
  EXPECT_THAT(owners(0, 0), ElementsAre());  // did not exist yet
  EXPECT_THAT(owners(0, 1), ElementsAre("alice"));
  EXPECT_THAT(owners(1, 2), ElementsAre("alice"));
  EXPECT_THAT(owners(1, 4), ElementsAre("alice", "bob", "carol"));
  EXPECT_THAT(owners(2, 5), ElementsAre("alice", "bob", "carol"));
  EXPECT_THAT(owners(3, 3), ElementsAre("bob"));
  EXPECT_THAT(owners(4, 5), ElementsAre("carol"));
  EXPECT_THAT(owners(2, 100), ElementsAre("alice", "bob", "carol", "dan"));
  EXPECT_THAT(owners(6, 100), ElementsAre("dan"));
  EXPECT_TRUE(store().changes().ScopesDuring(kTenant, AccountRef("missing"), 0, 9)->empty());
  EXPECT_EQ(store().changes().ScopesDuring(kTenant, AccountRef("acc-1"), 5, 4).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreFeedTest, PruneRemovesOldTombstonesAndScopeHistoryOnly) {
  PutAccount(kTenant, "acc-1", "alice");                    // v1
  PutAccount(kTenant, "acc-2", "alice");                    // v2
  PutAccount(kTenant, "acc-2", "bob");                      // v3: scope history at 3
  PutAccount(kTenant, "acc-1", "alice", /*deleted=*/true);  // v4: tombstone
  PutAccount(kTenant, "acc-3", "alice");                    // v5
  PutAccount(kTenant, "acc-3", "alice", /*deleted=*/true);  // v6: tombstone
  PutAccount(kTenant, "acc-2", "carol");                    // v7: scope history at 7
  PutAccount(kOther, "acc-1", "alice");
  PutAccount(kOther, "acc-1", "alice", true);  // other tenant's tombstone at v2

  EXPECT_EQ(*store().changes().PrunedThrough(kTenant), 0);
  auto removed = store().changes().Prune(kTenant, 4);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 2);  // the tombstone at 4 and the scope history at 3
  EXPECT_EQ(*store().changes().PrunedThrough(kTenant), 4);
  EXPECT_FALSE(store().changes().GetRecord(kTenant, AccountRef("acc-1"))->has_value());
  EXPECT_TRUE(store().changes().GetRecord(kTenant, AccountRef("acc-3"))->has_value());
  EXPECT_THAT(FeedVersions(kTenant), ElementsAre(6, 7));
  // History after the horizon is intact.
  EXPECT_EQ((*store().changes().ScopeAt(kTenant, AccountRef("acc-2"), 5))->owner_user_id(), "bob");
  // The other tenant is untouched.
  EXPECT_EQ(*store().changes().PrunedThrough(kOther), 0);
  EXPECT_TRUE(store().changes().GetRecord(kOther, AccountRef("acc-1"))->has_value());

  // A lower horizon never moves PrunedThrough back.
  EXPECT_EQ(*store().changes().Prune(kTenant, 2), 0);
  EXPECT_EQ(*store().changes().PrunedThrough(kTenant), 4);
  // Beyond the latest sequence or negative: refused.
  EXPECT_EQ(store().changes().Prune(kTenant, 8).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store().changes().Prune(kTenant, -1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*store().changes().Prune(kTenant, 7), 2);  // tombstone at 6, history at 7
  EXPECT_EQ(*store().changes().PrunedThrough(kTenant), 7);
  EXPECT_THAT(FeedVersions(kTenant), ElementsAre(7));
}

CRMSYNC_INSTANTIATE_STORE_SUITE(StoreFeedTest);

}  // namespace
}  // namespace crmsync::server
