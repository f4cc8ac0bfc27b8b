#include "delivery.h"

#include "erasure.h"
#include "scope.h"

namespace crmsync::server {

absl::StatusOr<Delivery> DeliveryFor(ChangeLog& changes, const Principal& who, const RecordRow& row,
                                     int64_t base, int64_t cursor) {
  return DeliveryFor(changes, who, row.state, row.scope_changed_version, base, cursor);
}

absl::StatusOr<Delivery> DeliveryFor(ChangeLog& changes, const Principal& who,
                                     const v1::RecordState& s, int64_t scope_changed_version,
                                     int64_t base, int64_t cursor) {
  return DeliveryFor([&](const v1::RecordRef& ref, int64_t from,
                         int64_t to) { return changes.ScopesDuring(who.tenant_id, ref, from, to); },
                     who, s, scope_changed_version, base, cursor);
}

absl::StatusOr<Delivery> DeliveryFor(ScopesDuringFn scopes_during, const Principal& who,
                                     const RecordRow& row, int64_t base, int64_t cursor) {
  return DeliveryFor(scopes_during, who, row.state, row.scope_changed_version, base, cursor);
}

absl::StatusOr<Delivery> DeliveryFor(ScopesDuringFn scopes_during, const Principal& who,
                                     const v1::RecordState& s, int64_t scope_changed_version,
                                     int64_t base, int64_t cursor) {
  const v1::EntityType type = s.ref().entity_type();
  const bool now_in = CanRead(who, type, s.scope());

  // In the device's scope at some moment of the window [base, cursor].
  bool was_in = false;
  if (cursor > 0 && s.created_version() <= cursor) {
    if (scope_changed_version <= base) {
      was_in = now_in;  // one scope all along
    } else {
      auto scopes = scopes_during(s.ref(), base, cursor);
      if (!scopes.ok()) return scopes.status();
      for (const v1::ScopeKeys& then : *scopes) was_in = was_in || CanRead(who, type, then);
    }
  }
  // Only needed when neither scope test already decides, so the common case
  // (a record in scope) does not walk its fields.
  auto wrote = [&] {
    if (who.device_id.empty()) return false;
    for (const auto& [path, field] : s.fields()) {
      if (field.version() > base && field.provenance().device_id() == who.device_id) return true;
    }
    return false;
  };

  Delivery d;
  if (IsErased(s)) {
    // A device that may hold the record drops it and every local copy of
    // its values; a device that never held it hears nothing.
    if (was_in || wrote()) d.kind = Delivery::Kind::kErased;
  } else if (s.deleted()) {
    // Tombstones keep their scope keys: one too many is harmless, one too
    // few is not.
    if (was_in || now_in || wrote()) d.kind = Delivery::Kind::kTombstone;
  } else if (now_in) {
    // Surely held as of `base`: existed then and its scope has not changed
    // since (so no LEFT_SCOPE can have dropped it meanwhile).
    const bool held =
        base == cursor ? was_in
                       : base > 0 && s.created_version() <= base && scope_changed_version <= base;
    d.kind = Delivery::Kind::kRecord;
    d.full = !held;
  } else if (was_in || wrote()) {
    d.kind = Delivery::Kind::kLeftScope;
  }
  return d;
}

}  // namespace crmsync::server
