#include "coupon_index.h"

#include <algorithm>
#include <limits>

#include <google/protobuf/util/message_differencer.h>

#include "crmsync/sync/geo.h"
#include "crmsync/sync/record_model.h"
#include "scope.h"

namespace crmsync::server {
namespace {

namespace geo = ::crmsync::sync::geo;

// Claim counter marking a tenant whose coupons and stores were indexed
// (bump the suffix when the cell scheme changes).
constexpr char kIndexMarker[] = "index-built:coupons-v1";

bool IsIndexed(v1::EntityType type) {
  return type == v1::ENTITY_TYPE_COUPON || type == v1::ENTITY_TYPE_STORE;
}

std::vector<int64_t> GeoKeys(const v1::RecordState& s) {
  if (s.deleted()) return {};
  if (s.data().has_coupon() && s.data().coupon().has_geofence()) {
    return geo::CoverGeofence(s.data().coupon().geofence());
  }
  if (s.data().has_store() && s.data().store().has_location() &&
      geo::ValidPoint(s.data().store().location())) {
    return {geo::CellAt(s.data().store().location(), geo::kMaxLevel)};
  }
  return {};
}

// A coupon held by terminals that has an end: due for the expiry sweep then.
std::vector<int64_t> ExpiryKeys(const v1::RecordState& s) {
  if (s.deleted() || !s.data().has_coupon() || s.scope().store_ids().empty()) return {};
  const v1::Coupon& c = s.data().coupon();
  if (!c.has_valid_until()) return {};
  return {geo::SaturatedUnixMs(c.valid_until())};
}

std::vector<KeyRange> ToKeyRanges(const std::vector<geo::CellRange>& ranges) {
  std::vector<KeyRange> out;
  out.reserve(ranges.size());
  for (const auto& [lo, hi] : ranges) out.push_back(KeyRange{lo, hi});
  return out;
}

// The scope a stored coupon should have at `now_ms`.
absl::StatusOr<v1::ScopeKeys> CouponScopeNow(WriteTx* tx, const v1::RecordState& coupon,
                                             int64_t now_ms) {
  v1::ScopeKeys scope = sync::ScopeKeysOf(coupon.data());
  CompleteScopeKeys(coupon.data(), &scope);
  if (auto s = ApplyCouponScope(tx, coupon, nullptr, now_ms, &scope); !s.ok()) return s;
  return scope;
}

// Writes `coupon` again with the scope it should have now, if that differs
// from its stored scope.
absl::Status Rescope(WriteTx* tx, const v1::RecordState& coupon, int64_t now_ms, int64_t* last_seq,
                     bool* changed) {
  *changed = false;
  if (coupon.deleted()) return absl::OkStatus();
  auto scope = CouponScopeNow(tx, coupon, now_ms);
  if (!scope.ok()) return scope.status();
  if (SameScope(*scope, coupon.scope())) return absl::OkStatus();
  auto seq = tx->NextSeq();
  if (!seq.ok()) return seq.status();
  v1::RecordState next = coupon;
  next.set_version(*seq);
  *next.mutable_scope() = *scope;
  if (auto s = tx->PutRecord(next, &coupon.scope()); !s.ok()) return s;
  if (auto s = UpdateRecordIndex(tx, &coupon, next); !s.ok()) return s;
  *last_seq = std::max(*last_seq, *seq);
  *changed = true;
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyCouponScope(WriteTx* tx, const v1::RecordState& state,
                              const v1::RecordState* previous, int64_t now_ms,
                              v1::ScopeKeys* scope) {
  if (!state.data().has_coupon() || state.deleted()) return absl::OkStatus();
  const v1::Coupon& c = state.data().coupon();
  const bool exhausted =
      c.max_redemptions_total() > 0 && c.redemption_count() >= c.max_redemptions_total();
  if (!c.active() || exhausted || geo::CouponExpiredAt(c, now_ms)) {
    // Inactive, exhausted or over: no terminal holds it. (A coupon that is
    // not valid yet stays, so offline terminals have it when it starts.)
    scope->clear_store_ids();
    return absl::OkStatus();
  }
  if (!c.has_geofence()) return absl::OkStatus();
  if (previous != nullptr && !previous->deleted() && previous->data().has_coupon() &&
      !previous->scope().store_ids().empty() &&
      google::protobuf::util::MessageDifferencer::Equals(previous->data().coupon().geofence(),
                                                         c.geofence()) &&
      std::equal(previous->data().coupon().store_ids().begin(),
                 previous->data().coupon().store_ids().end(), c.store_ids().begin(),
                 c.store_ids().end())) {
    // Same area, same named stores (e.g. a redemption count bump): the
    // stores inside are those of the stored scope, which store moves keep
    // current (RescopeCouponsAround). No lookup on the redemption path.
    *scope->mutable_store_ids() = previous->scope().store_ids();
    return absl::OkStatus();
  }
  const std::vector<geo::CellId> cover = geo::CoverGeofence(c.geofence());
  if (cover.empty()) return absl::OkStatus();
  auto stores = tx->FindIndexed(IndexKind::kGeoCell, v1::ENTITY_TYPE_STORE,
                                ToKeyRanges(geo::LookupRanges(cover)), 0);
  if (!stores.ok()) return stores.status();
  std::vector<std::string> ids(scope->store_ids().begin(), scope->store_ids().end());
  for (const v1::RecordState& s : *stores) {
    if (s.deleted() || !s.data().store().has_location()) continue;
    if (geo::DistanceToGeofenceM(c.geofence(), s.data().store().location()) <= 0) {
      ids.push_back(s.ref().id());
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  scope->clear_store_ids();
  for (std::string& id : ids) scope->add_store_ids(std::move(id));
  return absl::OkStatus();
}

absl::Status UpdateRecordIndex(WriteTx* tx, const v1::RecordState* before,
                               const v1::RecordState& after) {
  if (!IsIndexed(after.ref().entity_type())) return absl::OkStatus();
  const std::vector<int64_t> geo_after = GeoKeys(after);
  if (before == nullptr || GeoKeys(*before) != geo_after) {
    if (auto s = tx->SetIndexKeys(after.ref(), IndexKind::kGeoCell, geo_after); !s.ok()) return s;
  }
  const std::vector<int64_t> expiry_after = ExpiryKeys(after);
  if (before == nullptr || ExpiryKeys(*before) != expiry_after) {
    if (auto s = tx->SetIndexKeys(after.ref(), IndexKind::kExpiry, expiry_after); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status RescopeCouponsAround(WriteTx* tx, const v1::RecordState* before,
                                  const v1::RecordState& after, int64_t now_ms, int64_t* last_seq) {
  if (!after.data().has_store() && !(before && before->data().has_store())) {
    return absl::OkStatus();
  }
  const std::vector<int64_t> old_keys = before ? GeoKeys(*before) : std::vector<int64_t>{};
  const std::vector<int64_t> new_keys = GeoKeys(after);
  if (old_keys == new_keys) return absl::OkStatus();  // not moved, not (un)deleted
  std::vector<geo::CellId> cover(old_keys.begin(), old_keys.end());
  cover.insert(cover.end(), new_keys.begin(), new_keys.end());
  auto coupons = tx->FindIndexed(IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON,
                                 ToKeyRanges(geo::LookupRanges(cover)), 0);
  if (!coupons.ok()) return coupons.status();
  for (const v1::RecordState& coupon : *coupons) {
    bool changed = false;
    if (auto s = Rescope(tx, coupon, now_ms, last_seq, &changed); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ExpireCoupons(ChangeLog* changes, const std::string& tenant_id, int64_t now_ms,
                                  int limit, int64_t* last_seq) {
  int changed_count = 0;
  absl::Status status = changes->Write(tenant_id, [&](WriteTx& tx) -> absl::Status {
    changed_count = 0;
    auto due = tx.FindIndexed(IndexKind::kExpiry, v1::ENTITY_TYPE_COUPON,
                              {KeyRange{std::numeric_limits<int64_t>::min(), now_ms - 1}}, limit);
    if (!due.ok()) return due.status();
    for (const v1::RecordState& coupon : *due) {
      bool changed = false;
      if (auto s = Rescope(&tx, coupon, now_ms, last_seq, &changed); !s.ok()) return s;
      if (changed) {
        ++changed_count;
      } else if (auto s = UpdateRecordIndex(&tx, nullptr, coupon); !s.ok()) {
        return s;  // a stale key (cannot happen unless edited by hand): drop it
      }
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return changed_count;
}

absl::Status EnsureCouponIndex(ChangeLog* changes, const std::string& tenant_id) {
  return changes->Write(tenant_id, [&](WriteTx& tx) -> absl::Status {
    auto built = tx.GetClaim(kIndexMarker);
    if (!built.ok()) return built.status();
    if (*built > 0) return absl::OkStatus();
    // Stores first: coupon scopes look them up.
    std::vector<v1::RecordState> coupons;
    for (int64_t after = 0;;) {
      auto rows = changes->ReadSince(tenant_id, after, 1000);
      if (!rows.ok()) return rows.status();
      for (const RecordRow& row : *rows) {
        after = row.state.version();
        if (row.state.ref().entity_type() == v1::ENTITY_TYPE_STORE) {
          if (auto s = UpdateRecordIndex(&tx, nullptr, row.state); !s.ok()) return s;
        } else if (row.state.ref().entity_type() == v1::ENTITY_TYPE_COUPON) {
          coupons.push_back(row.state);
        }
      }
      if (rows->size() < 1000) break;
    }
    int64_t last_seq = 0;
    for (const v1::RecordState& coupon : coupons) {
      if (auto s = UpdateRecordIndex(&tx, nullptr, coupon); !s.ok()) return s;
      // Timeless here: expiry is left to the sweep.
      bool changed = false;
      if (auto s = Rescope(&tx, coupon, std::numeric_limits<int64_t>::min(), &last_seq, &changed);
          !s.ok()) {
        return s;
      }
    }
    return tx.AddToClaim(kIndexMarker, 1).status();
  });
}

absl::StatusOr<std::vector<v1::RecordState>> FindCouponsNear(ChangeLog* changes,
                                                             const std::string& tenant_id,
                                                             const v1::GeoPoint& at,
                                                             double radius_m, bool redeemable_only,
                                                             int64_t now_ms) {
  auto candidates =
      changes->FindIndexed(tenant_id, IndexKind::kGeoCell, v1::ENTITY_TYPE_COUPON,
                           ToKeyRanges(geo::LookupRanges(geo::CoverDisc(at, radius_m))), 0);
  if (!candidates.ok()) return candidates.status();
  std::vector<v1::RecordState> out;
  for (v1::RecordState& s : *candidates) {
    if (s.deleted()) continue;
    const v1::Coupon& c = s.data().coupon();
    if (!geo::CouponNear(c, at, radius_m)) continue;
    if (redeemable_only && !geo::CouponRedeemableAt(c, now_ms)) continue;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace crmsync::server
