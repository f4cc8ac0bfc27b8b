#include "config.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "crmsync/build_info.h"

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

namespace {

// Names of the config file's settings that are not long flags (including
// any inside a [section]), quoted and comma-separated; empty if none.
std::string UnknownConfigKeys(const CLI::App& app, const std::string& path) {
  std::string unknown;
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_file(path);
  } catch (const CLI::ParseError&) {
    return "";  // parse() already reported an unreadable file
  }
  for (const CLI::ConfigItem& item : items) {
    if (item.name == "++" || item.name == "--") continue;  // section markers
    bool known = item.parents.empty() && app.get_option_no_throw("--" + item.name) != nullptr &&
                 item.name != "config";
    if (known) continue;
    if (!unknown.empty()) unknown += ", ";
    unknown += "'" + item.fullname() + "'";
  }
  return unknown;
}

bool ReadFirstLine(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::getline(in, *out);
  if (!out->empty() && out->back() == '\r') out->pop_back();
  return true;
}

// Percent-encodes everything but unreserved URI characters.
std::string PercentEncode(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string AddConnectionParameter(const std::string& conninfo, const std::string& key,
                                   const std::string& value) {
  if (conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0) {
    char separator = conninfo.find('?') == std::string::npos ? '?' : '&';
    return conninfo + separator + key + "=" + PercentEncode(value);
  }
  std::string quoted;
  for (char c : value) {
    if (c == '\\' || c == '\'') quoted += '\\';
    quoted += c;
  }
  return conninfo + (conninfo.empty() ? "" : " ") + key + "='" + quoted + "'";
}

namespace {

// CLI11 applies an option's environment variable only when nothing set the
// option before, and it reads the config file first: the file would win
// over the environment. This reader leaves out the file's settings whose
// environment variable is set, so the environment wins, as documented (and
// as a container or unit overriding a packaged file expects).
class EnvOverridesFileConfig : public CLI::ConfigTOML {
 public:
  explicit EnvOverridesFileConfig(const CLI::App* app) : app_(app) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::vector<CLI::ConfigItem> items = CLI::ConfigTOML::from_config(input);
    items.erase(std::remove_if(items.begin(), items.end(),
                               [this](const CLI::ConfigItem& item) {
                                 if (!item.parents.empty()) return false;
                                 const CLI::Option* opt =
                                     app_->get_option_no_throw("--" + item.name);
                                 return opt != nullptr && !opt->get_envname().empty() &&
                                        std::getenv(opt->get_envname().c_str()) != nullptr;
                               }),
                items.end());
    return items;
  }

 private:
  const CLI::App* app_;
};

}  // namespace

ParseResult ParseCommandLine(int argc, char** argv, ServerConfig* config) {
  CLI::App app{
      "crm-syncd: the crmsync server. Serves crmsync.v1 sync, auth and admin over gRPC,\n"
      "plus grpc.health.v1 health checking and server reflection.\n"
      "Every flag can also be set by the environment variable named in its help\n"
      "or in a TOML/INI file given with --config (flags win over the environment,\n"
      "the environment over the file).",
      "crm-syncd"};
  app.set_config("--config", "", "Read settings from this TOML/INI file (keys = long flag names)");
  app.config_formatter(std::make_shared<EnvOverridesFileConfig>(&app));
  // Unknown keys and sections are collected, then refused by name below.
  app.allow_config_extras(CLI::config_extras_mode::capture);
  app.set_version_flag("--version", VersionText("crm-syncd"),
                       "Print the version, git revision and sync protocol versions, then exit");
  app.add_option("--listen", config->listen, "gRPC listen address host:port")
      ->envname("CRMSYNC_LISTEN")
      ->capture_default_str();
  app.add_option("--store", config->store,
                 "Record store: sqlite:PATH (embedded, default) or postgres:URI "
                 "(e.g. postgres:postgresql://crm@db/crmsync)")
      ->envname("CRMSYNC_STORE")
      ->capture_default_str();
  app.add_option("--store-password-file", config->store_password_file,
                 "File whose first line is the PostgreSQL password, so it stays out of the "
                 "command line and environment (libpq's PGPASSFILE works too)")
      ->envname("CRMSYNC_STORE_PASSWORD_FILE");
  app.add_flag("--demo-tenant", config->demo_tenant,
               "Create the demo tenant 'demo' with users, stores and sample records if missing")
      ->envname("CRMSYNC_DEMO_TENANT");
  app.add_option("--demo-tenant-count", config->demo_tenant_count,
                 "With --demo-tenant: N demo tenants, 'demo' then 'demo-2' ... 'demo-N' (ids "
                 "t-demo, t-demo-2 ...), each with the same users and records (load tests over "
                 "many tenants)")
      ->envname("CRMSYNC_DEMO_TENANT_COUNT")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
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

  app.add_flag("--migrate-only", config->migrate_only,
               "Migrate the store's schema to this build's version, print it and exit without "
               "serving (a Kubernetes Job or a rollout step before the instances; "
               "docs/operations.md, \"Upgrading\")")
      ->excludes("--new-history");

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
  app.add_option("--field-history-depth", config->field_history_depth,
                 "Values kept per field of a record for its lineage (GetFieldHistory, crmctl "
                 "record history); 0 = none. Older values go at each pruning run")
      ->envname("CRMSYNC_FIELD_HISTORY_DEPTH")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  app.add_option("--duplicate-check", config->duplicate_check,
                 "Flag likely duplicate leads, contacts and accounts when they are written "
                 "(PossibleDuplicate records, crmctl duplicates); false = off")
      ->envname("CRMSYNC_DUPLICATE_CHECK")
      ->capture_default_str();
  app.add_option("--duplicate-threshold", config->duplicate_threshold,
                 "Score (0..1) at which another record is flagged as a likely duplicate")
      ->envname("CRMSYNC_DUPLICATE_THRESHOLD")
      ->check(CLI::Range(0.05, 1.0))
      ->capture_default_str();
  app.add_option("--duplicate-name-similarity", config->duplicate_name_similarity,
                 "Jaro-Winkler similarity (0..1) of two folded names that counts as a name match")
      ->envname("CRMSYNC_DUPLICATE_NAME_SIMILARITY")
      ->check(CLI::Range(0.5, 1.0))
      ->capture_default_str();
  app.add_option("--phone-region", config->phone_region,
                 "ISO 3166-1 region of phone numbers written without a country code, when the "
                 "record's address names no country")
      ->envname("CRMSYNC_PHONE_REGION")
      ->check([](const std::string& v) {
        return v.size() == 2 && std::isalpha(static_cast<unsigned char>(v[0])) &&
                       std::isalpha(static_cast<unsigned char>(v[1]))
                   ? std::string()
                   : std::string("a region is two letters (US, FR, DE...)");
      })
      ->capture_default_str();
  app.add_option("--health-check-seconds", config->health_check_seconds,
                 "How often the store is checked; health (grpc.health.v1 and /healthz) says "
                 "NOT_SERVING while the store cannot be reached")
      ->envname("CRMSYNC_HEALTH_CHECK_SECONDS")
      ->check(CLI::Range(1, 300))
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
  app.add_option("--password-memory-kib", config->password_memory_kib,
                 "Argon2id memory (KiB) of new password hashes; older or cheaper hashes are "
                 "re-hashed at the next sign-in. FOR TESTS ONLY may this go below 19456")
      ->envname("CRMSYNC_PASSWORD_MEMORY_KIB")
      ->check(CLI::Range(64, 1024 * 1024))
      ->capture_default_str();
  app.add_option("--password-passes", config->password_passes,
                 "Argon2id passes of new password hashes")
      ->envname("CRMSYNC_PASSWORD_PASSES")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--max-failed-logins", config->max_failed_logins,
                 "Failed sign-ins per tenant+username (or API key) within 15 minutes before "
                 "further attempts are refused")
      ->envname("CRMSYNC_MAX_FAILED_LOGINS")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--keepalive-seconds", config->keepalive_seconds,
                 "Ping a connection that carried nothing for this long (HTTP/2 keepalive)")
      ->envname("CRMSYNC_KEEPALIVE_SECONDS")
      ->check(CLI::Range(1, 24 * 3600))
      ->capture_default_str();
  app.add_option("--keepalive-timeout-seconds", config->keepalive_timeout_seconds,
                 "Close a connection (ending its calls) whose keepalive ping is not answered "
                 "within this many seconds")
      ->envname("CRMSYNC_KEEPALIVE_TIMEOUT_SECONDS")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--tcp-read-chunk-bytes", config->tcp_read_chunk_bytes,
                 "Bytes a connection reads from its socket at a time (grows under load)")
      ->envname("CRMSYNC_TCP_READ_CHUNK_BYTES")
      ->check(CLI::Range(256, 4 * 1024 * 1024))
      ->capture_default_str();
  app.add_option("--malloc-arena-max", config->malloc_arena_max,
                 "glibc malloc arenas (M_ARENA_MAX); 0 = glibc's default")
      ->envname("CRMSYNC_MALLOC_ARENA_MAX")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  app.add_option("--grpc-channel-arg", config->grpc_channel_args,
                 "Expert: extra gRPC server channel argument name=integer (repeatable)")
      ->envname("CRMSYNC_GRPC_CHANNEL_ARG")
      ->check([](const std::string& v) -> std::string {
        auto eq = v.find('=');
        if (eq == std::string::npos || eq == 0) return "expected name=integer";
        try {
          size_t used = 0;
          (void)std::stoi(v.substr(eq + 1), &used);
          if (used != v.size() - eq - 1) return "expected name=integer";
        } catch (const std::exception&) {
          return "expected name=integer";
        }
        return "";
      });
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
    // Settings of the config file that are not flags end up as extras.
    if (auto path = app.get_config_ptr()->as<std::string>(); !path.empty()) {
      if (std::string unknown = UnknownConfigKeys(app, path); !unknown.empty()) {
        return {true, 2,
                "crm-syncd: --config " + path + ": unknown setting(s) " + unknown +
                    "; settings are the long flag names without '--', at the top level (see "
                    "--help)\n"};
      }
    }
    std::ostringstream out, err;
    // --help and --version exit 0; every usage error exits 2.
    result.exit_code = app.exit(e, out, err) == 0 ? 0 : 2;
    result.should_exit = true;
    result.message = out.str() + err.str();
    return result;
  }

  std::string error;
  if (!ParseStoreSpec(config->store, &config->store_spec, &error)) {
    return {true, 2, "crm-syncd: " + error + "\n"};
  }
  if (!config->store_password_file.empty()) {
    if (config->store_spec.kind != StoreSpec::Kind::kPostgres) {
      return {true, 2, "crm-syncd: --store-password-file is for a postgres: store\n"};
    }
    std::string password;
    if (!ReadFirstLine(config->store_password_file, &password)) {
      return {true, 2,
              "crm-syncd: cannot read --store-password-file " + config->store_password_file + "\n"};
    }
    config->store_spec.target =
        AddConnectionParameter(config->store_spec.target, "password", password);
  }
  if (config->store_spec.kind == StoreSpec::Kind::kPostgres) {
    // Name the connections in pg_stat_activity, and do not wait forever for
    // an unreachable database host (unless the operator chose otherwise).
    if (config->store_spec.target.find("application_name") == std::string::npos) {
      config->store_spec.target =
          AddConnectionParameter(config->store_spec.target, "application_name", "crm-syncd");
    }
    if (config->store_spec.target.find("connect_timeout") == std::string::npos) {
      config->store_spec.target =
          AddConnectionParameter(config->store_spec.target, "connect_timeout", "10");
    }
  }
  if (config->demo_tenant_count > 1 && !config->demo_tenant) {
    return {true, 2, "crm-syncd: --demo-tenant-count needs --demo-tenant\n"};
  }
  // --new-history and --migrate-only only open the store: no listener, so
  // no TLS to check.
  if (config->new_history || config->migrate_only) return {};
  bool have_tls = !config->tls_cert.empty() || !config->tls_key.empty();
  if (config->dev_insecure) {
    if (have_tls) {
      return {true, 2, "crm-syncd: --dev-insecure cannot be combined with --tls-cert/--tls-key\n"};
    }
    if (!IsLoopbackListenAddress(config->listen)) {
      return {true, 2,
              "crm-syncd: --dev-insecure serves plaintext and is only allowed on a loopback "
              "address (127.0.0.1, ::1, localhost); got --listen " +
                  config->listen + "\n"};
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
            "loopback address; got --listen " +
                config->listen + "\n"};
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
