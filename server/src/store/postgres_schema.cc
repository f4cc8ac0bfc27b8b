#include "store/postgres_schema.h"

#include <string>

#include <pqxx/transaction>

#include "store/migrations.h"
#include "store/pg_errors.h"

namespace crmsync::server {
namespace {

// Key of the advisory lock that serialises migrations ("crmsync" in ASCII).
constexpr long long kMigrationLockKey = 0x63726d73796e63LL;

// Distributes the tables of CitusTables() that are not yet (see the header).
// Sequential mode: one connection per worker for the whole transaction, so
// creating shards after the migrations' DDL never needs a second one.
void DistributeOverCitus(pqxx::work& tx) {
  if (!tx.exec1("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')")[0]
           .as<bool>()) {
    return;
  }
  tx.exec0("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'");
  for (const CitusTable& table : CitusTables()) {
    const std::string name = table.name;
    // Hash-distributed, or a reference table ('n' and replicated). Tables
    // with a foreign key to tenants became Citus local tables ('n', 's':
    // kept on the coordinator) when tenants became a reference table; they
    // are distributed now like the others.
    const bool reference = table.placement == CitusPlacement::kReference;
    if (tx.exec_params1("SELECT EXISTS (SELECT 1 FROM pg_dist_partition "
                        "WHERE logicalrelid = to_regclass($1) AND partmethod = $2 "
                        "AND ($3 = false OR repmodel = 't'))",
                        name, reference ? "n" : "h", reference)[0]
            .as<bool>()) {
      continue;
    }
    if (reference) {
      tx.exec_params("SELECT create_reference_table($1::regclass)", name);
    } else if (name == "tenant_seq") {
      tx.exec_params(
          "SELECT create_distributed_table($1::regclass, 'tenant_id', colocate_with => 'none')",
          name);
    } else {
      tx.exec_params(
          "SELECT create_distributed_table($1::regclass, 'tenant_id', "
          "colocate_with => 'tenant_seq')",
          name);
    }
  }
}

}  // namespace

const std::vector<CitusTable>& CitusTables() {
  static const std::vector<CitusTable> tables = {
      {"tenants", CitusPlacement::kReference},
      {"tenant_seq", CitusPlacement::kDistributed},
      {"records", CitusPlacement::kDistributed},
      {"scope_history", CitusPlacement::kDistributed},
      {"applied_mutations", CitusPlacement::kDistributed},
      {"applied_floors", CitusPlacement::kDistributed},
      {"claims", CitusPlacement::kDistributed},
      {"record_index", CitusPlacement::kDistributed},
      {"field_history", CitusPlacement::kDistributed},
      {"users", CitusPlacement::kDistributed},
      {"teams", CitusPlacement::kDistributed},
      {"devices", CitusPlacement::kDistributed},
      {"refresh_tokens", CitusPlacement::kDistributed},
      {"api_keys", CitusPlacement::kDistributed},
      {"audit_events", CitusPlacement::kDistributed},
  };
  return tables;
}

int LatestPostgresSchemaVersion() { return LatestSchemaVersion(); }

absl::Status ApplyPostgresMigrations(pqxx::connection& conn, bool* connection_broken) {
  *connection_broken = false;
  try {
    pqxx::work tx(conn, "migrate");
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    tx.exec0(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY,"
        " name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    const int current =
        tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0].as<int>();
    if (current > LatestPostgresSchemaVersion()) {
      return absl::FailedPreconditionError(
          "the database schema is at version " + std::to_string(current) +
          ", newer than this build knows (" + std::to_string(LatestPostgresSchemaVersion()) +
          "): upgrade crm-syncd");
    }
    for (const Migration* m = MigrationsBegin(); m != MigrationsEnd(); ++m) {
      if (m->version <= current) continue;
      // One statement at a time (SplitSqlStatements: Citus).
      for (const std::string& statement : SplitSqlStatements(m->postgres)) {
        tx.exec(statement, "migration " + std::to_string(m->version));
      }
      tx.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m->version,
                      std::string(m->name));
    }
    DistributeOverCitus(tx);
    tx.commit();
    return absl::OkStatus();
  } catch (...) {
    PgError error = ClassifyPgError(std::current_exception(), "migrating the schema");
    *connection_broken = error.connection_broken;
    return error.status;
  }
}

}  // namespace crmsync::server
