#include "scope.h"

#include <algorithm>

namespace crmsync::server {

namespace v1 = ::crmsync::v1;

namespace {

bool HasStore(const v1::ScopeKeys& scope, const std::string& store_id) {
  return !store_id.empty() &&
         std::find(scope.store_ids().begin(), scope.store_ids().end(), store_id) !=
             scope.store_ids().end();
}

bool IsCrmEntity(v1::EntityType type) {
  switch (type) {
    case v1::ENTITY_TYPE_ACCOUNT:
    case v1::ENTITY_TYPE_CONTACT:
    case v1::ENTITY_TYPE_LEAD:
    case v1::ENTITY_TYPE_OPPORTUNITY:
    case v1::ENTITY_TYPE_ACTIVITY:
    case v1::ENTITY_TYPE_CALENDAR_EVENT:
    case v1::ENTITY_TYPE_CONFLICT:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool CanRead(const Principal& who, v1::EntityType type, const v1::ScopeKeys& scope) {
  if (who.role == v1::ROLE_ADMIN) return true;
  if (type == v1::ENTITY_TYPE_STORE) return who.role != v1::ROLE_UNSPECIFIED;
  switch (who.role) {
    case v1::ROLE_SALES_MANAGER:
      if (!IsCrmEntity(type)) return false;
      return scope.owner_user_id() == who.user_id ||
             (!who.team_id.empty() && scope.team_id() == who.team_id);
    case v1::ROLE_SALES_REP:
      if (!IsCrmEntity(type)) return false;
      return scope.owner_user_id() == who.user_id ||
             (!who.team_id.empty() && scope.team_id() == who.team_id &&
              scope.visibility() == v1::VISIBILITY_TEAM);
    case v1::ROLE_STORE_TERMINAL:
      switch (type) {
        case v1::ENTITY_TYPE_COUPON:
        case v1::ENTITY_TYPE_LOYALTY_ACCOUNT:
          return HasStore(scope, who.store_id);
        case v1::ENTITY_TYPE_REDEMPTION:
          return !who.device_id.empty() && scope.device_id() == who.device_id;
        default:
          return false;
      }
    default:
      return false;
  }
}

bool CanWrite(const Principal& who, v1::EntityType type, const v1::ScopeKeys& scope,
              v1::Operation operation) {
  if (who.role == v1::ROLE_ADMIN) return true;
  if (who.role == v1::ROLE_STORE_TERMINAL) {
    if (type == v1::ENTITY_TYPE_REDEMPTION) return operation == v1::OPERATION_REDEEM;
    if (type == v1::ENTITY_TYPE_LOYALTY_ACCOUNT) {
      return operation == v1::OPERATION_INCREMENT && HasStore(scope, who.store_id);
    }
    return false;
  }
  if (type == v1::ENTITY_TYPE_COUPON || type == v1::ENTITY_TYPE_STORE ||
      type == v1::ENTITY_TYPE_REDEMPTION || type == v1::ENTITY_TYPE_LOYALTY_ACCOUNT) {
    return false;
  }
  return CanRead(who, type, scope);
}

void CompleteScopeKeys(const v1::Record& data, v1::ScopeKeys* scope) {
  if (data.has_coupon() && !data.coupon().active()) {
    scope->clear_store_ids();  // inactive or exhausted: no terminal holds it
  }
  if (data.has_loyalty_account() && !data.loyalty_account().home_store_id().empty() &&
      !HasStore(*scope, data.loyalty_account().home_store_id())) {
    scope->add_store_ids(data.loyalty_account().home_store_id());
  }
}

}  // namespace crmsync::server
