// Conflict policies per entity type and field path, and the delete-vs-update
// rule. Defaults follow DESIGN.md §5; a small text configuration overrides
// them (syntax in docs/conflicts.md):
//
//   # comment
//   lead.phone = provenance
//   opportunity.* = lww
//   *.notes = client_wins
//   delete_vs_update = keep_delete      # or keep_update
//
// Lookup order for (type, path): a rule for this type naming the path or its
// nearest ancestor; then an any-type rule ("*.path") naming the path or an
// ancestor; then this type's "*" rule; then "*.*"; then lww.
//
// A PolicyTable is an immutable-after-setup value: concurrent Lookup calls
// are safe; Set/Parse must not race with readers.
#ifndef CRMSYNC_SYNC_POLICY_TABLE_H_
#define CRMSYNC_SYNC_POLICY_TABLE_H_

#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "crmsync/sync/status.h"
#include "crmsync/v1/entities.pb.h"

namespace crmsync::sync {

namespace v1 = ::crmsync::v1;

// What wins when a delete meets a concurrent update.
enum class DeleteRule {
  // Default. An update to a deleted record is rejected
  // (REJECT_REASON_RECORD_DELETED); a delete wins over updates made after its
  // base version (the lost fields are reported).
  kKeepDelete,
  // An update to a deleted record resurrects it with the edit; a delete of a
  // record others updated after its base version is not applied.
  kKeepUpdate,
};

// Config name of a policy ("lww", "server_wins", ...) and its inverse
// (UNSPECIFIED when unknown).
std::string PolicyName(v1::ConflictPolicy policy);
v1::ConflictPolicy PolicyFromName(std::string_view name);

class PolicyTable {
 public:
  // An empty table: every field lww, delete keeps.
  PolicyTable() = default;

  // The defaults of DESIGN.md §5 (see docs/conflicts.md for the list).
  static PolicyTable Defaults();
  // A shared instance of Defaults(), built once; never null.
  static const PolicyTable& DefaultInstance();

  // Parses a configuration on top of `base` (normally Defaults()). On error
  // returns kInvalidArgument whose message lists every bad line as
  // "line N: ...", one per line.
  static Result<PolicyTable> Parse(std::string_view text, const PolicyTable& base);
  static Result<PolicyTable> Parse(std::string_view text) { return Parse(text, Defaults()); }

  // Sets the policy of `path` on `type` (ENTITY_TYPE_UNSPECIFIED = every
  // type; path "*" = the type's default). Fails when the path does not exist
  // on the type (or on any type, for ENTITY_TYPE_UNSPECIFIED), when the
  // policy does not fit the field (counter needs a singular integer, set a
  // repeated scalar), when counter/set is used as a wildcard default, or for
  // UNSPECIFIED.
  Status Set(v1::EntityType type, std::string_view path, v1::ConflictPolicy policy);

  // The policy of `path` on `type` (never UNSPECIFIED).
  v1::ConflictPolicy Lookup(v1::EntityType type, std::string_view path) const;

  DeleteRule delete_rule() const { return delete_rule_; }
  void set_delete_rule(DeleteRule rule) { delete_rule_ = rule; }

  // The rules as configuration text (one per line, sorted), which Parse
  // reads back to an equal table.
  std::string ToText() const;

 private:
  // (entity type or 0 for any, path or "*") -> policy.
  std::map<std::pair<int, std::string>, v1::ConflictPolicy> rules_;
  DeleteRule delete_rule_ = DeleteRule::kKeepDelete;
};

}  // namespace crmsync::sync

#endif  // CRMSYNC_SYNC_POLICY_TABLE_H_
