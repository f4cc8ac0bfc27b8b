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

// Citus reports the loss of a worker's connection inside a transaction
// without a SQLSTATE of its own ("failure on connection marked as
// essential", XX000): the transaction is rolled back, and the node is down
// or restarting, like a connection exception.
bool CitusLostANode(const pqxx::sql_error& e) {
  return e.sqlstate() == "XX000" &&
         std::string(e.what()).find("failure on connection marked as essential") !=
             std::string::npos;
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
