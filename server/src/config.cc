#include "config.h"

#include <CLI/CLI.hpp>

#include <sstream>

namespace crmsync::server {

bool ParseStoreSpec(const std::string& text, StoreSpec* out, std::string* error) {
  auto colon = text.find(':');
  if (colon == std::string::npos || colon + 1 >= text.size()) {
    *error = "--store must be sqlite:PATH or postgres:URI, got '" + text + "'";
    return false;
  }
  std::string scheme = text.substr(0, colon);
  std::string rest = text.substr(colon + 1);
  if (scheme == "sqlite") {
    out->kind = StoreSpec::Kind::kSqlite;
    out->target = rest;
    return true;
  }
  if (scheme == "postgres" || scheme == "postgresql") {
    out->kind = StoreSpec::Kind::kPostgres;
    // Accept both "postgres:host=... dbname=..." and a full URI
    // "postgresql://user@host/db" (whose scheme we must keep).
    out->target = (rest.rfind("//", 0) == 0) ? "postgresql:" + rest : rest;
    return true;
  }
  *error = "--store: unknown store kind '" + scheme + "' (expected sqlite or postgres)";
  return false;
}

bool IsLoopbackListenAddress(const std::string& listen) {
  std::string host;
  if (!listen.empty() && listen[0] == '[') {
    auto close = listen.find(']');
    host = listen.substr(1, close == std::string::npos ? std::string::npos : close - 1);
  } else {
    host = listen.substr(0, listen.rfind(':'));
  }
  if (host.rfind("unix:", 0) == 0) return true;
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

ParseResult ParseCommandLine(int argc, char** argv, ServerConfig* config) {
  CLI::App app{
      "crm-syncd: the crmsync server. Serves crmsync.v1 sync, auth and admin over gRPC,\n"
      "plus grpc.health.v1 health checking and server reflection.\n"
      "Every flag can also be set by the environment variable named in its help\n"
      "or in a TOML/INI file given with --config (flags win over the environment,\n"
      "the environment over the file).",
      "crm-syncd"};
  app.set_config("--config", "", "Read settings from this TOML/INI file (keys = long flag names)");
  app.add_option("--listen", config->listen, "gRPC listen address host:port")
      ->envname("CRMSYNC_LISTEN")
      ->capture_default_str();
  app.add_option("--store", config->store,
                 "Record store: sqlite:PATH (embedded, default) or postgres:URI "
                 "(e.g. postgres:postgresql://crm@db/crmsync)")
      ->envname("CRMSYNC_STORE")
      ->capture_default_str();
  app.add_flag("--demo-tenant", config->demo_tenant,
               "Create the demo tenant 'demo' with users, stores and sample records if missing")
      ->envname("CRMSYNC_DEMO_TENANT");
  app.add_option("--tls-cert", config->tls_cert, "Server certificate chain (PEM)")
      ->envname("CRMSYNC_TLS_CERT");
  app.add_option("--tls-key", config->tls_key, "Server private key (PEM)")
      ->envname("CRMSYNC_TLS_KEY");
  app.add_option("--tls-client-ca", config->tls_client_ca,
                 "CA bundle (PEM) for client certificates; when set, clients must present "
                 "a certificate signed by it (mTLS)")
      ->envname("CRMSYNC_TLS_CLIENT_CA");
  app.add_flag("--dev-insecure", config->dev_insecure,
               "Serve plaintext without TLS. Development only; refused unless --listen is a "
               "loopback address")
      ->envname("CRMSYNC_DEV_INSECURE");
  app.add_option("--log-level", config->log_level, "Log level")
      ->envname("CRMSYNC_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--log-format", config->log_format,
                 "Log format: text (human) or json (one object per line)")
      ->envname("CRMSYNC_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--max-message-bytes", config->max_message_bytes,
                 "Largest gRPC message accepted, in bytes")
      ->envname("CRMSYNC_MAX_MESSAGE_BYTES")
      ->check(CLI::Range(1024, 256 * 1024 * 1024))
      ->capture_default_str();
  app.add_option("--shutdown-grace-seconds", config->shutdown_grace_seconds,
                 "On SIGTERM/SIGINT, seconds in-flight calls may take to finish")
      ->envname("CRMSYNC_SHUTDOWN_GRACE_SECONDS")
      ->check(CLI::Range(0, 600))
      ->capture_default_str();

  app.add_flag("--new-history", config->new_history,
               "After restoring the store from a backup: give every tenant's change history a "
               "new id, so that devices re-bootstrap and re-send what the backup lacks; then "
               "exit without serving (see docs/operations.md, \"Restore\")");

  app.add_flag("--dev-identity", config->dev_identity,
               "Trust the caller identity in x-crmsync-dev-tenant/-user/-device metadata. "
               "Development only; refused unless --listen is a loopback address")
      ->envname("CRMSYNC_DEV_IDENTITY");
  app.add_option("--policy-file", config->policy_file,
                 "Conflict policy overrides, one 'entity.field = policy' rule per line "
                 "(docs/conflicts.md)")
      ->envname("CRMSYNC_POLICY_FILE");
  app.add_option("--worker-threads", config->worker_threads,
                 "Threads that run store-bound RPC work")
      ->envname("CRMSYNC_WORKER_THREADS")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--max-batch", config->max_batch, "Most mutations accepted in one Push")
      ->envname("CRMSYNC_MAX_BATCH")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--reassignment-grace-hours", config->reassignment_grace_hours,
                 "Hours during which an offline edit by a record's previous owner is still "
                 "accepted after the record was reassigned")
      ->envname("CRMSYNC_REASSIGNMENT_GRACE_HOURS")
      ->check(CLI::Range(0, 24 * 365))
      ->capture_default_str();
  app.add_option("--heartbeat-seconds", config->heartbeat_seconds,
                 "Seconds of silence after which a Subscribe stream gets a heartbeat")
      ->envname("CRMSYNC_HEARTBEAT_SECONDS")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--metrics-listen", config->metrics_listen,
                 "host:port serving Prometheus metrics at /metrics over plain HTTP (port 0 = "
                 "any free port; empty = off). Keep it on loopback or a private network")
      ->envname("CRMSYNC_METRICS_LISTEN")
      ->capture_default_str();
  app.add_option("--retention-hours", config->retention_hours,
                 "Keep change history (tombstones, scope history) for devices silent this long; "
                 "devices silent for longer re-bootstrap (reset-required)")
      ->envname("CRMSYNC_RETENTION_HOURS")
      ->check(CLI::Range(1, 24 * 3650))
      ->capture_default_str();
  app.add_option("--prune-interval-minutes", config->prune_interval_minutes,
                 "How often the change history is pruned (0 = never)")
      ->envname("CRMSYNC_PRUNE_INTERVAL_MINUTES")
      ->check(CLI::Range(0, 24 * 60))
      ->capture_default_str();
  app.add_option("--coupon-sweep-seconds", config->coupon_sweep_seconds,
                 "How often expired coupons are taken out of store terminals' scope (0 = never)")
      ->envname("CRMSYNC_COUPON_SWEEP_SECONDS")
      ->check(CLI::Range(0, 24 * 3600))
      ->capture_default_str();
  app.add_option("--ready-file", config->ready_file,
                 "Once serving, write the bound gRPC port (line 1) and metrics port (line 2, 0 "
                 "when off) to this file (useful with port 0)")
      ->envname("CRMSYNC_READY_FILE");

  app.add_option("--token-key", config->token_key,
                 "PEM Ed25519 private key signing access tokens (deploy/make-token-key.sh). "
                 "Required unless --dev-insecure/--dev-identity, where an ephemeral key is used")
      ->envname("CRMSYNC_TOKEN_KEY");
  app.add_option("--token-verify-key", config->token_verify_keys,
                 "PEM key (public or private) whose tokens are still accepted; repeat for "
                 "several. Used during key rotation (SECURITY.md)")
      ->envname("CRMSYNC_TOKEN_VERIFY_KEY");
  app.add_option("--access-token-ttl-seconds", config->access_token_ttl_seconds,
                 "Lifetime of access tokens (0 issues expired tokens: tests only)")
      ->envname("CRMSYNC_ACCESS_TOKEN_TTL_SECONDS")
      ->check(CLI::Range(0, 24 * 3600))
      ->capture_default_str();
  app.add_option("--refresh-token-ttl-hours", config->refresh_token_ttl_hours,
                 "Lifetime of refresh tokens")
      ->envname("CRMSYNC_REFRESH_TOKEN_TTL_HOURS")
      ->check(CLI::Range(1, 24 * 365))
      ->capture_default_str();
  app.add_option("--password-iterations", config->password_iterations,
                 "PBKDF2-HMAC-SHA256 rounds for new password hashes. FOR TESTS ONLY may this "
                 "go below the default 210000")
      ->envname("CRMSYNC_PASSWORD_ITERATIONS")
      ->check(CLI::Range(1000, 10'000'000))
      ->capture_default_str();
  app.add_option("--max-failed-logins", config->max_failed_logins,
                 "Failed sign-ins per tenant+username (or API key) within 15 minutes before "
                 "further attempts are refused")
      ->envname("CRMSYNC_MAX_FAILED_LOGINS")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--rate-limit-per-second", config->rate_limit_per_second,
                 "Requests per second per device (token bucket); 0 = unlimited")
      ->envname("CRMSYNC_RATE_LIMIT_PER_SECOND")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  app.add_option("--rate-limit-burst", config->rate_limit_burst,
                 "Requests a device may make at once before the per-second limit applies")
      ->envname("CRMSYNC_RATE_LIMIT_BURST")
      ->check(CLI::Range(1.0, 1e6))
      ->capture_default_str();

  ParseResult result;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out, err;
    result.exit_code = app.exit(e, out, err);
    result.should_exit = true;
    result.message = out.str() + err.str();
    return result;
  }

  std::string error;
  if (!ParseStoreSpec(config->store, &config->store_spec, &error)) {
    return {true, 2, "crm-syncd: " + error + "\n"};
  }
  // --new-history only opens the store: no listener, so no TLS to check.
  if (config->new_history) return {};
  bool have_tls = !config->tls_cert.empty() || !config->tls_key.empty();
  if (config->dev_insecure) {
    if (have_tls) {
      return {true, 2, "crm-syncd: --dev-insecure cannot be combined with --tls-cert/--tls-key\n"};
    }
    if (!IsLoopbackListenAddress(config->listen)) {
      return {true, 2,
              "crm-syncd: --dev-insecure serves plaintext and is only allowed on a loopback "
              "address (127.0.0.1, ::1, localhost); got --listen " + config->listen + "\n"};
    }
  } else {
    if (config->tls_cert.empty() || config->tls_key.empty()) {
      return {true, 2,
              "crm-syncd: TLS is required: pass --tls-cert and --tls-key (deploy/make-dev-certs.sh "
              "makes development certificates), or --dev-insecure on a loopback address\n"};
    }
  }
  if (config->dev_identity && !IsLoopbackListenAddress(config->listen)) {
    return {true, 2,
            "crm-syncd: --dev-identity trusts unauthenticated metadata and is only allowed on a "
            "loopback address; got --listen " + config->listen + "\n"};
  }
  if (config->token_key.empty() && !config->dev_insecure && !config->dev_identity) {
    return {true, 2,
            "crm-syncd: --token-key is required to sign access tokens (make one with "
            "deploy/make-token-key.sh); only development mode (--dev-insecure or "
            "--dev-identity) may run with an ephemeral key\n"};
  }
  if (!config->tls_client_ca.empty() && !have_tls) {
    return {true, 2, "crm-syncd: --tls-client-ca needs --tls-cert and --tls-key\n"};
  }
  return result;
}

}  // namespace crmsync::server
