// ClassifyPgError: what a libpqxx exception means for the client (status
// code) and for the store (drop the connection, run the transaction again).
#include <exception>
#include <string>

#include <gtest/gtest.h>
#include <pqxx/except>

#include "store/pg_errors.h"

namespace crmsync::server {
namespace {

template <typename E>
PgError ClassifyThrown(const E& e) {
  return ClassifyPgError(std::make_exception_ptr(e), "writing buffered rows");
}

pqxx::sql_error SqlError(const std::string& message, const char* sqlstate) {
  return pqxx::sql_error(message, "INSERT INTO records ...", sqlstate);
}

TEST(PgErrorsTest, ConnectionExceptionsAreUnavailable) {
  PgError e = ClassifyThrown(SqlError("ERROR:  connection to the remote node failed\n", "08006"));
  EXPECT_EQ(e.status.code(), absl::StatusCode::kUnavailable) << e.status;
  EXPECT_FALSE(e.retryable);
  e = ClassifyThrown(pqxx::broken_connection("server closed the connection unexpectedly"));
  EXPECT_EQ(e.status.code(), absl::StatusCode::kUnavailable) << e.status;
  EXPECT_TRUE(e.connection_broken);
  EXPECT_TRUE(e.retryable);
}

TEST(PgErrorsTest, CitusLosingAWorkerInATransactionIsUnavailable) {
  // Citus raises it without a SQLSTATE of its own while a worker restarts.
  PgError e = ClassifyThrown(
      SqlError("ERROR:  failure on connection marked as essential: localhost:40213\n", "XX000"));
  EXPECT_EQ(e.status.code(), absl::StatusCode::kUnavailable) << e.status;
  EXPECT_NE(std::string(e.status.message()).find("retry later"), std::string::npos) << e.status;
  // Rolled back, but not run again here: the client retries (pushes are
  // idempotent), by which time the worker may be back.
  EXPECT_FALSE(e.retryable);
  EXPECT_FALSE(e.connection_broken);
  // The driver's text, which names the host and port, stays out of it.
  EXPECT_EQ(std::string(e.status.message()).find("40213"), std::string::npos) << e.status;
}

TEST(PgErrorsTest, EveryWayCitusReportsALostWorkerIsUnavailable) {
  // The texts Citus 13 gives a client while a worker stops and starts
  // (fast shutdown) under concurrent single-shard transactions.
  const char* messages[] = {
      "ERROR:  could not commit transaction for shard 102008 on at least one active node\n",
      "ERROR:  failed to prepare transaction 'citus_0_1234_5_6' on host 127.0.0.1:40213\n",
      ("ERROR:  server closed the connection unexpectedly\n\tThis probably means the server "
       "terminated abnormally\nCONTEXT:  while executing command on 127.0.0.1:40213\n"),
      "ERROR:  connection to server was lost\n",
      "ERROR:  could not receive data from server: Connection reset by peer\n",
  };
  for (const char* message : messages) {
    PgError e = ClassifyThrown(SqlError(message, "XX000"));
    EXPECT_EQ(e.status.code(), absl::StatusCode::kUnavailable) << message;
    EXPECT_FALSE(e.retryable) << message;
    EXPECT_EQ(std::string(e.status.message()).find("40213"), std::string::npos) << e.status;
  }
}

TEST(PgErrorsTest, OtherInternalErrorsStayInternal) {
  PgError e = ClassifyThrown(SqlError("ERROR:  could not find a shard for the value\n", "XX000"));
  EXPECT_EQ(e.status.code(), absl::StatusCode::kInternal) << e.status;
  // The same words under another SQLSTATE are that state's.
  e = ClassifyThrown(
      SqlError("ERROR:  failure on connection marked as essential: localhost:1\n", "22P02"));
  EXPECT_EQ(e.status.code(), absl::StatusCode::kInvalidArgument) << e.status;
}

TEST(PgErrorsTest, ConstraintsAndDataErrorsKeepTheirCodes) {
  EXPECT_EQ(
      ClassifyThrown(pqxx::unique_violation("duplicate key", "INSERT", "23505")).status.code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ClassifyThrown(SqlError("ERROR:  invalid input syntax\n", "22P02")).status.code(),
            absl::StatusCode::kInvalidArgument);
  PgError e = ClassifyThrown(pqxx::serialization_failure("could not serialize"));
  EXPECT_EQ(e.status.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(e.retryable);
}

}  // namespace
}  // namespace crmsync::server
