// Conformance: the bounded exactly-once log (applied floors) and claim
// listing/deletion used by the pruner (docs/storage.md, "Bounded storage").
#include "store_fixture.h"

namespace crmsync::server {
namespace {

constexpr char kTenant[] = "tenant-a";
constexpr char kOther[] = "tenant-b";

class StoreBoundedTest : public StoreTest {
 protected:
  // Records results 1..n of `device` in one transaction.
  void PutResults(const std::string& tenant, const std::string& device, int64_t from, int64_t to) {
    absl::Status s = store().changes().Write(tenant, [&](WriteTx& tx) -> absl::Status {
      for (int64_t seq = from; seq <= to; ++seq) {
        AppliedMutation a;
        a.device_id = device;
        a.client_seq = seq;
        a.payload_hash = "h" + std::to_string(seq);
        a.result.set_client_seq(seq);
        if (auto put = tx.PutApplied(a); !put.ok()) return put;
      }
      return absl::OkStatus();
    });
    ASSERT_TRUE(s.ok()) << s;
  }

  // Which of client_seqs from..to of `device` still have a stored result.
  std::vector<int64_t> Stored(const std::string& tenant, const std::string& device, int64_t from,
                              int64_t to) {
    std::vector<int64_t> seqs;
    absl::Status s = store().changes().Write(tenant, [&](WriteTx& tx) -> absl::Status {
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

  absl::StatusOr<AppliedFloor> Raise(const std::string& tenant, const std::string& device,
                                     int64_t through) {
    AppliedFloor floor;
    absl::Status s = store().changes().Write(tenant, [&](WriteTx& tx) -> absl::Status {
      auto f = tx.RaiseAppliedFloor(device, through);
      if (!f.ok()) return f.status();
      floor = *f;
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return floor;
  }
};

TEST_P(StoreBoundedTest, RaisingTheFloorDeletesOnlyThatDevicesRowsAtOrBelowIt) {
  PutResults(kTenant, "dev-1", 1, 5);
  PutResults(kTenant, "dev-2", 1, 3);
  PutResults(kOther, "dev-1", 1, 3);

  auto floor = Raise(kTenant, "dev-1", 3);
  ASSERT_TRUE(floor.ok()) << floor.status();
  EXPECT_EQ(floor->floor, 3);
  EXPECT_EQ(floor->rows_removed, 3);
  EXPECT_EQ(Stored(kTenant, "dev-1", 1, 5), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(Stored(kTenant, "dev-2", 1, 3), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(Stored(kOther, "dev-1", 1, 3), (std::vector<int64_t>{1, 2, 3}));
}

TEST_P(StoreBoundedTest, FloorNeverGoesDownAndZeroOnlyReadsIt) {
  PutResults(kTenant, "dev-1", 1, 5);
  EXPECT_EQ(Raise(kTenant, "dev-1", 0)->floor, 0) << "no floor yet";
  EXPECT_EQ(Raise(kTenant, "dev-1", 4)->floor, 4);
  auto lower = Raise(kTenant, "dev-1", 2);  // a delayed, older acknowledgement
  ASSERT_TRUE(lower.ok());
  EXPECT_EQ(lower->floor, 4);
  EXPECT_EQ(lower->rows_removed, 0);
  EXPECT_EQ(Raise(kTenant, "dev-1", 0)->floor, 4);
  EXPECT_EQ(Stored(kTenant, "dev-1", 1, 5), (std::vector<int64_t>{5}));
  EXPECT_EQ(Raise(kTenant, "dev-2", 0)->floor, 0) << "floors are per device";
}

TEST_P(StoreBoundedTest, FloorRollsBackWithItsTransaction) {
  PutResults(kTenant, "dev-1", 1, 3);
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    auto f = tx.RaiseAppliedFloor("dev-1", 3);
    EXPECT_TRUE(f.ok());
    EXPECT_FALSE(tx.GetApplied("dev-1", 2)->has_value()) << "gone inside the transaction";
    return absl::AbortedError("rolled back on purpose");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Raise(kTenant, "dev-1", 0)->floor, 0);
  EXPECT_EQ(Stored(kTenant, "dev-1", 1, 3), (std::vector<int64_t>{1, 2, 3}));
}

TEST_P(StoreBoundedTest, RowsWrittenEarlierInTheSameTransactionAreDeletedToo) {
  // PostgreSQL buffers PutApplied until commit: the floor must still see them.
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    EXPECT_TRUE(tx.Prefetch({}, "dev-1", {1, 2, 3}).ok());
    for (int64_t seq = 1; seq <= 3; ++seq) {
      AppliedMutation a;
      a.device_id = "dev-1";
      a.client_seq = seq;
      a.payload_hash = "h";
      EXPECT_TRUE(tx.PutApplied(a).ok());
    }
    auto f = tx.RaiseAppliedFloor("dev-1", 2);
    if (!f.ok()) return f.status();
    EXPECT_EQ(f->rows_removed, 2);
    EXPECT_FALSE(tx.GetApplied("dev-1", 1)->has_value());
    EXPECT_TRUE(tx.GetApplied("dev-1", 3)->has_value());
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Stored(kTenant, "dev-1", 1, 3), (std::vector<int64_t>{3}));
}

// A raise also tells the store how far the device's results go (PostgreSQL
// then answers lookups above that from memory): every result stored above
// the floor is still found, by a prefetch or one at a time, and a result
// put after the raise counts as stored.
TEST_P(StoreBoundedTest, AfterARaiseEveryResultAboveTheFloorIsStillFound) {
  PutResults(kTenant, "dev-1", 1, 6);
  PutResults(kTenant, "dev-2", 1, 9);
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    auto f = tx.RaiseAppliedFloor("dev-1", 2);
    if (!f.ok()) return f.status();
    EXPECT_EQ(f->floor, 2);
    EXPECT_TRUE(tx.Prefetch({}, "dev-1", {3, 4, 7, 8}).ok());
    for (int64_t seq = 3; seq <= 6; ++seq) {
      EXPECT_TRUE(tx.GetApplied("dev-1", seq)->has_value()) << seq;
    }
    EXPECT_FALSE(tx.GetApplied("dev-1", 7)->has_value());
    EXPECT_FALSE(tx.GetApplied("dev-1", 8)->has_value());
    EXPECT_TRUE(tx.GetApplied("dev-2", 9)->has_value()) << "another device's results";
    AppliedMutation again;
    again.device_id = "dev-1";
    again.client_seq = 5;
    again.payload_hash = "h5";
    EXPECT_EQ(tx.PutApplied(again).code(), absl::StatusCode::kAlreadyExists);
    AppliedMutation next = again;
    next.client_seq = 7;
    EXPECT_TRUE(tx.PutApplied(next).ok());
    EXPECT_TRUE(tx.GetApplied("dev-1", 7)->has_value());
    EXPECT_EQ(tx.PutApplied(next).code(), absl::StatusCode::kAlreadyExists);
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  // A raise through 0 only reads the floor, and still tells the highest.
  s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    auto f = tx.RaiseAppliedFloor("dev-1", 0);
    if (!f.ok()) return f.status();
    EXPECT_EQ(f->floor, 2);
    EXPECT_TRUE(tx.GetApplied("dev-1", 7)->has_value());
    EXPECT_TRUE(tx.GetApplied("dev-1", 3)->has_value());
    EXPECT_FALSE(tx.GetApplied("dev-1", 8)->has_value());
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Stored(kTenant, "dev-1", 1, 8), (std::vector<int64_t>{3, 4, 5, 6, 7}));
}

TEST_P(StoreBoundedTest, ForgetDropsEveryResultAndSetsTheFloorToTheHighest) {
  PutResults(kTenant, "dev-1", 1, 7);
  ASSERT_TRUE(Raise(kTenant, "dev-1", 2).ok());
  AppliedFloor forgot;
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    auto f = tx.ForgetAppliedResults("dev-1");
    if (!f.ok()) return f.status();
    forgot = *f;
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(forgot.floor, 7);
  EXPECT_EQ(forgot.rows_removed, 5);
  EXPECT_TRUE(Stored(kTenant, "dev-1", 1, 7).empty());
  EXPECT_EQ(Raise(kTenant, "dev-1", 0)->floor, 7);

  // A device with no results keeps its floor (none, or the old one).
  s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    auto again = tx.ForgetAppliedResults("dev-1");
    EXPECT_TRUE(again.ok());
    EXPECT_EQ(again->floor, 7);
    EXPECT_EQ(again->rows_removed, 0);
    auto none = tx.ForgetAppliedResults("dev-never");
    EXPECT_TRUE(none.ok());
    EXPECT_EQ(none->floor, 0);
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
}

TEST_P(StoreBoundedTest, FloorInputIsValidated) {
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    EXPECT_EQ(tx.RaiseAppliedFloor("", 1).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(tx.RaiseAppliedFloor("dev-1", -1).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(tx.ForgetAppliedResults("").status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(tx.ListClaims("coupon:", "", 0).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(tx.DeleteClaims({""}).status().code(), absl::StatusCode::kInvalidArgument);
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(StoreBoundedTest, ClaimsAreListedByPrefixInByteOrderAndDeleted) {
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    for (const char* key : {"coupon:b", "coupon:a:customer:Z", "coupon:a", "coupon:a:customer:b",
                            "admin-console-seq", "index-built:coupons-v1", "couponless"}) {
      if (auto added = tx.AddToClaim(key, 2); !added.ok()) return added.status();
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kOther, [](WriteTx& tx) { return tx.AddToClaim("coupon:a", 1).status(); })
                  .ok());

  std::vector<std::string> listed;
  s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    listed.clear();
    std::string after;
    for (;;) {
      auto page = tx.ListClaims("coupon:", after, 2);
      if (!page.ok()) return page.status();
      for (const ClaimRow& row : *page) {
        listed.push_back(row.key);
        EXPECT_EQ(row.value, 2);
      }
      if (page->size() < 2) break;
      after = page->back().key;
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  // Bytewise: 'Z' (0x5a) sorts before 'b' (0x62), whatever the collation.
  EXPECT_EQ(listed, (std::vector<std::string>{"coupon:a", "coupon:a:customer:Z",
                                              "coupon:a:customer:b", "coupon:b"}));

  s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    auto n = tx.DeleteClaims({"coupon:a", "coupon:a:customer:b", "coupon:never"});
    if (!n.ok()) return n.status();
    EXPECT_EQ(*n, 2);
    EXPECT_EQ(*tx.GetClaim("coupon:a"), 0);
    EXPECT_EQ(*tx.GetClaim("coupon:a:customer:Z"), 2);
    EXPECT_EQ(*tx.GetClaim("admin-console-seq"), 2);
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  s = store().changes().Write(kOther, [&](WriteTx& tx) -> absl::Status {
    EXPECT_EQ(*tx.GetClaim("coupon:a"), 1) << "other tenants' claims are untouched";
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
}

CRMSYNC_INSTANTIATE_STORE_SUITE(StoreBoundedTest);

}  // namespace
}  // namespace crmsync::server
