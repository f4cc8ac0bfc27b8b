// crm-syncd configuration: flags, environment variables and an optional
// config file, in that order of precedence.
#ifndef CRMSYNC_SERVER_CONFIG_H_
#define CRMSYNC_SERVER_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

namespace crmsync::server {

// Where records are stored, parsed from "sqlite:PATH" or "postgres:URI".
struct StoreSpec {
  enum class Kind { kSqlite, kPostgres };
  Kind kind = Kind::kSqlite;
  // File path for SQLite, libpq connection string/URI for PostgreSQL.
  std::string target;

  std::string KindName() const { return kind == Kind::kSqlite ? "sqlite" : "postgres"; }
};

// Parses a --store value. Returns false and fills `error` when malformed.
bool ParseStoreSpec(const std::string& text, StoreSpec* out, std::string* error);

struct ServerConfig {
  // host:port of the gRPC listener.
  std::string listen = "127.0.0.1:50051";
  std::string store = "sqlite:crmsync.db";
  // File holding the PostgreSQL password (first line); added to the
  // connection parameters so it never appears on the command line.
  std::string store_password_file;
  // Parsed --store, with the password and application_name added.
  StoreSpec store_spec;
  // Seed a demo tenant ("demo") with users, stores and sample records at
  // start-up if it does not exist.
  bool demo_tenant = false;
  // With demo_tenant: also demo-2 ... demo-N (load tests over many tenants).
  int demo_tenant_count = 1;
  // Give every tenant's change history a new id, then exit without serving
  // (step of the restore procedure, docs/operations.md).
  bool new_history = false;
  // Migrate the store's schema to this build's, then exit (no serving).
  bool migrate_only = false;
  // TLS material (PEM files). Required unless dev_insecure.
  std::string tls_cert;
  std::string tls_key;
  // CA bundle for client certificates; set to require mTLS.
  std::string tls_client_ca;
  // Serve plaintext; development only and only on a loopback address.
  bool dev_insecure = false;
  // "trace", "debug", "info", "warn", "error".
  std::string log_level = "info";
  // "text" or "json".
  std::string log_format = "text";
  // Maximum size of one received gRPC message.
  int max_message_bytes = 8 * 1024 * 1024;
  // Seconds to let in-flight calls finish on SIGTERM before cancelling them.
  int shutdown_grace_seconds = 10;
  // Accept the caller's identity from x-crmsync-dev-* metadata. Development
  // only: refused unless --listen is a loopback address.
  bool dev_identity = false;
  // Conflict policy overrides (see docs/conflicts.md); empty = defaults.
  std::string policy_file;
  // Threads running store-bound RPC work.
  int worker_threads = 8;
  // Most mutations per Push.
  int max_batch = 500;
  // Hours an offline edit by a record's previous owner is still accepted
  // after the record was reassigned.
  int reassignment_grace_hours = 14 * 24;
  // Seconds of silence after which a Subscribe stream gets a heartbeat.
  int heartbeat_seconds = 15;
  // host:port of the Prometheus metrics HTTP listener; empty disables it.
  std::string metrics_listen = "127.0.0.1:9464";
  // Change history (tombstones, scope history) is kept this long for devices
  // that stay silent; active devices' cursors hold it back regardless.
  int retention_hours = 30 * 24;
  // How often retention runs; 0 = never.
  int prune_interval_minutes = 60;
  // Values kept per field of a record for its lineage (GetFieldHistory);
  // 0 = none. Older values go at each pruning run.
  int field_history_depth = 10;
  // Duplicate detection of leads, contacts and accounts at each write
  // (logic/duplicates.h): on or off, the score that flags a candidate, the
  // name similarity that counts as a match, the phone region.
  bool duplicate_check = true;
  double duplicate_threshold = 0.8;
  double duplicate_name_similarity = 0.9;
  std::string phone_region = "US";
  // How often the store is pinged; health (grpc.health.v1, /healthz) is
  // NOT_SERVING while it cannot be reached.
  int health_check_seconds = 5;
  // How often coupons whose validity ended leave terminal scope (0 = never).
  int coupon_sweep_seconds = 60;
  // When set, the bound port is written to this file once serving (for
  // supervisors and tests that listen on port 0).
  std::string ready_file;

  // ---- connections and memory (docs/operations.md) ----
  // The server pings a connection that carried nothing for this long
  // (HTTP/2 keepalive) and closes it, ending its calls, when the answer
  // does not come within keepalive_timeout_seconds: a device that vanished
  // without closing its connection does not keep a Subscribe stream open.
  int keepalive_seconds = 60;
  int keepalive_timeout_seconds = 20;
  // Bytes a connection reads from its socket at a time (gRPC's read chunk;
  // it grows up to the largest message under load).
  int tcp_read_chunk_bytes = 8192;
  // glibc malloc arenas (M_ARENA_MAX); 0 keeps glibc's default (8 per
  // core). With the default, memory freed by one thread's arena is not
  // reused by the others: 10,000 idle TLS streams took about a quarter more
  // RSS (docs/benchmarks-e2e.md).
  int malloc_arena_max = 2;
  // Expert: extra gRPC server channel arguments, "name=integer" each.
  std::vector<std::string> grpc_channel_args;

  // ---- authentication and limits (SECURITY.md) ----
  // PEM Ed25519 private key that signs access tokens. Required unless in
  // development mode (--dev-insecure or --dev-identity), where an ephemeral
  // key is generated.
  std::string token_key;
  // PEM keys (public or private) whose tokens are still accepted: the
  // previous signing keys during a key rotation.
  std::vector<std::string> token_verify_keys;
  // Access token lifetime; 0 issues already-expired tokens (tests only).
  int access_token_ttl_seconds = 15 * 60;
  // Refresh token lifetime.
  int refresh_token_ttl_hours = 30 * 24;
  // Argon2id cost of new password hashes (OWASP: 19 MiB, 2 passes). Lower
  // it only in tests.
  int password_memory_kib = 19 * 1024;
  int password_passes = 2;
  // Failed sign-ins per tenant+username within 15 minutes before refusal.
  int max_failed_logins = 5;
  // Requests per second and burst per device (token bucket); 0 = no limit.
  double rate_limit_per_second = 50;
  double rate_limit_burst = 200;
};

// Outcome of ParseCommandLine.
struct ParseResult {
  // 0: run; otherwise exit with exit_code after printing `message`.
  bool should_exit = false;
  int exit_code = 0;
  std::string message;
};

// Fills `config` from argv, CRMSYNC_* environment variables and the config
// file named by --config. Validates the result.
ParseResult ParseCommandLine(int argc, char** argv, ServerConfig* config);

// Adds key=value to a libpq connection string: as a percent-encoded query
// parameter of a postgresql:// URI, or as a quoted keyword=value pair.
std::string AddConnectionParameter(const std::string& conninfo, const std::string& key,
                                   const std::string& value);

// True if the host part of a host:port listen address is a loopback address.
bool IsLoopbackListenAddress(const std::string& listen);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_CONFIG_H_
