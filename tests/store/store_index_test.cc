// Conformance: the record index (SetIndexKeys / FindIndexed), including
// geo cell lookups compared with a brute-force scan on both stores.
#include <optional>
#include <random>
#include <set>

#include "crmsync/sync/geo.h"
#include "store_fixture.h"

namespace crmsync::server {
namespace {

namespace geo = ::crmsync::sync::geo;

constexpr char kTenant[] = "tenant-a";
constexpr char kOther[] = "tenant-b";

class StoreIndexTest : public StoreTest {
 protected:
  // Writes `state` (new version) and its keys in one transaction.
  int64_t PutIndexed(const std::string& tenant, v1::RecordState state, IndexKind kind,
                     const std::vector<int64_t>& keys) {
    int64_t version = 0;
    absl::Status s = store().changes().Write(tenant, [&](WriteTx& tx) -> absl::Status {
      auto seq = tx.NextSeq();
      if (!seq.ok()) return seq.status();
      version = *seq;
      state.set_version(*seq);
      if (auto st = tx.PutRecord(state, nullptr); !st.ok()) return st;
      return tx.SetIndexKeys(state.ref(), kind, keys);
    });
    EXPECT_TRUE(s.ok()) << s;
    return version;
  }

  std::vector<std::string> Find(const std::string& tenant, IndexKind kind, v1::EntityType type,
                                const std::vector<KeyRange>& ranges, int limit = 0) {
    auto found = store().changes().FindIndexed(tenant, kind, type, ranges, limit);
    EXPECT_TRUE(found.ok()) << found.status();
    std::vector<std::string> ids;
    if (found.ok()) {
      for (const auto& s : *found) ids.push_back(s.ref().id());
    }
    return ids;
  }
};

// A record of `type` (a coupon, a store or a lead) named `id`.
v1::RecordState StateOf(v1::EntityType type, const std::string& id) {
  v1::RecordState s;
  s.mutable_ref()->set_entity_type(type);
  s.mutable_ref()->set_id(id);
  switch (type) {
    case v1::ENTITY_TYPE_COUPON: s.mutable_data()->mutable_coupon()->set_id(id); break;
    case v1::ENTITY_TYPE_STORE: s.mutable_data()->mutable_store()->set_id(id); break;
    default: s.mutable_data()->mutable_lead()->set_id(id); break;
  }
  return s;
}
v1::RecordState CouponState(const std::string& id) { return StateOf(v1::ENTITY_TYPE_COUPON, id); }
v1::RecordState StoreState(const std::string& id) { return StateOf(v1::ENTITY_TYPE_STORE, id); }
v1::RecordState LeadState(const std::string& id) { return StateOf(v1::ENTITY_TYPE_LEAD, id); }

using Ids = std::vector<std::string>;

TEST_P(StoreIndexTest, FindsByRangeEachRecordOnceInVersionOrder) {
  PutIndexed(kTenant, CouponState("c-late"), IndexKind::kGeoCell, {50, 51, 52});
  PutIndexed(kTenant, CouponState("c-early"), IndexKind::kGeoCell, {10});
  PutIndexed(kTenant, CouponState("c-none"), IndexKind::kGeoCell, {});
  // Rewriting c-late moves it after c-early in version order.
  PutIndexed(kTenant, CouponState("c-late"), IndexKind::kGeoCell, {50, 51, 52});
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{0, 100}}),
            (Ids{"c-early", "c-late"}));
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{51, 51}, {52, 60}}),
            (Ids{"c-late"}));
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{11, 49}}), Ids{});
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {}), Ids{});
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{0, 100}}, 1),
            (Ids{"c-early"}));
  // Kinds, entity types and tenants are separate.
  EXPECT_EQ(Find(kTenant, IndexKind::kExpiry, v1::ENTITY_TYPE_COUPON, {{0, 100}}), Ids{});
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_STORE, {{0, 100}}), Ids{});
  EXPECT_EQ(Find(kOther, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{0, 100}}), Ids{});
  // Negative and extreme keys.
  PutIndexed(kTenant, CouponState("c-neg"), IndexKind::kExpiry, {INT64_MIN, -5, INT64_MAX});
  EXPECT_EQ(Find(kTenant, IndexKind::kExpiry, v1::ENTITY_TYPE_COUPON, {{INT64_MIN, -5}}),
            (Ids{"c-neg"}));
  EXPECT_EQ(Find(kTenant, IndexKind::kExpiry, v1::ENTITY_TYPE_COUPON, {{-4, INT64_MAX - 1}}),
            Ids{});
}

TEST_P(StoreIndexTest, SetIndexKeysReplacesAndEmptyRemoves) {
  PutIndexed(kTenant, CouponState("c1"), IndexKind::kGeoCell, {1, 2});
  PutIndexed(kTenant, CouponState("c1"), IndexKind::kGeoCell, {7});
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{1, 2}}), Ids{});
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{7, 7}}), (Ids{"c1"}));
  // Another kind of the same record is untouched.
  PutIndexed(kTenant, CouponState("c1"), IndexKind::kExpiry, {99});
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{7, 7}}), (Ids{"c1"}));
  PutIndexed(kTenant, CouponState("c1"), IndexKind::kGeoCell, {});
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{0, 100}}), Ids{});
  EXPECT_EQ(Find(kTenant, IndexKind::kExpiry, v1::ENTITY_TYPE_COUPON, {{99, 99}}), (Ids{"c1"}));
}

// A transaction larger than one flush (PostgreSQL writes part of it on a
// helper thread while the rest is buffered): every lookup in it, at any
// point, sees exactly the keys written so far, early rows replaced after
// they were flushed included; and after commit everyone does.
TEST_P(StoreIndexTest, ALargeTransactionFindsEveryKeyItWroteAtEveryPoint) {
  constexpr int kMany = 1500;
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    for (int i = 0; i < kMany; ++i) {
      auto seq = tx.NextSeq();
      if (!seq.ok()) return seq.status();
      v1::RecordState c = CouponState("c" + std::to_string(i));
      c.set_version(*seq);
      if (auto st = tx.PutRecord(c, nullptr); !st.ok()) return st;
      if (auto st = tx.SetIndexKeys(c.ref(), IndexKind::kGeoCell, {i, 100000 + i}); !st.ok()) {
        return st;
      }
      if (i % 211 == 0 || i == kMany - 1) {
        auto found = tx.FindIndexed(IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{0, kMany}}, 0);
        if (!found.ok()) return found.status();
        EXPECT_EQ(found->size(), static_cast<size_t>(i + 1)) << "after record " << i;
        if (!found->empty()) {
          EXPECT_EQ(found->back().ref().id(), c.ref().id());
        }
      }
    }
    // c0 was written long ago (flushed): its new keys replace the old.
    if (auto st = tx.SetIndexKeys(CouponState("c0").ref(), IndexKind::kGeoCell, {-5}); !st.ok()) {
      return st;
    }
    auto old_key = tx.FindIndexed(IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{0, 0}}, 0);
    auto new_key = tx.FindIndexed(IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{-5, -5}}, 0);
    if (!old_key.ok()) return old_key.status();
    if (!new_key.ok()) return new_key.status();
    EXPECT_TRUE(old_key->empty());
    EXPECT_EQ(new_key->size(), 1u);
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{0, 0}}), Ids{});
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{-5, -5}}), Ids{"c0"});
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{100000, 200000}}).size(),
            static_cast<size_t>(kMany - 1));  // not c0's
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{1, kMany}}).size(),
            static_cast<size_t>(kMany - 1));
}

TEST_P(StoreIndexTest, TransactionSeesItsOwnWritesAndRollbackDiscardsThem) {
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    auto seq = tx.NextSeq();
    if (!seq.ok()) return seq.status();
    v1::RecordState c = CouponState("c-tx");
    c.set_version(*seq);
    if (auto st = tx.PutRecord(c, nullptr); !st.ok()) return st;
    if (auto st = tx.SetIndexKeys(c.ref(), IndexKind::kGeoCell, {5}); !st.ok()) return st;
    auto found = tx.FindIndexed(IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{5, 5}}, 0);
    if (!found.ok()) return found.status();
    EXPECT_EQ(found->size(), 1u);
    if (found->size() == 1) {
      EXPECT_EQ((*found)[0].version(), *seq);
    }
    return absl::AbortedError("roll back");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{5, 5}}), Ids{});
}

// Inside one transaction: keys replaced, added and removed, records
// rewritten and created, over several types, many enough that a store
// that buffers writes flushes some of them on the way.
TEST_P(StoreIndexTest, ATransactionFindsOverSeveralTypesWhatItReplacedWroteAndRemoved) {
  PutIndexed(kTenant, CouponState("c-moved"), IndexKind::kGeoCell, {1, 2});
  PutIndexed(kTenant, CouponState("c-rewritten"), IndexKind::kGeoCell, {3});
  PutIndexed(kTenant, CouponState("c-removed"), IndexKind::kGeoCell, {1});
  PutIndexed(kTenant, StoreState("s-kept"), IndexKind::kGeoCell, {3});
  PutIndexed(kTenant, CouponState("c-other-kind"), IndexKind::kExpiry, {1});
  constexpr int kMany = 2500;
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    auto put = [&](v1::RecordState state, std::optional<std::vector<int64_t>> keys) {
      auto seq = tx.NextSeq();
      if (!seq.ok()) return seq.status();
      state.set_version(*seq);
      if (auto st = tx.PutRecord(state, nullptr); !st.ok()) return st;
      return keys ? tx.SetIndexKeys(state.ref(), IndexKind::kGeoCell, *keys) : absl::OkStatus();
    };
    if (auto st = put(CouponState("c-moved"), std::vector<int64_t>{7}); !st.ok()) return st;
    // A new state, the same keys (not written again).
    v1::RecordState rewritten = CouponState("c-rewritten");
    rewritten.mutable_data()->mutable_coupon()->set_title("rewritten");
    if (auto st = put(rewritten, std::nullopt); !st.ok()) return st;
    if (auto st = put(CouponState("c-removed"), std::vector<int64_t>{}); !st.ok()) return st;
    if (auto st = put(CouponState("c-new"), std::vector<int64_t>{1}); !st.ok()) return st;
    for (int i = 0; i < kMany; ++i) {
      if (auto st = put(CouponState("c-bulk-" + std::to_string(i)), std::vector<int64_t>{100 + i});
          !st.ok()) {
        return st;
      }
    }
    // A key replaced twice: the last keys count.
    if (auto st = put(CouponState("c-twice"), std::vector<int64_t>{2}); !st.ok()) return st;
    if (auto st = put(CouponState("c-twice"), std::vector<int64_t>{8}); !st.ok()) return st;

    auto found =
        tx.FindIndexedIn(IndexKind::kGeoCell, {v1::ENTITY_TYPE_COUPON, v1::ENTITY_TYPE_STORE},
                         {{1, 1}, {2, 3}, {7, 8}}, 0);
    if (!found.ok()) return found.status();
    Ids ids;
    for (const auto& r : *found) ids.push_back(r.ref().id());
    // In version order: s-kept was written before this transaction.
    EXPECT_EQ(ids, (Ids{"s-kept", "c-moved", "c-rewritten", "c-new", "c-twice"}));
    for (const auto& r : *found) {
      if (r.ref().id() == "c-rewritten") {
        EXPECT_EQ(r.data().coupon().title(), "rewritten") << "the transaction's state";
      }
    }
    auto bulk =
        tx.FindIndexed(IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{100, 100 + kMany - 1}}, 0);
    if (!bulk.ok()) return bulk.status();
    EXPECT_EQ(bulk->size(), static_cast<size_t>(kMany));
    auto first = tx.FindIndexedIn(IndexKind::kGeoCell,
                                  {v1::ENTITY_TYPE_STORE, v1::ENTITY_TYPE_COUPON}, {{1, 8}}, 2);
    if (!first.ok()) return first.status();
    Ids first_ids;
    for (const auto& r : *first) first_ids.push_back(r.ref().id());
    EXPECT_EQ(first_ids, (Ids{"s-kept", "c-moved"}));
    EXPECT_EQ(tx.FindIndexedIn(IndexKind::kGeoCell, {}, {{1, 1}}, 0).status().code(),
              absl::StatusCode::kInvalidArgument);
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  // Committed, the same.
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{1, 1}, {2, 3}, {7, 8}}),
            (Ids{"c-moved", "c-rewritten", "c-new", "c-twice"}));
  EXPECT_EQ(Find(kTenant, IndexKind::kExpiry, v1::ENTITY_TYPE_COUPON, {{1, 1}}),
            (Ids{"c-other-kind"}));
  EXPECT_EQ(Find(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{100, 100 + kMany}}).size(),
            static_cast<size_t>(kMany));
}

TEST_P(StoreIndexTest, RefusesMalformedQueriesAndKeys) {
  EXPECT_EQ(store()
                .changes()
                .FindIndexed(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {{5, 4}}, 0)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store()
                .changes()
                .FindIndexed(kTenant, static_cast<IndexKind>(9), v1::ENTITY_TYPE_COUPON, {}, 0)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store()
                .changes()
                .FindIndexed(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_UNSPECIFIED, {}, 0)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store()
                .changes()
                .FindIndexed(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON, {}, -1)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    v1::RecordRef bad;  // no type, no id
    EXPECT_EQ(tx.SetIndexKeys(bad, IndexKind::kGeoCell, {1}).code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(
        tx.SetIndexKeys(CouponState("c").ref(), IndexKind::kGeoCell, std::vector<int64_t>(5000, 1))
            .code(),
        absl::StatusCode::kInvalidArgument);
    // Validation errors leave the transaction usable.
    return tx.SetIndexKeys(CouponState("c").ref(), IndexKind::kGeoCell, {1});
  });
  EXPECT_TRUE(s.ok()) << s;
}

// Kinds other than geo cells and expiry times are looked up one key at a
// time (PostgreSQL keeps them in a hash index of tenant, kind and key): each
// key finds its records and no one else's, whatever the tenant, kind or
// type, extreme keys included; a range wider than one key is refused.
TEST_P(StoreIndexTest, KindsOfSingleKeysFindEachKeyAndRefuseRanges) {
  const std::vector<IndexKind> kinds = {IndexKind::kDuplicateKey, IndexKind::kReference,
                                        IndexKind::kCustomFieldOf};
  for (IndexKind kind : kinds) {
    const std::string k = std::to_string(static_cast<int>(kind));
    PutIndexed(kTenant, LeadState("l1-" + k), kind, {INT64_MIN, -5, 0, 7});
    PutIndexed(kTenant, LeadState("l2-" + k), kind, {7, INT64_MAX});
    // The same keys in another tenant.
    PutIndexed(kOther, LeadState("o1-" + k), kind, {-5, 7});
  }
  for (IndexKind kind : kinds) {
    const std::string k = std::to_string(static_cast<int>(kind));
    const Ids one = {"l1-" + k};
    EXPECT_EQ(Find(kTenant, kind, v1::ENTITY_TYPE_LEAD, {{INT64_MIN, INT64_MIN}}), one);
    EXPECT_EQ(Find(kTenant, kind, v1::ENTITY_TYPE_LEAD, {{0, 0}, {-5, -5}, {0, 0}}), one);
    EXPECT_EQ(Find(kTenant, kind, v1::ENTITY_TYPE_LEAD, {{7, 7}}), (Ids{"l1-" + k, "l2-" + k}));
    EXPECT_EQ(Find(kTenant, kind, v1::ENTITY_TYPE_LEAD, {{INT64_MAX, INT64_MAX}, {8, 8}}),
              (Ids{"l2-" + k}));
    EXPECT_EQ(Find(kOther, kind, v1::ENTITY_TYPE_LEAD, {{7, 7}, {0, 0}}), (Ids{"o1-" + k}));
    EXPECT_EQ(Find(kTenant, kind, v1::ENTITY_TYPE_CONTACT, {{7, 7}}), Ids{});
    EXPECT_EQ(store()
                  .changes()
                  .FindIndexed(kTenant, kind, v1::ENTITY_TYPE_LEAD, {{6, 7}}, 0)
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument);
  }
  // Inside a write transaction: replaced keys go, over several types.
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    if (auto st = tx.SetIndexKeys(LeadState("l1-3").ref(), IndexKind::kDuplicateKey, {8});
        !st.ok()) {
      return st;
    }
    auto found =
        tx.FindIndexedIn(IndexKind::kDuplicateKey, {v1::ENTITY_TYPE_CONTACT, v1::ENTITY_TYPE_LEAD},
                         {{7, 7}, {8, 8}}, 0);
    EXPECT_TRUE(found.ok()) << found.status();
    if (found.ok()) {
      Ids ids;
      for (const auto& r : *found) ids.push_back(r.ref().id());
      EXPECT_EQ(ids, (Ids{"l1-3", "l2-3"}));
    }
    EXPECT_EQ(
        tx.FindIndexed(IndexKind::kReference, v1::ENTITY_TYPE_LEAD, {{0, 1}}, 0).status().code(),
        absl::StatusCode::kInvalidArgument);
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(Find(kTenant, IndexKind::kDuplicateKey, v1::ENTITY_TYPE_LEAD, {{-5, -5}}), Ids{});
  EXPECT_EQ(Find(kTenant, IndexKind::kDuplicateKey, v1::ENTITY_TYPE_LEAD, {{8, 8}}), (Ids{"l1-3"}));
}

// The geo lookup of logic/coupon_index on a real store: random fences
// around two cities, random queries; same answer as a brute-force scan.
TEST_P(StoreIndexTest, GeoLookupMatchesBruteForce) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<v1::Coupon> coupons;
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    for (int i = 0; i < 600; ++i) {
      v1::RecordState st = CouponState("c" + std::to_string(i));
      v1::Coupon* c = st.mutable_data()->mutable_coupon();
      v1::GeoPoint* centre = c->mutable_geofence()->mutable_circle()->mutable_center();
      const bool paris = i % 2 == 0;
      centre->set_latitude((paris ? 48.85 : 45.76) + 0.3 * (unit(rng) - 0.5));
      centre->set_longitude((paris ? 2.35 : 4.83) + 0.4 * (unit(rng) - 0.5));
      c->mutable_geofence()->mutable_circle()->set_radius_m(100 + 3000 * unit(rng));
      auto seq = tx.NextSeq();
      if (!seq.ok()) return seq.status();
      st.set_version(*seq);
      if (auto w = tx.PutRecord(st, nullptr); !w.ok()) return w;
      if (auto w =
              tx.SetIndexKeys(st.ref(), IndexKind::kGeoCell, geo::CoverGeofence(c->geofence()));
          !w.ok()) {
        return w;
      }
      coupons.push_back(*c);
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  int hits = 0;
  for (int q = 0; q < 150; ++q) {
    v1::GeoPoint at;
    const bool paris = q % 2 == 0;
    at.set_latitude((paris ? 48.85 : 45.76) + 0.4 * (unit(rng) - 0.5));
    at.set_longitude((paris ? 2.35 : 4.83) + 0.5 * (unit(rng) - 0.5));
    const double radius = q % 3 == 0 ? 0 : 5000 * unit(rng);
    std::set<std::string> brute, indexed;
    for (const v1::Coupon& c : coupons) {
      if (geo::CouponNear(c, at, radius)) brute.insert(c.id());
    }
    std::vector<KeyRange> ranges;
    for (const auto& [lo, hi] : geo::LookupRanges(geo::CoverDisc(at, radius))) {
      ranges.push_back({lo, hi});
    }
    auto found = store().changes().FindIndexed(kTenant, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON,
                                               ranges, 0);
    ASSERT_TRUE(found.ok()) << found.status();
    for (const auto& st : *found) {
      if (geo::CouponNear(st.data().coupon(), at, radius)) indexed.insert(st.ref().id());
    }
    ASSERT_EQ(brute, indexed) << "query " << q;
    hits += !brute.empty();
  }
  EXPECT_GT(hits, 50);
}

CRMSYNC_INSTANTIATE_STORE_SUITE(StoreIndexTest);

}  // namespace
}  // namespace crmsync::server
