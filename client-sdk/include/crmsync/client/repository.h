// Typed repositories over a Database: create / update / delete / get / list
// for one entity message type, e.g. Repository<v1::Lead>.
//
// A Repository holds a non-owning pointer to its Database, which must
// outlive it. Thread-safety and errors: as Database.
#ifndef CRMSYNC_CLIENT_REPOSITORY_H_
#define CRMSYNC_CLIENT_REPOSITORY_H_

#include <string>
#include <vector>

#include "crmsync/client/database.h"

namespace crmsync::client {

// Maps an entity message to its EntityType and Record oneof accessors.
template <typename T>
struct EntityTraits;

#define CRMSYNC_CLIENT_ENTITY_TRAITS(Type, kType, field)                     \
  template <>                                                                \
  struct EntityTraits<v1::Type> {                                            \
    static constexpr v1::EntityType kEntityType = v1::kType;                 \
    static const v1::Type& Get(const v1::Record& r) { return r.field(); }    \
    static v1::Type* Mutable(v1::Record* r) { return r->mutable_##field(); } \
  }

CRMSYNC_CLIENT_ENTITY_TRAITS(Account, ENTITY_TYPE_ACCOUNT, account);
CRMSYNC_CLIENT_ENTITY_TRAITS(Contact, ENTITY_TYPE_CONTACT, contact);
CRMSYNC_CLIENT_ENTITY_TRAITS(Lead, ENTITY_TYPE_LEAD, lead);
CRMSYNC_CLIENT_ENTITY_TRAITS(Opportunity, ENTITY_TYPE_OPPORTUNITY, opportunity);
CRMSYNC_CLIENT_ENTITY_TRAITS(Activity, ENTITY_TYPE_ACTIVITY, activity);
CRMSYNC_CLIENT_ENTITY_TRAITS(CalendarEvent, ENTITY_TYPE_CALENDAR_EVENT, calendar_event);
CRMSYNC_CLIENT_ENTITY_TRAITS(Coupon, ENTITY_TYPE_COUPON, coupon);
CRMSYNC_CLIENT_ENTITY_TRAITS(Redemption, ENTITY_TYPE_REDEMPTION, redemption);
CRMSYNC_CLIENT_ENTITY_TRAITS(LoyaltyAccount, ENTITY_TYPE_LOYALTY_ACCOUNT, loyalty_account);
CRMSYNC_CLIENT_ENTITY_TRAITS(Conflict, ENTITY_TYPE_CONFLICT, conflict);
CRMSYNC_CLIENT_ENTITY_TRAITS(Store, ENTITY_TYPE_STORE, store);
CRMSYNC_CLIENT_ENTITY_TRAITS(PossibleDuplicate, ENTITY_TYPE_POSSIBLE_DUPLICATE, possible_duplicate);
CRMSYNC_CLIENT_ENTITY_TRAITS(CustomField, ENTITY_TYPE_CUSTOM_FIELD, custom_field);
#undef CRMSYNC_CLIENT_ENTITY_TRAITS

template <typename T>
class Repository {
 public:
  using Traits = EntityTraits<T>;
  explicit Repository(Database* db) : db_(db) {}

  static v1::RecordRef Ref(const std::string& id) {
    v1::RecordRef ref;
    ref.set_entity_type(Traits::kEntityType);
    ref.set_id(id);
    return ref;
  }

  // Creates `entity` (an empty id gets a new UUIDv7); returns it as stored.
  absl::StatusOr<T> Create(const T& entity) { return Unwrap(db_->Create(Wrap(entity))); }
  // Writes the fields of `entity` that differ from the local view.
  absl::StatusOr<T> Update(const T& entity) { return Unwrap(db_->Update(Wrap(entity))); }
  absl::Status Delete(const std::string& id) { return db_->Delete(Ref(id)).status(); }
  absl::StatusOr<T> Get(const std::string& id) { return Unwrap(db_->Get(Ref(id))); }
  absl::StatusOr<std::vector<T>> List(int limit = 0) {
    auto states = db_->List(Traits::kEntityType, limit);
    if (!states.ok()) return states.status();
    return Entities(*states);
  }

  static std::vector<T> Entities(const std::vector<v1::RecordState>& states) {
    std::vector<T> out;
    out.reserve(states.size());
    for (const auto& s : states) out.push_back(Traits::Get(s.data()));
    return out;
  }

 private:
  static v1::Record Wrap(const T& entity) {
    v1::Record r;
    *Traits::Mutable(&r) = entity;
    return r;
  }
  static absl::StatusOr<T> Unwrap(absl::StatusOr<v1::RecordState> state) {
    if (!state.ok()) return state.status();
    return Traits::Get(state->data());
  }

  Database* db_;
};

}  // namespace crmsync::client

#endif  // CRMSYNC_CLIENT_REPOSITORY_H_
