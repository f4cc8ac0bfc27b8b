#include "scope.h"

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>

#include "crmsync/sync/record_model.h"

namespace crmsync::server {

namespace v1 = ::crmsync::v1;

namespace {

bool HasStore(const v1::ScopeKeys& scope, const std::string& store_id) {
  return !store_id.empty() && std::find(scope.store_ids().begin(), scope.store_ids().end(),
                                        store_id) != scope.store_ids().end();
}

bool IsSalesForce(v1::Role role) {
  return role == v1::ROLE_SALES_MANAGER || role == v1::ROLE_SALES_REP;
}

}  // namespace

bool IntegrationCovers(const Principal& who, v1::EntityType type) {
  const auto& types = who.integration.entity_types();
  return types.empty() || std::find(types.begin(), types.end(), type) != types.end();
}

bool IntegrationMayWrite(const Principal& who, const sync::EntitySpec& spec,
                         v1::Operation operation) {
  // Customer data only; conflicts and possible duplicates are the
  // server's, and settling them (or merging records) is for people.
  return spec.access() == v1::ACCESS_RULE_CRM && IntegrationCovers(who, spec.type()) &&
         spec.type() != v1::ENTITY_TYPE_CONFLICT &&
         spec.type() != v1::ENTITY_TYPE_POSSIBLE_DUPLICATE &&
         operation != v1::OPERATION_RESOLVE_CONFLICT && operation != v1::OPERATION_MERGE;
}

bool SameScope(const v1::ScopeKeys& a, const v1::ScopeKeys& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

bool CanRead(const Principal& who, const sync::EntitySpec& spec, const v1::ScopeKeys& scope) {
  if (who.role == v1::ROLE_ADMIN) return true;
  if (who.role == v1::ROLE_INTEGRATION) return IntegrationCovers(who, spec.type());
  switch (spec.access()) {
    case v1::ACCESS_RULE_REFERENCE: return who.role != v1::ROLE_UNSPECIFIED;
    case v1::ACCESS_RULE_CRM:
      if (who.role == v1::ROLE_SALES_MANAGER) {
        return scope.owner_user_id() == who.user_id ||
               (!who.team_id.empty() && scope.team_id() == who.team_id);
      }
      if (who.role == v1::ROLE_SALES_REP) {
        return scope.owner_user_id() == who.user_id ||
               (!who.team_id.empty() && scope.team_id() == who.team_id &&
                scope.visibility() == v1::VISIBILITY_TEAM);
      }
      return false;
    case v1::ACCESS_RULE_STORE:
      return who.role == v1::ROLE_STORE_TERMINAL && HasStore(scope, who.store_id);
    case v1::ACCESS_RULE_DEVICE:
      return who.role == v1::ROLE_STORE_TERMINAL && !who.device_id.empty() &&
             scope.device_id() == who.device_id;
    default: return false;
  }
}

bool CanRead(const Principal& who, v1::EntityType type, const v1::ScopeKeys& scope) {
  if (who.role == v1::ROLE_ADMIN) return true;
  const sync::EntitySpec* spec = sync::EntityCatalog::Default().Find(type);
  return spec != nullptr && CanRead(who, *spec, scope);
}

bool CanWrite(const Principal& who, const sync::EntitySpec& spec, const v1::ScopeKeys& scope,
              v1::Operation operation) {
  if (who.role == v1::ROLE_ADMIN) return true;
  if (who.role == v1::ROLE_INTEGRATION) return IntegrationMayWrite(who, spec, operation);
  if (who.role == v1::ROLE_STORE_TERMINAL) {
    if (!spec.TerminalMay(operation)) return false;
    // A terminal writes per-store records of its own store only; a
    // per-terminal record (a redemption) is stamped with the terminal by
    // the server.
    return spec.access() != v1::ACCESS_RULE_STORE || HasStore(scope, who.store_id);
  }
  if (IsSalesForce(who.role) && spec.access() == v1::ACCESS_RULE_CRM) {
    return CanRead(who, spec, scope);
  }
  return false;
}

bool CanWrite(const Principal& who, v1::EntityType type, const v1::ScopeKeys& scope,
              v1::Operation operation) {
  if (who.role == v1::ROLE_ADMIN) return true;
  const sync::EntitySpec* spec = sync::EntityCatalog::Default().Find(type);
  return spec != nullptr && CanWrite(who, *spec, scope, operation);
}

void CompleteScopeKeys(const v1::Record& data, v1::ScopeKeys* scope) {
  if (data.has_coupon() && !data.coupon().active()) {
    scope->clear_store_ids();  // inactive or exhausted: no terminal holds it
  }
  const google::protobuf::Message* entity = sync::EntityOf(data);
  const sync::EntitySpec* spec = sync::EntityCatalog::Default().Find(sync::EntityTypeOf(data));
  if (entity == nullptr || spec == nullptr) return;
  if (const auto* home = spec->FieldWithRole(v1::SCOPE_ROLE_HOME_STORE)) {
    const std::string& store = entity->GetReflection()->GetString(*entity, home);
    if (!store.empty() && !HasStore(*scope, store)) scope->add_store_ids(store);
  }
}

}  // namespace crmsync::server
