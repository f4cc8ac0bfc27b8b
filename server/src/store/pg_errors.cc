#include "store/pg_errors.h"

#include <string>

#include <pqxx/except>

#include "store/internal_detail.h"

namespace crmsync::server {
namespace {

absl::StatusCode CodeForSqlState(const std::string& state) {
  if (state.rfind("22", 0) == 0) return absl::StatusCode::kInvalidArgument;
  if (state.rfind("23", 0) == 0) return absl::StatusCode::kFailedPrecondition;
  if (state == "42P01" || state == "42703") return absl::StatusCode::kFailedPrecondition;
  if (state == "42501") return absl::StatusCode::kPermissionDenied;
  // 53: insufficient resources, 55P03: lock not available, 57: operator
  // intervention (cancel, shutdown), 08: connection exception.
  if (state.rfind("53", 0) == 0 || state == "55P03" || state.rfind("57", 0) == 0 ||
      state.rfind("08", 0) == 0) {
    return absl::StatusCode::kUnavailable;
  }
  return absl::StatusCode::kInternal;
}

// Citus reports some failures of a worker's connection under the generic
// SQLSTATE XX000, with nothing but the message to tell them apart. Each one
// means the node is down or restarting, like a connection exception, and the
// coordinator rolled its transaction back (when a COMMIT on the worker was
// cut, that worker's outcome is unknown: not retried here either way).
//  - "failure on connection marked as essential": lost inside a transaction;
//  - "could not commit transaction for shard ...": lost during the worker's
//    COMMIT (one-phase commit);
//  - "failed to prepare transaction ...": lost during PREPARE (two-phase);
//  - libpq's own words for a cut connection, relayed without a SQLSTATE when
//    the worker's reply never came.
bool CitusLostANode(const pqxx::sql_error& e) {
  if (e.sqlstate() != "XX000") return false;
  static constexpr const char* kLostNode[] = {
      "failure on connection marked as essential",
      "could not commit transaction for shard",
      "failed to prepare transaction",
      "server closed the connection unexpectedly",
      "connection to server was lost",
      "could not receive data from server",
      "could not send data to server",
      "no connection to the server",
  };
  const std::string what = e.what();
  for (const char* words : kLostNode) {
    if (what.find(words) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

PgError ClassifyPgError(const std::exception_ptr& error, const std::string& context) {
  // The client sees `context` and the class of error; the driver's text
  // (which names hosts, ports, tables and values) is for the log only.
  const std::string prefix = context + ": ";
  auto make = [&](absl::StatusCode code, const std::string& what, const char* detail) {
    return WithInternalDetail(absl::Status(code, prefix + what), detail);
  };
  try {
    std::rethrow_exception(error);
  } catch (const pqxx::broken_connection& e) {
    return {
        make(absl::StatusCode::kUnavailable, "the database is unreachable; retry later", e.what()),
        true, true};
  } catch (const pqxx::in_doubt_error& e) {
    // COMMIT was sent but its outcome is unknown: never run the transaction
    // again (it may have committed).
    return {make(absl::StatusCode::kUnavailable, "commit outcome unknown", e.what()), true, false};
  } catch (const pqxx::statement_completion_unknown& e) {
    return {make(absl::StatusCode::kUnavailable, "statement outcome unknown", e.what()), true,
            false};
  } catch (const pqxx::serialization_failure& e) {
    return {make(absl::StatusCode::kAborted, "serialization failure", e.what()), false, true};
  } catch (const pqxx::deadlock_detected& e) {
    return {make(absl::StatusCode::kAborted, "deadlock", e.what()), false, true};
  } catch (const pqxx::unique_violation& e) {
    return {make(absl::StatusCode::kAlreadyExists, "already exists", e.what()), false, false};
  } catch (const pqxx::sql_error& e) {
    const absl::StatusCode code =
        CitusLostANode(e) ? absl::StatusCode::kUnavailable : CodeForSqlState(e.sqlstate());
    std::string what = code == absl::StatusCode::kUnavailable
                           ? "the database is unavailable; retry later"
                           : "database error";
    if (!e.sqlstate().empty()) what += " (SQLSTATE " + e.sqlstate() + ")";
    return {make(code, what, e.what()), false, false};
  } catch (const std::exception& e) {
    return {make(absl::StatusCode::kInternal, "internal error", e.what()), false, false};
  } catch (...) {
    return {absl::InternalError(prefix + "unknown exception"), false, false};
  }
}

}  // namespace crmsync::server
