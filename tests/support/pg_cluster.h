// A throwaway PostgreSQL 15 cluster for tests.
//
// PgCluster::Start() runs initdb and pg_ctl from /usr/lib/postgresql/15/bin
// in a fresh directory under the cluster root, listening on 127.0.0.1 and a
// free port only (plus a unix socket inside that directory), with fsync on.
// It creates a role and a database for the tests. As root the directory is
// handed to the `postgres` user and the server commands run through
// `runuser -u postgres --` (initdb refuses root). The destructor stops the
// server (immediate mode) and deletes the directory, also when tests fail.
//
// If CRMSYNC_TEST_PG_URI is set, no cluster is started: that server is used
// as is (the role must be allowed to create schemas in its database).
//
// Cluster root: $CRMSYNC_TEST_PG_ROOT, else /tmp/crmsync-pg-<uid>. Every
// cluster directory records the pid of the process that started it
// (owner.pid); Start() first removes clusters whose owner died without
// cleaning up (a crashed test binary), and the CTest fixture
// crmsync_pg_clusters does the same before and after the test run
// (tests/support/pg-test-cluster.sh sweep).
//
// Isolation: NewSchema() gives each test an empty schema of its own and a
// connection string whose search_path selects it.
//
// Thread-safety: NewSchema may be called from several threads; the rest is
// for the thread that owns the object.
#ifndef CRMSYNC_TESTS_SUPPORT_PG_CLUSTER_H_
#define CRMSYNC_TESTS_SUPPORT_PG_CLUSTER_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace crmsync::testing {

// A TCP port on 127.0.0.1 nobody listens on right now (the kernel picks
// it), for processes that must come back on the same address; 0 if none.
int FreeLoopbackPort();

class PgCluster {
 public:
  // Starts a cluster (about 1-2 s) or attaches to CRMSYNC_TEST_PG_URI.
  static absl::StatusOr<std::unique_ptr<PgCluster>> Start();
  // Starts a cluster of its own even when CRMSYNC_TEST_PG_URI is set: for
  // tests that stop and restart the server.
  static absl::StatusOr<std::unique_ptr<PgCluster>> StartLocal();
  // Stops the server and removes its directory (own cluster only); drops
  // the schemas it created (external server only).
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // libpq connection string of the test database, as the test role.
  const std::string& conninfo() const { return conninfo_; }
  // True when attached to CRMSYNC_TEST_PG_URI.
  bool external() const { return external_; }
  // The cluster directory (empty when external).
  const std::string& dir() const { return dir_; }
  int port() const { return port_; }

  // Creates an empty schema named after `hint` (made unique) and returns a
  // connection string whose search_path is that schema.
  absl::StatusOr<std::string> NewSchema(const std::string& hint);

  // Stops the server of an own cluster, keeping its data: `mode` is
  // "fast" (sessions terminated, clean shutdown) or "immediate" (like a
  // crash: recovery runs at the next start). Blocks until it is down.
  // FAILED_PRECONDITION when attached to an external server.
  absl::Status StopServer(const std::string& mode);
  // Starts a stopped own cluster again on the same port and directory and
  // waits until it accepts connections.
  absl::Status StartServer();

  // A streaming-replication standby of this (own, running) cluster: a
  // pg_basebackup of it in a new cluster directory, started on a port of
  // its own as a hot standby named `name`. With `synchronous`, this
  // cluster then lists it in synchronous_standby_names, so every commit it
  // acknowledges is flushed on the standby too; the call returns once the
  // standby streams (and, when synchronous, is in sync). The standby's
  // conninfo() is the same role and database on its port.
  absl::StatusOr<std::unique_ptr<PgCluster>> StartStandby(const std::string& name,
                                                          bool synchronous);
  // Promotes a standby to a primary (pg_ctl promote) and waits until it
  // accepts writes.
  absl::Status Promote();

  // Removes clusters under `root` whose owner process is gone. Returns how
  // many were removed.
  static int SweepStale(const std::string& root);
  // The cluster root described above.
  static std::string DefaultRoot();

 private:
  PgCluster() = default;
  absl::Status StartOwn();
  // A fresh cluster directory under the root, owned by the postgres user
  // when we are root.
  absl::Status MakeDir();
  // pg_ctl start on port_ (as the postgres user when root).
  absl::Status StartPostmaster();
  void Stop();

  bool external_ = false;
  std::string dir_;
  int port_ = 0;
  std::string conninfo_;
  std::mutex mu_;
  std::atomic<int> next_schema_{0};
  std::vector<std::string> schemas_;
};

// A GoogleTest global environment owning one PgCluster for the whole test
// binary. The cluster is started on first use (tests that never ask for it
// cost nothing) and stopped in TearDown. Register it once per binary:
//   ::testing::AddGlobalTestEnvironment(PgClusterEnvironment::Instance());
class PgClusterEnvironment : public ::testing::Environment {
 public:
  // The process-wide instance (owned by GoogleTest once registered).
  static PgClusterEnvironment* Instance();

  // The running cluster, starting it on first call. A failure to start is
  // remembered and returned to every later caller.
  absl::StatusOr<PgCluster*> Cluster();
  void TearDown() override;

 private:
  std::mutex mu_;
  std::unique_ptr<PgCluster> cluster_;
  absl::Status start_error_;
};

}  // namespace crmsync::testing

#endif  // CRMSYNC_TESTS_SUPPORT_PG_CLUSTER_H_
