#include "crmsync/sync/hlc.h"

#include <gtest/gtest.h>

#include <limits>

namespace crmsync::sync {
namespace {

v1::HlcTimestamp Hlc(int64_t wall, uint32_t logical, const std::string& node) {
  v1::HlcTimestamp t;
  t.set_wall_time_ms(wall);
  t.set_logical(logical);
  t.set_node_id(node);
  return t;
}

TEST(HlcTest, TotalOrderIsWallThenLogicalThenNode) {
  EXPECT_LT(CompareHlc(Hlc(1, 9, "z"), Hlc(2, 0, "a")), 0);
  EXPECT_LT(CompareHlc(Hlc(2, 0, "z"), Hlc(2, 1, "a")), 0);
  EXPECT_LT(CompareHlc(Hlc(2, 1, "a"), Hlc(2, 1, "b")), 0);
  EXPECT_GT(CompareHlc(Hlc(2, 1, "b"), Hlc(2, 1, "a")), 0);
  EXPECT_EQ(CompareHlc(Hlc(2, 1, "a"), Hlc(2, 1, "a")), 0);
}

TEST(HlcTest, NowFollowsPhysicalTimeAndNeverGoesBack) {
  HybridLogicalClock clock("dev");
  v1::HlcTimestamp a = clock.Now(1000);
  EXPECT_EQ(a.wall_time_ms(), 1000);
  EXPECT_EQ(a.logical(), 0u);
  EXPECT_EQ(a.node_id(), "dev");
  v1::HlcTimestamp b = clock.Now(1000);
  EXPECT_EQ(b.logical(), 1u);
  v1::HlcTimestamp c = clock.Now(500);  // Physical clock stepped back.
  EXPECT_GT(CompareHlc(c, b), 0);
  EXPECT_EQ(c.wall_time_ms(), 1000);
  v1::HlcTimestamp d = clock.Now(2000);
  EXPECT_EQ(d.wall_time_ms(), 2000);
  EXPECT_EQ(d.logical(), 0u);
}

TEST(HlcTest, ReceiveOrdersAfterRemoteAndLocal) {
  HybridLogicalClock clock("dev");
  clock.Now(1000);
  v1::HlcTimestamp r = clock.Receive(Hlc(5000, 3, "srv"), 1200);
  EXPECT_EQ(r.wall_time_ms(), 5000);
  EXPECT_EQ(r.logical(), 4u);
  EXPECT_GT(CompareHlc(clock.Now(1300), Hlc(5000, 3, "srv")), 0);
  // Equal walls on both sides: max logical + 1.
  HybridLogicalClock c2("dev");
  c2.Now(7000);
  c2.Now(7000);  // logical 1
  v1::HlcTimestamp r2 = c2.Receive(Hlc(7000, 5, "x"), 6000);
  EXPECT_EQ(r2.wall_time_ms(), 7000);
  EXPECT_EQ(r2.logical(), 6u);
  // Physical time ahead of both: logical resets.
  v1::HlcTimestamp r3 = c2.Receive(Hlc(7000, 9, "x"), 9000);
  EXPECT_EQ(r3.wall_time_ms(), 9000);
  EXPECT_EQ(r3.logical(), 0u);
}

TEST(HlcTest, ReceiveClampsReadingsTooFarInTheFuture) {
  HybridLogicalClock clock("srv", HlcOptions{60'000});
  const int64_t now = 1'000'000;
  v1::HlcTimestamp r = clock.Receive(Hlc(now + 3'600'000, 0, "bad"), now);
  EXPECT_EQ(r.wall_time_ms(), now + 60'000);
  EXPECT_TRUE(IsBeyondSkew(Hlc(now + 60'001, 0, "x"), now, 60'000));
  EXPECT_FALSE(IsBeyondSkew(Hlc(now + 60'000, 0, "x"), now, 60'000));
  v1::HlcTimestamp c = ClampHlc(Hlc(now + 90'000, 7, "x"), now, 60'000);
  EXPECT_EQ(c.wall_time_ms(), now + 60'000);
  EXPECT_EQ(c.logical(), 7u);
  EXPECT_EQ(c.node_id(), "x");
  EXPECT_EQ(ClampHlc(Hlc(now + 10, 1, "x"), now, 60'000).wall_time_ms(), now + 10);
}

TEST(HlcTest, ConfigurableSkew) {
  HybridLogicalClock clock("srv", HlcOptions{1000});
  v1::HlcTimestamp r = clock.Receive(Hlc(50'000, 0, "x"), 10'000);
  EXPECT_EQ(r.wall_time_ms(), 11'000);
}

TEST(HlcTest, LogicalOverflowBorrowsNextMillisecond) {
  HybridLogicalClock clock("dev");
  clock.Restore(Hlc(100, std::numeric_limits<uint32_t>::max(), "dev"));
  v1::HlcTimestamp t = clock.Now(50);
  EXPECT_EQ(t.wall_time_ms(), 101);
  EXPECT_EQ(t.logical(), 0u);
}

TEST(HlcTest, RestoreNeverMovesBackwards) {
  HybridLogicalClock clock("dev");
  clock.Now(5000);
  clock.Restore(Hlc(1000, 0, "dev"));
  EXPECT_EQ(clock.Last().wall_time_ms(), 5000);
  clock.Restore(Hlc(8000, 2, "dev"));
  EXPECT_EQ(clock.Now(100).wall_time_ms(), 8000);
  EXPECT_EQ(clock.Last().logical(), 3u);
}

TEST(HlcTest, StrictlyMonotonicUnderRandomInputs) {
  HybridLogicalClock clock("dev");
  v1::HlcTimestamp last = clock.Last();
  uint64_t x = 12345;
  for (int i = 0; i < 5000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const int64_t phys = 1000 + static_cast<int64_t>((x >> 33) % 5000);
    v1::HlcTimestamp next;
    if ((x >> 20) & 1) {
      next = clock.Now(phys);
    } else {
      v1::HlcTimestamp remote = Hlc(1000 + static_cast<int64_t>((x >> 13) % 200'000),
                                    static_cast<uint32_t>((x >> 7) % 4), "r");
      next = clock.Receive(remote, phys);
      EXPECT_GT(CompareHlc(next, ClampHlc(remote, phys, kDefaultMaxClockSkewMs)), 0);
    }
    ASSERT_GT(CompareHlc(next, last), 0) << "step " << i;
    last = next;
  }
}

}  // namespace
}  // namespace crmsync::sync
