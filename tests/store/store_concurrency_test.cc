// Conformance: gap-free change feed under concurrent writers, concurrent
// migrations, and reopening a store.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "store_fixture.h"

namespace crmsync::server {
namespace {

constexpr char kTenant[] = "tenant-a";
constexpr char kOther[] = "tenant-b";

class StoreConcurrencyTest : public StoreTest {};

// Several writers (on two store objects, i.e. two server instances sharing
// the database) commit many small transactions, some of which roll back,
// while a reader follows the feed with ReadSince(cursor). Every record is
// written once, so the feed must hand the reader versions 1, 2, 3, ...
// without a hole: a hole means a cursor passed a change that committed
// later (or a sequence was skipped).
TEST_P(StoreConcurrencyTest, ReaderSeesEveryCommittedVersionExactlyOnceWithoutGaps) {
  constexpr int kWriters = 4;
  constexpr int kTxPerWriter = 60;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);

  auto second = location().Open();
  ASSERT_TRUE(second.ok()) << second.status();
  Store* instances[2] = {&store(), second->get()};

  std::mutex mu;
  std::map<std::string, int64_t> committed;  // record id -> version
  std::vector<std::string> errors;
  std::atomic<int> writers_left{kWriters + 1};
  std::atomic<int> rolled_back{0};

  auto writer = [&](int w) {
    Store& s = *instances[w % 2];
    for (int t = 0; t < kTxPerWriter && std::chrono::steady_clock::now() < deadline; ++t) {
      const bool roll_back = (t % 5) == 3;
      const int records = 1 + (t % 3);
      std::vector<std::pair<std::string, int64_t>> mine;
      absl::Status status = s.changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
        mine.clear();  // the callback may run again after a retryable failure
        // A read through the store from inside the callback (Push does this
        // with ScopeAt); it must not starve for a connection.
        auto latest = s.changes().LatestSeq(kTenant);
        if (!latest.ok()) return latest.status();
        for (int r = 0; r < records; ++r) {
          auto seq = tx.NextSeq();
          if (!seq.ok()) return seq.status();
          const std::string id =
              "w" + std::to_string(w) + "-t" + std::to_string(t) + "-r" + std::to_string(r);
          if (auto st = tx.PutRecord(AccountState(id, *seq, "alice"), nullptr); !st.ok()) {
            return st;
          }
          mine.emplace_back(id, *seq);
        }
        if (roll_back) return absl::CancelledError("rolled back on purpose");
        return absl::OkStatus();
      });
      std::lock_guard<std::mutex> lock(mu);
      if (roll_back) {
        if (status.code() != absl::StatusCode::kCancelled) {
          errors.push_back("rollback returned " + status.ToString());
        }
        ++rolled_back;
      } else if (!status.ok()) {
        errors.push_back("write failed: " + status.ToString());
      } else {
        for (const auto& [id, version] : mine) committed[id] = version;
      }
    }
    --writers_left;
  };

  // Another tenant is written at the same time; it must not disturb tenant A.
  auto other_writer = [&] {
    for (int t = 0; t < kTxPerWriter && std::chrono::steady_clock::now() < deadline; ++t) {
      absl::Status status = store().changes().Write(kOther, [&](WriteTx& tx) -> absl::Status {
        auto seq = tx.NextSeq();
        if (!seq.ok()) return seq.status();
        return tx.PutRecord(AccountState("b-" + std::to_string(t), *seq, "bob"), nullptr);
      });
      if (!status.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        errors.push_back("tenant B write failed: " + status.ToString());
      }
    }
    --writers_left;
  };

  std::map<std::string, int64_t> seen;
  int64_t cursor = 0;
  int reads = 0;
  auto reader = [&] {
    Store& s = *instances[1];
    bool final_pass = false;
    while (std::chrono::steady_clock::now() < deadline + std::chrono::seconds(10)) {
      // Once all writers are done, one more full pass drains the feed.
      if (writers_left.load() == 0) final_pass = true;
      auto rows = s.changes().ReadSince(kTenant, cursor, 7);
      ++reads;
      if (!rows.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        errors.push_back("ReadSince failed: " + rows.status().ToString());
        return;
      }
      for (const RecordRow& row : *rows) {
        const int64_t v = row.state.version();
        if (v != cursor + 1) {
          std::lock_guard<std::mutex> lock(mu);
          errors.push_back("feed jumped from " + std::to_string(cursor) + " to " +
                           std::to_string(v));
        }
        if (!seen.emplace(row.state.ref().id(), v).second) {
          std::lock_guard<std::mutex> lock(mu);
          errors.push_back("record seen twice: " + row.state.ref().id());
        }
        cursor = v;
      }
      if (final_pass && rows->empty()) return;
    }
    std::lock_guard<std::mutex> lock(mu);
    errors.push_back("reader did not finish before the time cap");
  };

  std::vector<std::thread> threads;
  threads.emplace_back(reader);
  for (int w = 0; w < kWriters; ++w) threads.emplace_back(writer, w);
  threads.emplace_back(other_writer);
  for (std::thread& t : threads) t.join();

  for (const std::string& e : errors) ADD_FAILURE() << e;
  EXPECT_GT(rolled_back.load(), 0);
  ASSERT_FALSE(committed.empty());
  EXPECT_EQ(seen, committed);
  auto latest = store().changes().LatestSeq(kTenant);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, static_cast<int64_t>(committed.size()));
  EXPECT_EQ(cursor, *latest);
  EXPECT_EQ(*store().changes().LatestSeq(kOther), kTxPerWriter);
  std::cout << "[ info ] " << committed.size() << " record versions committed by " << kWriters
            << " writers, " << rolled_back.load() << " transactions rolled back, " << reads
            << " reads\n";
}

TEST_P(StoreConcurrencyTest, SeveralInstancesMigrateAFreshDatabaseAtOnce) {
  auto fresh = StoreLocation::Create(GetParam(), "concurrent_migrate");
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  constexpr int kInstances = 4;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kInstances; ++i) {
    auto s = (*fresh)->Open();
    ASSERT_TRUE(s.ok()) << s.status();
    stores.push_back(std::move(*s));
  }
  std::vector<absl::Status> results(kInstances);
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstances; ++i) {
    threads.emplace_back([&, i] { results[i] = stores[i]->Migrate(); });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  // The schema is usable from every instance.
  for (int i = 0; i < kInstances; ++i) {
    absl::Status s = stores[i]->changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
      auto seq = tx.NextSeq();
      if (!seq.ok()) return seq.status();
      return tx.PutRecord(AccountState("acc-" + std::to_string(i), *seq, "alice"), nullptr);
    });
    EXPECT_TRUE(s.ok()) << s;
  }
  EXPECT_EQ(*stores[0]->changes().LatestSeq(kTenant), kInstances);
}

TEST_P(StoreConcurrencyTest, DataSurvivesReopening) {
  PutAccount(kTenant, "acc-1", "alice");
  PutAccount(kTenant, "acc-1", "bob");
  PutAccount(kTenant, "acc-2", "alice", /*deleted=*/true);
  ASSERT_TRUE(store().directory().PutTenant({kTenant, "acme", "Acme"}).ok());
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [](WriteTx& tx) -> absl::Status {
                           AppliedMutation a;
                           a.device_id = "dev-1";
                           a.client_seq = 1;
                           a.payload_hash = "h";
                           if (auto s = tx.PutApplied(a); !s.ok()) return s;
                           return tx.AddToClaim("coupon", 3).status();
                         })
                  .ok());
  store_.reset();  // close every connection

  auto reopened = location().Open();
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  store_ = std::move(*reopened);
  ASSERT_TRUE(store().Migrate().ok());
  EXPECT_EQ(*store().changes().LatestSeq(kTenant), 3);
  auto record = store().changes().GetRecord(kTenant, AccountRef("acc-1"));
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_EQ((*record)->scope().owner_user_id(), "bob");
  EXPECT_EQ((*store().changes().ScopeAt(kTenant, AccountRef("acc-1"), 1))->owner_user_id(),
            "alice");
  EXPECT_TRUE((*store().changes().GetRecord(kTenant, AccountRef("acc-2")))->deleted());
  EXPECT_EQ((*store().directory().GetTenantBySlug("acme"))->id, kTenant);
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [](WriteTx& tx) -> absl::Status {
                           EXPECT_TRUE(tx.GetApplied("dev-1", 1)->has_value());
                           EXPECT_EQ(*tx.GetClaim("coupon"), 3);
                           EXPECT_EQ(*tx.NextSeq(), 4);  // the sequence continues
                           return absl::OkStatus();
                         })
                  .ok());
}

CRMSYNC_INSTANTIATE_STORE_SUITE(StoreConcurrencyTest);

}  // namespace
}  // namespace crmsync::server
