// What bench_e2e sets up before measuring: TLS material and a token key
// (deploy/make-dev-certs.sh), crm-syncd command lines, the benchmark users
// (created through AdminService as the demo tenant's admin, as an operator
// would), and process figures read from /proc.
#ifndef CRMSYNC_BENCH_E2E_E2E_SETUP_H_
#define CRMSYNC_BENCH_E2E_E2E_SETUP_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client_session.h"

namespace crmsync::bench::e2e {

struct ServerMaterial {
  // Plaintext (--dev-insecure) instead of TLS; tokens either way.
  bool plaintext = false;
  // PEM files; `ca` is what clients trust.
  std::string ca, cert, key;
  // Ed25519 key signing access tokens, shared by every instance.
  std::string token_key;
};

// Makes certificates and the token key in `dir` with the repository's
// deploy/make-dev-certs.sh.
absl::StatusOr<ServerMaterial> MakeServerMaterial(const std::string& dir, bool plaintext);

// crm-syncd flags for `store` ("sqlite:PATH" or "postgres:CONNINFO"):
// TLS and token key as in production (deploy/quickstart.sh), every other
// setting at its default, then `extra`. `demo_tenant`: create the demo
// tenant (the first instance of a store only).
std::vector<std::string> SyncdArgs(const ServerMaterial& material, const std::string& store,
                                   bool demo_tenant, const std::vector<std::string>& extra);

// The endpoint clients dial for a server listening on `port`.
Endpoint EndpointOf(const ServerMaterial& material, int port);

struct BenchUser {
  std::string username;
  std::string id;  // "u-" + username
  std::string password;
  std::string team;
};
BenchUser MakeBenchUser(const std::string& username, const std::string& team = "team-bench");

// Signs in as the demo tenant's admin and creates `users` (sales reps).
absl::Status CreateUsers(const Endpoint& endpoint, const std::vector<BenchUser>& users);

// Resident set size of a process (VmRSS), KiB; -1 when unreadable.
int64_t RssKiB(pid_t pid);
// CPU time (user + system) a process used so far, seconds; -1 when
// unreadable.
double CpuSeconds(pid_t pid);

}  // namespace crmsync::bench::e2e

#endif  // CRMSYNC_BENCH_E2E_E2E_SETUP_H_
