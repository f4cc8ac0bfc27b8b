// The retail entity types' part of the push path (entity_hooks.h):
//  * Redemption: a REDEEM is arbitrated before the merge (limits, validity,
//    geofence; loyalty.h), a lost arbitration is reported REJECTED, and an
//    accepted one counts on its coupon and credits its bonus points in the
//    same transaction;
//  * LoyaltyAccount: a debit may not take the balance below zero;
//  * Coupon: its terminal scope follows its geofence and validity, and the
//    record index its cells and expiry;
//  * Store: the record index follows its location, and the coupons around
//    it are re-scoped when it moves.
#include "coupon_index.h"
#include "custom_fields.h"
#include "duplicates.h"
#include "entity_hooks.h"
#include "loyalty.h"
#include "references.h"

namespace crmsync::server {
namespace {

class RedeemHooks final : public MutationHooks {
 public:
  absl::Status BeforeMerge(PushTxn& txn, const v1::Mutation& m, const v1::RecordState* current,
                           const v1::Mutation** to_merge) override {
    auto decision =
        ArbitrateRedemption(&txn.tx(), txn.who(), m, current, txn.now_ms(), txn.retention_ms());
    if (!decision.ok()) return decision.status();
    decision_ = std::move(*decision);
    *to_merge = &decision_->effective;
    return absl::OkStatus();
  }

  void AdjustResult(const sync::MergeResult& merged, v1::MutationResult* r) override {
    if (decision_ && !decision_->accepted && merged.outcome != v1::MUTATION_OUTCOME_REJECTED) {
      // The losing redemption is kept (status REJECTED) for the till and audit.
      r->set_outcome(v1::MUTATION_OUTCOME_REJECTED);
      r->set_reject_reason(decision_->reason);
      r->set_message(decision_->message);
    }
  }

  absl::Status AfterWrite(PushTxn& txn, const sync::MergeResult& merged) override {
    if (!decision_ || !decision_->accepted || !merged.changed) return absl::OkStatus();
    const RedemptionDecision& d = *decision_;
    // The coupon's count (and deactivation once exhausted).
    if (auto s = txn.ApplyServerChange(d.coupon,
                                       CouponCountMutation(d.coupon, d.new_count, txn.now_ms()));
        !s.ok()) {
      return s;
    }
    if (d.bonus_points <= 0) return absl::OkStatus();
    // The bonus points, credited in the redemption's transaction: a retried
    // push returns the stored result and credits nothing again.
    auto account = txn.tx().GetRecord(d.credit_account);
    if (!account.ok()) return account.status();
    if (!account->has_value()) {
      return absl::InternalError("loyalty account " + d.credit_account.id() + " vanished");
    }
    return txn.ApplyServerChange(
        **account, PointsCreditMutation(d.credit_account, d.bonus_points, txn.now_ms()));
  }

 private:
  std::optional<RedemptionDecision> decision_;
};

class RedemptionHooks final : public EntityHooks {
 public:
  void PrefetchRefs(const v1::Mutation& m, std::vector<v1::RecordRef>* refs) const override {
    if (m.operation() != v1::OPERATION_REDEEM || !m.values().has_redemption()) return;
    v1::RecordRef& coupon = refs->emplace_back();
    coupon.set_entity_type(v1::ENTITY_TYPE_COUPON);
    coupon.set_id(m.values().redemption().coupon_id());
  }
  std::unique_ptr<MutationHooks> ForMutation(const v1::Mutation& m) const override {
    if (m.operation() != v1::OPERATION_REDEEM) return nullptr;
    return std::make_unique<RedeemHooks>();
  }
};

class BalanceHooks final : public MutationHooks {
 public:
  // A debit that would take a points balance below zero is refused.
  std::optional<v1::MutationResult> Check(const v1::Mutation& m, const v1::RecordState* current,
                                          const sync::MergeResult& merged) override {
    if (!merged.changed || !merged.new_state.data().has_loyalty_account()) return std::nullopt;
    const int64_t after = merged.new_state.data().loyalty_account().points_balance();
    const int64_t before = current ? current->data().loyalty_account().points_balance() : 0;
    if (after >= 0 || after >= before) return std::nullopt;
    v1::MutationResult r =
        RejectedResult(m, v1::REJECT_REASON_INSUFFICIENT_BALANCE,
                       "points balance is " + std::to_string(before) +
                           "; this debit would take it to " + std::to_string(after));
    if (current) *r.mutable_record() = *current;
    return r;
  }
};

class LoyaltyAccountHooks final : public EntityHooks {
 public:
  std::unique_ptr<MutationHooks> ForMutation(const v1::Mutation&) const override {
    return std::make_unique<BalanceHooks>();
  }
};

class CouponHooks final : public EntityHooks {
 public:
  absl::Status BeforePut(PushTxn& txn, const v1::RecordState* current,
                         v1::RecordState* state) const override {
    return ApplyCouponScope(&txn.tx(), *state, current, txn.now_ms(), state->mutable_scope());
  }
  absl::Status AfterPut(PushTxn& txn, const v1::RecordState* current,
                        const v1::RecordState& state) const override {
    return UpdateRecordIndex(&txn.tx(), current, state);
  }
};

class StoreHooks final : public EntityHooks {
 public:
  absl::Status AfterPut(PushTxn& txn, const v1::RecordState* current,
                        const v1::RecordState& state) const override {
    if (auto s = UpdateRecordIndex(&txn.tx(), current, state); !s.ok()) return s;
    int64_t last_seq = 0;
    absl::Status s = RescopeCouponsAround(&txn.tx(), current, state, txn.now_ms(), &last_seq);
    if (last_seq > 0) txn.NoteSideSeq(last_seq);
    return s;
  }
};

}  // namespace

const EntityHooks& HooksFor(v1::EntityType type) {
  static const EntityHooks kNone;
  static const RedemptionHooks kRedemption;
  static const LoyaltyAccountHooks kLoyaltyAccount;
  static const CouponHooks kCoupon;
  static const StoreHooks kStore;
  static const std::unique_ptr<EntityHooks> kReferring = MakeReferenceHooks(&kNone);
  // A redemption names its card, a card its contact (the customer timeline).
  static const std::unique_ptr<EntityHooks> kRedemptionRefs = MakeReferenceHooks(&kRedemption);
  static const std::unique_ptr<EntityHooks> kLoyaltyRefs = MakeReferenceHooks(&kLoyaltyAccount);
  static const std::unique_ptr<EntityHooks> kContact = MakeReferenceHooks(&IdentityHooks());
  switch (type) {
    case v1::ENTITY_TYPE_REDEMPTION: return *kRedemptionRefs;
    case v1::ENTITY_TYPE_LOYALTY_ACCOUNT: return *kLoyaltyRefs;
    case v1::ENTITY_TYPE_COUPON: return kCoupon;
    case v1::ENTITY_TYPE_STORE: return kStore;
    case v1::ENTITY_TYPE_LEAD:
    case v1::ENTITY_TYPE_ACCOUNT: return IdentityHooks();
    case v1::ENTITY_TYPE_CONTACT: return *kContact;
    case v1::ENTITY_TYPE_ACTIVITY:
    case v1::ENTITY_TYPE_CALENDAR_EVENT:
    case v1::ENTITY_TYPE_OPPORTUNITY: return *kReferring;
    case v1::ENTITY_TYPE_POSSIBLE_DUPLICATE: return PossibleDuplicateHooks();
    case v1::ENTITY_TYPE_CUSTOM_FIELD: return CustomFieldHooks();
    default: return kNone;
  }
}

}  // namespace crmsync::server
