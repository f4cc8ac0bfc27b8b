// The storage of crm-syncd, split by role. A Store is one database and hands
// out its four roles; handlers take only the roles they use:
//
//   ChangeLog    records, the change feed, write transactions, scope
//                history, the record index, applied mutations, pruning
//                (change_log.h; written per database: SqliteChangeLog,
//                PostgresChangeLog)
//   Directory    tenants, users, teams, devices           (directory.h)
//   Credentials  refresh tokens, API keys                 (credentials.h)
//   AuditTrail   audit events                             (audit_trail.h)
//
// The last three are written once (sql_roles.h) over a small SQL session
// abstraction (sql_session.h) with one adapter per database. Both stores,
// SqliteStore (embedded default) and PostgresStore (production, libpqxx),
// pass one conformance suite (tests/store/).
//
// Thread-safety: a Store and its roles are shared by all server threads;
// every method is thread-safe. Errors are absl::Status values (see
// change_log.h for the codes).
#ifndef CRMSYNC_SERVER_STORE_STORE_H_
#define CRMSYNC_SERVER_STORE_STORE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/audit_trail.h"
#include "store/change_log.h"
#include "store/credentials.h"
#include "store/directory.h"

namespace crmsync::server {

class Store {
 public:
  virtual ~Store() = default;

  // "sqlite" or "postgres".
  virtual std::string Kind() const = 0;

  // Creates or upgrades the schema to the newest version. Safe when several
  // server processes start at once (serialised by a lock).
  virtual absl::Status Migrate() = 0;

  // The schema version the database is at (0 = never migrated), next to
  // LatestSchemaVersion() (store/migrations.h) of this build: for
  // diagnostics during a rolling upgrade. UNAVAILABLE when unreachable.
  virtual absl::StatusOr<int> SchemaVersion() = 0;

  // Reaches the database with a small read (health checking): OK when the
  // store can serve, UNAVAILABLE when it cannot reach its database.
  virtual absl::Status Ping() { return directory().ListTenants().status(); }

  // The connection pool right now, for metrics: its limit, connections
  // leased to a caller, and connections open but idle.
  struct PoolStats {
    int max_size = 0;
    int in_use = 0;
    int idle = 0;
  };
  virtual PoolStats Pool() { return {}; }

  // The roles. They live as long as the Store.
  virtual ChangeLog& changes() = 0;
  virtual Directory& directory() = 0;
  virtual Credentials& credentials() = 0;
  virtual AuditTrail& audit() = 0;
};

// Opens the store named by a --store value ("sqlite:PATH" or "postgres:URI")
// without migrating it.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& spec);
// The same for an already parsed (and completed, see config.h) --store.
struct StoreSpec;
absl::StatusOr<std::unique_ptr<Store>> OpenStore(const StoreSpec& spec);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_STORE_H_
