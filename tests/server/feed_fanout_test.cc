// The Subscribe fan-out (logic/feed_fanout.h): one feed read per tenant and
// commit for all of a tenant's streams, each told exactly when a Pull from
// its cursor would send something. Tasks run on a manual executor, so every
// interleaving here is chosen by the test.
#include "logic/feed_fanout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "handler_fixture.h"
#include "logic/cursor.h"
#include "logic/notifier.h"

namespace crmsync::server::testing {
namespace {

// Queues tasks until the test runs them; can refuse them like a full pool.
class ManualExecutor {
 public:
  FeedFanout::Executor AsExecutor() {
    return [this](std::function<void()> task) {
      std::lock_guard<std::mutex> lock(mu_);
      if (refuse_) return false;
      tasks_.push_back(std::move(task));
      return true;
    };
  }
  void set_refuse(bool refuse) {
    std::lock_guard<std::mutex> lock(mu_);
    refuse_ = refuse;
  }
  // Runs tasks (and the tasks they queue) until none is left; returns how
  // many ran.
  int RunAll() {
    int ran = 0;
    while (auto task = Next()) {
      task();
      ++ran;
    }
    return ran;
  }
  size_t queued() {
    std::lock_guard<std::mutex> lock(mu_);
    return tasks_.size();
  }

 private:
  std::function<void()> Next() {
    std::lock_guard<std::mutex> lock(mu_);
    if (tasks_.empty()) return nullptr;
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    return task;
  }
  std::mutex mu_;
  std::deque<std::function<void()>> tasks_;
  bool refuse_ = false;
};

class FeedFanoutTest : public HandlerTest {
 protected:
  struct Stream {
    Principal who;
    std::string cursor;  // as subscribed
    uint64_t handle = 0;
    std::vector<int64_t> announced;
  };

  void SetUp() override {
    HandlerTest::SetUp();
    fanout_ = std::make_unique<FeedFanout>(&store_->changes(), &notifier_, executor_.AsExecutor(),
                                           options_);
  }
  void TearDown() override {
    fanout_.reset();
    HandlerTest::TearDown();
  }

  // Opens a stream for `who` from `cursor` (not run yet).
  Stream* Open(const Principal& who, const std::string& cursor) {
    auto position = ParseCursor(cursor);
    EXPECT_TRUE(position.ok()) << position.status();
    streams_.push_back(std::make_unique<Stream>());
    Stream* s = streams_.back().get();
    s->who = who;
    s->cursor = cursor;
    s->handle = fanout_->Join(who, position->seq, position->base, [this, s](int64_t seq) {
      std::lock_guard<std::mutex> lock(announced_mu_);
      s->announced.push_back(seq);
    });
    return s;
  }
  // A stream from `who`'s current position (pulled until caught up).
  Stream* OpenCaughtUp(const Principal& who) {
    std::string cursor;
    PullAll(who, &cursor);
    return Open(who, cursor);
  }
  int64_t Latest() { return *store_->changes().LatestSeq(kTenant); }
  void Commit(const Principal& who, v1::Mutation m) {
    PushOk(who, {std::move(m)});
    notifier_.Publish(kTenant, Latest());
  }
  // Whether a Pull from the stream's cursor sends a change after `after`.
  bool PullSendsAfter(const Stream& s, int64_t after) {
    std::string cursor = s.cursor;
    for (const v1::Change& c : PullAll(s.who, &cursor)) {
      if (c.seq() > after) return true;
    }
    return false;
  }
  bool AnnouncedAfter(const Stream& s, int64_t after) {
    std::lock_guard<std::mutex> lock(announced_mu_);
    for (int64_t seq : s.announced) {
      if (seq > after) return true;
    }
    return false;
  }
  // Every open stream was told about the commits after `after` exactly when
  // a Pull from its cursor sends one of them.
  void ExpectAnnouncedExactlyWhatPullSends(int64_t after) {
    for (const auto& s : streams_) {
      SCOPED_TRACE(s->who.device_id + " from cursor '" + s->cursor + "'");
      EXPECT_EQ(AnnouncedAfter(*s, after), PullSendsAfter(*s, after));
    }
  }

  FeedFanout::Options options_;
  InProcessNotifier notifier_;
  ManualExecutor executor_;
  std::unique_ptr<FeedFanout> fanout_;
  std::mutex announced_mu_;
  std::vector<std::unique_ptr<Stream>> streams_;
};

TEST_P(FeedFanoutTest, OneFeedReadPerCommitServesEveryStreamOfTheTenant) {
  Device a("dev-alice", "alice");
  Commit(Rep("alice", "dev-alice"),
         a.Create(LeadRecord("lead-0", "alice", "Jeanne", "0", v1::VISIBILITY_TEAM), kStartMs));
  std::vector<Principal> who = {Rep("alice", "dev-alice"), Rep("alice", "dev-alice-2"),
                                Rep("bob", "dev-bob"), Rep("carol", "dev-carol"), Manager()};
  for (int i = 0; i < 40; ++i) OpenCaughtUp(who[i % who.size()]);
  executor_.RunAll();
  EXPECT_EQ(notifier_.ListenerCount(), 1) << "one listener per tenant, not per stream";
  const FeedFanout::Stats before = fanout_->stats();

  const int64_t after = Latest();
  Commit(Rep("alice", "dev-alice"),
         a.Create(LeadRecord("lead-1", "alice", "Jeanne", "1", v1::VISIBILITY_TEAM), kStartMs + 1));
  executor_.RunAll();

  const FeedFanout::Stats stats = fanout_->stats();
  EXPECT_EQ(stats.shared_reads - before.shared_reads, 1);
  EXPECT_EQ(stats.own_reads - before.own_reads, 0);
  int told = 0;
  for (const auto& s : streams_) told += AnnouncedAfter(*s, after) ? 1 : 0;
  EXPECT_EQ(told, 32) << "north team and its manager, not carol";
  ExpectAnnouncedExactlyWhatPullSends(after);
}

// Streams opened at different moments and cursors, through creates,
// private and team records, a reassignment, the previous owner's edit under
// the reassignment grace (judged from the record's scope history) and a
// deletion: after every commit each stream was told exactly when a Pull
// from its cursor sends something new.
TEST_P(FeedFanoutTest, AnnouncesExactlyWhatPullSends) {
  Device a("dev-alice", "alice"), b("dev-bob", "bob"), c("dev-carol", "carol"),
      m("dev-maria", "maria");
  const Principal alice = Rep("alice", "dev-alice"), bob = Rep("bob", "dev-bob"),
                  carol = Rep("carol", "dev-carol");
  Open(alice, "");
  Open(bob, "");
  Open(carol, "");
  Open(Manager(), "");
  executor_.RunAll();

  int64_t after = Latest();
  auto step = [&](const Principal& who, v1::Mutation mutation) {
    Commit(who, std::move(mutation));
    executor_.RunAll();
    ExpectAnnouncedExactlyWhatPullSends(after);
    after = Latest();
  };
  step(alice, a.Create(LeadRecord("lead-1", "alice", "Jeanne", "1"), kStartMs));
  const v1::RecordState alice_copy = *(*store_->changes().GetRecord(kTenant, [] {
    v1::RecordRef ref;
    ref.set_entity_type(v1::ENTITY_TYPE_LEAD);
    ref.set_id("lead-1");
    return ref;
  }()));
  step(alice,
       a.Create(LeadRecord("lead-2", "alice", "Paul", "2", v1::VISIBILITY_TEAM), kStartMs + 1));
  OpenCaughtUp(alice);
  OpenCaughtUp(bob);
  executor_.RunAll();

  v1::Record move;
  move.mutable_lead()->set_owner_user_id("bob");
  step(Manager(), m.Update(alice_copy, move, {"owner_user_id"}, kStartMs + 10));
  Open(alice, "");  // behind the head: catches up on its own
  OpenCaughtUp(alice);
  OpenCaughtUp(bob);
  executor_.RunAll();

  clock_.Advance(3600 * 1000);
  v1::Record notes;
  notes.mutable_lead()->set_notes("Wants a demo on Tuesday");
  step(alice, a.Update(alice_copy, notes, {"notes"}, kStartMs + 20));
  step(carol,
       c.Create(LeadRecord("lead-3", "carol", "Ana", "3", v1::VISIBILITY_TEAM), kStartMs + 30));
  auto bobs = *store_->changes().GetRecord(kTenant, alice_copy.ref());
  ASSERT_TRUE(bobs.has_value());
  step(bob, b.Delete(*bobs, kStartMs + 40));
  EXPECT_GT(fanout_->stats().shared_reads, 0);
}

TEST_P(FeedFanoutTest, StreamBehindTheHeadCatchesUpInBatchesThenSharesTheReads) {
  options_.batch = 2;
  fanout_ = std::make_unique<FeedFanout>(&store_->changes(), &notifier_, executor_.AsExecutor(),
                                         options_);
  Device a("dev-alice", "alice");
  OpenCaughtUp(Rep("bob", "dev-bob"));
  executor_.RunAll();
  for (int i = 0; i < 5; ++i) {
    Commit(Rep("alice", "dev-alice"), a.Create(LeadRecord("lead-" + std::to_string(i), "alice", "J",
                                                          std::to_string(i), v1::VISIBILITY_TEAM),
                                               kStartMs + i));
  }
  executor_.RunAll();

  const FeedFanout::Stats before = fanout_->stats();
  Stream* late = Open(Rep("alice", "dev-alice-2"), "");
  executor_.RunAll();
  EXPECT_GE(fanout_->stats().own_reads - before.own_reads, 3) << "5 rows in batches of 2";
  ASSERT_FALSE(late->announced.empty());
  EXPECT_EQ(*std::max_element(late->announced.begin(), late->announced.end()), Latest());

  const FeedFanout::Stats caught_up = fanout_->stats();
  const int64_t after = Latest();
  Commit(Rep("alice", "dev-alice"),
         a.Create(LeadRecord("lead-9", "alice", "J", "9", v1::VISIBILITY_TEAM), kStartMs + 9));
  executor_.RunAll();
  EXPECT_EQ(fanout_->stats().own_reads, caught_up.own_reads) << "the rounds judge it now";
  EXPECT_TRUE(AnnouncedAfter(*late, after));
  ExpectAnnouncedExactlyWhatPullSends(after);
}

TEST_P(FeedFanoutTest, ManyAnnouncementsAreSpreadOverTheExecutor) {
  options_.announce_chunk = 4;
  fanout_ = std::make_unique<FeedFanout>(&store_->changes(), &notifier_, executor_.AsExecutor(),
                                         options_);
  Device a("dev-alice", "alice");
  for (int i = 0; i < 10; ++i) OpenCaughtUp(Rep("bob", "dev-bob"));
  executor_.RunAll();
  const int64_t after = Latest();
  Commit(Rep("alice", "dev-alice"),
         a.Create(LeadRecord("lead-1", "alice", "J", "1", v1::VISIBILITY_TEAM), kStartMs));
  EXPECT_EQ(executor_.RunAll(), 1 + 2) << "the round, then two chunks of 4 (it keeps 2)";
  for (const auto& s : streams_) EXPECT_TRUE(AnnouncedAfter(*s, after));
}

TEST_P(FeedFanoutTest, WorkTheExecutorRefusedRunsOnRetry) {
  Device a("dev-alice", "alice");
  Stream* bob = OpenCaughtUp(Rep("bob", "dev-bob"));
  executor_.RunAll();
  executor_.set_refuse(true);
  const int64_t after = Latest();
  Commit(Rep("alice", "dev-alice"),
         a.Create(LeadRecord("lead-1", "alice", "J", "1", v1::VISIBILITY_TEAM), kStartMs));
  Stream* late = Open(Rep("alice", "dev-alice-2"), "");
  EXPECT_EQ(executor_.RunAll(), 0);
  EXPECT_FALSE(AnnouncedAfter(*bob, after));

  executor_.set_refuse(false);
  fanout_->Retry();
  executor_.RunAll();
  EXPECT_TRUE(AnnouncedAfter(*bob, after));
  EXPECT_TRUE(AnnouncedAfter(*late, after));
  ExpectAnnouncedExactlyWhatPullSends(after);
}

TEST_P(FeedFanoutTest, LeavingStopsAnnouncementsAndTheLastStreamStopsListening) {
  Device a("dev-alice", "alice");
  Stream* bob = OpenCaughtUp(Rep("bob", "dev-bob"));
  Stream* maria = OpenCaughtUp(Manager());
  executor_.RunAll();
  const int64_t after = Latest();
  Commit(Rep("alice", "dev-alice"),
         a.Create(LeadRecord("lead-1", "alice", "J", "1", v1::VISIBILITY_TEAM), kStartMs));
  fanout_->Leave(bob->handle);  // with the round queued
  executor_.RunAll();
  EXPECT_FALSE(AnnouncedAfter(*bob, after));
  EXPECT_TRUE(AnnouncedAfter(*maria, after));

  fanout_->Leave(maria->handle);
  EXPECT_EQ(notifier_.ListenerCount(), 0);
  EXPECT_EQ(fanout_->stats().tenants, 0);
  EXPECT_EQ(fanout_->stats().subscribers, 0);
  Commit(Rep("alice", "dev-alice"),
         a.Create(LeadRecord("lead-2", "alice", "J", "2", v1::VISIBILITY_TEAM), kStartMs + 1));
  EXPECT_EQ(executor_.queued(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Stores, FeedFanoutTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace crmsync::server::testing
