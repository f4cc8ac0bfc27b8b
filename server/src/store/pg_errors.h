// Conversion of libpqxx exceptions into absl::Status. Used inside the
// PostgreSQL adapter only: no libpqxx exception leaves server/src/store.
//
//  broken_connection (incl. too_many_connections), in_doubt_error,
//  statement_completion_unknown, lock/cancel/shutdown states,
//  Citus's lost or restarting worker (XX000, told by its message) -> UNAVAILABLE
//  serialization_failure, deadlock_detected                  -> ABORTED
//  unique_violation                                           -> ALREADY_EXISTS
//  other integrity violations, undefined table/column         -> FAILED_PRECONDITION
//  data exceptions (SQLSTATE class 22)                        -> INVALID_ARGUMENT
//  insufficient_privilege                                     -> PERMISSION_DENIED
//  anything else                                              -> INTERNAL
#ifndef CRMSYNC_SERVER_STORE_PG_ERRORS_H_
#define CRMSYNC_SERVER_STORE_PG_ERRORS_H_

#include <exception>
#include <string>

#include "absl/status/status.h"

namespace crmsync::server {

// What a caught exception means for the connection and the transaction.
struct PgError {
  absl::Status status;
  // The connection is unusable and must not go back to the pool.
  bool connection_broken = false;
  // Running the whole transaction again may succeed (serialization failure,
  // deadlock, connection lost before COMMIT was sent).
  bool retryable = false;
};

// Classifies `error` (thrown while doing `context`). Never throws.
PgError ClassifyPgError(const std::exception_ptr& error, const std::string& context);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_PG_ERRORS_H_
