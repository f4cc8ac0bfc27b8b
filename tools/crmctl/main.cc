// crmctl: the crmsync admin CLI (talks to crmsync.v1.AdminService).
#include <CLI/CLI.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "connection.h"
#include "crmsync/build_info.h"
#include "session.h"

namespace crmsync::crmctl {
namespace {

std::string DefaultConfigPath() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  if (xdg && *xdg) return std::string(xdg) + "/crmsync/crmctl.toml";
  if (home && *home) return std::string(home) + "/.config/crmsync/crmctl.toml";
  return "crmctl.toml";
}

std::string ReadPassword(bool from_stdin) {
  std::string password;
  if (!from_stdin) std::fprintf(stderr, "password: ");
  std::getline(std::cin, password);
  return password;
}

// Whether `flag` (or flag=value) is on the command line.
bool ArgvHas(int argc, char** argv, const char* flag) {
  const size_t n = std::strlen(flag);
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], flag, n) == 0 && (argv[i][n] == '\0' || argv[i][n] == '=')) {
      return true;
    }
  }
  return false;
}

// The config file named by --config (or CRMCTL_CONFIG), if any.
std::string ExplicitConfigPath(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) return argv[i + 1];
    if (std::strncmp(argv[i], "--config=", 9) == 0) return argv[i] + 9;
  }
  const char* env = std::getenv("CRMCTL_CONFIG");
  return env ? env : "";
}

// `login` writes the config file: make sure it exists (owner-only) so that
// naming a new file with --config is not an error.
void CreateConfigForLogin(int argc, char** argv, const std::string& fallback) {
  bool login = false;
  for (int i = 1; i < argc; ++i) login |= std::strcmp(argv[i], "login") == 0;
  if (!login) return;
  std::string path = ExplicitConfigPath(argc, argv);
  if (path.empty()) path = fallback;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  mode_t previous = umask(077);
  std::ofstream touch(path);
  umask(previous);
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{
      "crmctl: monitor and administer crmsync (devices, conflicts, users, stores, "
      "coupons, audit).\nConnection settings come from flags, CRMCTL_* environment "
      "variables or the config file\n(TOML keys: server, ca, client-cert, client-key, "
      "insecure, token, dev-tenant, dev-user; login adds the session).\nExit codes: 0 ok, 1 "
      "failed, 2 usage, 3 server "
      "unreachable, 4 not authorised, 5 not found.",
      "crmctl"};
  app.require_subcommand(1);
  app.set_version_flag("--version", crmsync::VersionText("crmctl"),
                       "Print the version, git revision and sync protocol versions, then exit");
  // Connection flags and --json may also follow the command.
  app.fallthrough();
  ConnectionOptions conn;
  Output out;
  const std::string default_config = DefaultConfigPath();
  CreateConfigForLogin(argc, argv, default_config);
  CLI::Option* config_opt =
      app.set_config("--config", default_config, "Config file (TOML)")->envname("CRMCTL_CONFIG");
  app.add_option("--server", conn.server, "crm-syncd address host:port")
      ->envname("CRMCTL_SERVER")
      ->capture_default_str();
  app.add_option("--ca", conn.ca_file, "CA certificate (PEM) to trust for the server")
      ->envname("CRMCTL_CA");
  app.add_option("--client-cert", conn.client_cert_file,
                 "Client certificate (PEM) for servers that require one (--tls-client-ca)")
      ->envname("CRMCTL_CLIENT_CERT");
  app.add_option("--client-key", conn.client_key_file, "Private key (PEM) of --client-cert")
      ->envname("CRMCTL_CLIENT_KEY");
  app.add_flag("--insecure", conn.insecure, "Plaintext (development servers on loopback only)")
      ->envname("CRMCTL_INSECURE");
  app.add_option("--token", conn.token, "Admin access token")->envname("CRMCTL_TOKEN");
  // Written by `login` into the config file; not meant as flags.
  SavedSession session;
  app.add_option("--refresh-token", session.refresh_token)->group("");
  app.add_option("--token-expires", session.expires_s)->group("");
  app.add_option("--dev-tenant", conn.dev_tenant,
                 "Development identity: tenant slug (servers run with --dev-identity)")
      ->envname("CRMCTL_DEV_TENANT");
  app.add_option("--dev-user", conn.dev_user, "Development identity: username")
      ->envname("CRMCTL_DEV_USER");
  int timeout_s = 10;
  app.add_option("--timeout", timeout_s, "Seconds per call")->capture_default_str();
  app.add_flag("--json", out.json, "Print JSON instead of tables");

  int code = kExitOk;
  bool logging_in = false;  // login replaces the session: nothing to renew
  const bool token_given = ArgvHas(argc, argv, "--token") || std::getenv("CRMCTL_TOKEN");
  auto connect = [&]() -> std::unique_ptr<Connection> {
    conn.timeout = std::chrono::seconds(timeout_s);
    if (!token_given && !logging_in) {
      const std::string config_path =
          config_opt->count() > 0 ? config_opt->as<std::string>() : default_config;
      RefreshIfExpiring(config_path, &session, &conn);
    }
    std::string error;
    auto c = Connection::Open(conn, &error);
    if (!c) {
      std::fprintf(stderr, "crmctl: %s\n", error.c_str());
      code = kExitUsage;
    }
    return c;
  };

  auto* health = app.add_subcommand(
      "health",
      "Whether the server serves (grpc.health.v1; NOT_SERVING while its store is "
      "unreachable). Needs no login; exit 0 only when SERVING");
  health->callback([&] {
    if (auto c = connect()) code = CmdHealth(*c, out);
  });

  DoctorOptions doctor_options;
  auto* doctor = app.add_subcommand(
      "doctor",
      "Checks instances: reachability and health, TLS chain and certificate expiry; with an "
      "admin session also schema version, clock skew, pool usage, and across instances the "
      "builds, the shared store and token keys. Exit 0 unless a check FAILs");
  doctor
      ->add_option("--instance", doctor_options.instances,
                   "An instance address host:port (repeat for each; default: --server)")
      ->take_all();
  doctor
      ->add_option("--cert-warn-days", doctor_options.cert_warn_days,
                   "Warn when a certificate expires within this many days")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  doctor
      ->add_option("--skew-warn-ms", doctor_options.skew_warn_ms,
                   "Warn above this clock difference to an instance")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  doctor
      ->add_option("--skew-fail-ms", doctor_options.skew_fail_ms,
                   "Fail above this clock difference to an instance")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  doctor->callback([&] {
    // Each instance gets a connection of its own; connect() validates the
    // shared settings (and renews a saved session) once.
    if (!connect()) return;
    code = CmdDoctor(conn, out, doctor_options);
  });

  auto* status = app.add_subcommand("status", "Server version, store, uptime, sequence");
  status->callback([&] {
    if (auto c = connect()) code = CmdStatus(*c, out);
  });

  DeviceFilter filter;
  std::string stale;
  auto* devices = app.add_subcommand("devices", "Devices with their sync lag, most behind first");
  devices->add_option("--stale", stale, "Only devices silent for longer than this (30m, 24h, 7d)");
  devices->add_option("--user", filter.user_id, "Only devices of this user id");
  devices->add_option("--status", filter.status, "active, revoked or wiped")
      ->check(CLI::IsMember({"active", "revoked", "wiped"}));
  devices->add_option("--limit", filter.limit, "Most devices listed")->capture_default_str();
  devices->callback([&] {
    if (!stale.empty()) {
      filter.stale_seconds = ParseDurationSeconds(stale);
      if (filter.stale_seconds < 0) {
        std::fprintf(stderr, "crmctl: --stale must look like 30m, 24h or 7d\n");
        code = kExitUsage;
        return;
      }
    }
    if (auto c = connect()) code = CmdDevices(*c, out, filter);
  });

  auto* device = app.add_subcommand("device", "One device: show, revoke, wipe");
  device->require_subcommand(1);
  std::string device_id, reason;
  auto* show = device->add_subcommand("show", "Details and sync position of a device");
  show->add_option("device_id", device_id, "Device id")->required();
  show->callback([&] {
    if (auto c = connect()) code = CmdDeviceShow(*c, out, device_id);
  });
  for (const char* verb : {"revoke", "wipe"}) {
    bool wipe = std::string(verb) == "wipe";
    auto* sub = device->add_subcommand(
        verb, wipe ? "Revoke a device and make it erase its local data at next contact"
                   : "Revoke a device: its tokens stop working at once");
    sub->add_option("device_id", device_id, "Device id")->required();
    sub->add_option("--reason", reason, "Recorded in the audit log");
    sub->callback([&, wipe] {
      if (auto c = connect()) code = CmdDeviceRevoke(*c, out, device_id, wipe, reason);
    });
  }

  auto* conflicts = app.add_subcommand("conflicts", "Conflicts waiting for a human");
  conflicts->require_subcommand(1);
  std::string owner, conflict_status = "open", conflict_id, conflict_device;
  auto* clist = conflicts->add_subcommand("list", "List conflicts");
  clist->add_option("--owner", owner, "Only conflicts on records of this user id");
  clist->add_option("--device", conflict_device, "Only conflicts this device's edits took part in");
  clist->add_option("--status", conflict_status, "open, resolved or dismissed")
      ->capture_default_str();
  clist->callback([&] {
    if (auto c = connect())
      code = CmdConflictsList(*c, out, owner, conflict_status, conflict_device);
  });
  auto* cshow = conflicts->add_subcommand("show", "One conflict with its competing values");
  cshow->add_option("conflict_id", conflict_id, "Conflict id")->required();
  cshow->callback([&] {
    if (auto c = connect()) code = CmdConflictShow(*c, out, conflict_id);
  });
  auto* cresolve = conflicts->add_subcommand("resolve", "Settle a conflict");
  bool keep_server = false, take_client = false;
  std::string custom_value;
  cresolve->add_option("conflict_id", conflict_id, "Conflict id")->required();
  auto* ks = cresolve->add_flag("--keep-server", keep_server, "Keep the server's value");
  auto* tc = cresolve->add_flag("--take-client", take_client, "Write the device's value");
  auto* cv = cresolve->add_option(
      "--value", custom_value,
      "Write this value instead: a crmsync.v1.Record in JSON holding the conflicted field, "
      "e.g. '{\"opportunity\":{\"amount\":{\"currency_code\":\"EUR\",\"amount_minor\":"
      "\"1400000\"}}}'");
  ks->excludes(tc);
  ks->excludes(cv);
  tc->excludes(cv);
  cresolve->callback([&] {
    if (!keep_server && !take_client && custom_value.empty()) {
      std::fprintf(stderr, "crmctl: choose --keep-server, --take-client or --value JSON\n");
      code = kExitUsage;
      return;
    }
    const std::string how = keep_server ? "keep-server" : take_client ? "take-client" : "custom";
    if (auto c = connect()) code = CmdConflictResolve(*c, out, conflict_id, how, custom_value);
  });

  auto* duplicates =
      app.add_subcommand("duplicates", "Likely duplicate leads, contacts and accounts");
  duplicates->require_subcommand(1);
  std::string dup_type, dup_owner, dup_id;
  auto* dlist = duplicates->add_subcommand(
      "list", "Every flagged record with its candidates, score and what matched");
  dlist->add_option("--type", dup_type, "Only lead, contact or account");
  dlist->add_option("--owner", dup_owner, "Only records of this user id");
  dlist->callback([&] {
    if (auto c = connect()) code = CmdDuplicatesList(*c, out, dup_type, dup_owner);
  });
  auto* dshow =
      duplicates->add_subcommand("show", "One record and its likely duplicates, side by side");
  dshow->add_option("type", dup_type, "lead, contact or account")->required();
  dshow->add_option("id", dup_id, "Record id")->required();
  dshow->callback([&] {
    if (auto c = connect()) code = CmdDuplicatesShow(*c, out, dup_type, dup_id);
  });
  std::string merge_survivor, merge_other;
  std::vector<std::string> merge_take, merge_keep;
  auto* dmerge = duplicates->add_subcommand(
      "merge",
      "Merge two records of one customer: the survivor takes the more precise value of each "
      "field, activities, events and opportunities move to it, the other becomes a tombstone "
      "naming it");
  dmerge->add_option("type", dup_type, "lead, contact or account")->required();
  dmerge->add_option("survivor", merge_survivor, "Id of the record kept")->required();
  dmerge->add_option("merged", merge_other, "Id of the record merged into it")->required();
  dmerge->add_option("--take", merge_take, "Fields that take the merged record's value")
      ->delimiter(',');
  dmerge->add_option("--keep", merge_keep, "Fields that keep the survivor's value")->delimiter(',');
  dmerge->callback([&] {
    if (auto c = connect()) {
      code = CmdDuplicatesMerge(*c, out, dup_type, merge_survivor, merge_other, merge_take,
                                merge_keep);
    }
  });

  auto* record = app.add_subcommand(
      "record", "One record: the history of its field values, its customer's timeline");
  record->require_subcommand(1);
  std::string record_type, record_id, record_field;
  int history_limit = 0;
  auto* rhistory = record->add_subcommand(
      "history",
      "Where each value of a record came from: its fields' last values, newest first, with "
      "channel, precision, author, device and time");
  rhistory->add_option("type", record_type, "Record type: lead, contact, account, opportunity...")
      ->required();
  rhistory->add_option("id", record_id, "Record id")->required();
  rhistory->add_option("--field", record_field, "Only this field (e.g. phone, address.city)");
  rhistory->add_option("--limit", history_limit, "Values per field (0 = all the server keeps)")
      ->check(CLI::Range(0, 1000));
  rhistory->callback([&] {
    if (auto c = connect())
      code = CmdRecordHistory(*c, out, record_type, record_id, record_field, history_limit);
  });
  int timeline_limit = 0;
  auto* rtimeline = record->add_subcommand(
      "timeline",
      "Everything about an account, contact or lead: activities, events, opportunities (and an "
      "account's contacts), newest first, with when and through which channel");
  rtimeline->add_option("type", record_type, "account, contact or lead")->required();
  rtimeline->add_option("id", record_id, "Record id")->required();
  rtimeline->add_option("--limit", timeline_limit, "Newest items only (0 = all)")
      ->check(CLI::Range(0, 100000));
  rtimeline->callback([&] {
    if (auto c = connect())
      code = CmdRecordTimeline(*c, out, record_type, record_id, timeline_limit);
  });

  auto* users = app.add_subcommand("users", "Users of the tenant (list, create, update)");
  users->callback([&] {
    if (users->get_subcommands().empty()) {
      if (auto c = connect()) code = CmdUsers(*c, out);
    }
  });
  std::string username, display, role, team, store_id, grant_types;
  std::vector<std::string> grant_channels;
  bool password_stdin = false;
  auto* ucreate = users->add_subcommand(
      "create",
      "Create a user (password read from stdin; none for store terminals and integrations, "
      "which sign in with an API key)");
  ucreate->add_option("--username", username, "Login name")->required();
  ucreate->add_option("--name", display, "Display name");
  ucreate
      ->add_option("--role", role, "admin, sales-manager, sales-rep, store-terminal or integration")
      ->required();
  ucreate->add_option("--team", team, "Team id");
  ucreate->add_option("--store", store_id, "Store id (store terminals)");
  ucreate->add_option("--channel", grant_channels,
                      "Integrations: a channel its writes may come through and the precision "
                      "stamped on them, e.g. call-center=self-reported (repeatable; the first "
                      "is the default)");
  ucreate->add_option("--types", grant_types,
                      "Integrations: the entity types it reads and writes, e.g. lead,contact "
                      "(default: every type)");
  ucreate->callback([&] {
    v1::IntegrationRules grant;
    std::string error;
    if (!ParseIntegration(grant_channels, grant_types, &grant, &error)) {
      std::fprintf(stderr, "crmctl: %s\n", error.c_str());
      code = kExitUsage;
      return;
    }
    v1::Role r = v1::ROLE_UNSPECIFIED;
    const bool integration = ParseRole(role, &r) && r == v1::ROLE_INTEGRATION;
    if (!integration && (!grant_channels.empty() || !grant_types.empty())) {
      std::fprintf(stderr, "crmctl: --channel and --types are for --role integration\n");
      code = kExitUsage;
      return;
    }
    if (integration && grant_channels.empty()) {
      std::fprintf(stderr,
                   "crmctl: an integration needs at least one --channel, e.g. "
                   "--channel call-center=self-reported\n");
      code = kExitUsage;
      return;
    }
    std::string password = integration ? "" : ReadPassword(true);
    if (auto c = connect()) {
      code = CmdUserCreate(*c, out, username, display, role, team, store_id, password, grant);
    }
  });

  AddAccountCommands(&app, CommandContext{connect, &code, &out});
  AddExportCommands(&app, CommandContext{connect, &code, &out});
  AddImportCommands(&app, CommandContext{connect, &code, &out});
  AddFieldCommands(&app, CommandContext{connect, &code, &out});

  auto* stores = app.add_subcommand("stores", "Stores (list, upsert)");
  stores->callback([&] {
    if (stores->get_subcommands().empty()) {
      if (auto c = connect()) code = CmdStores(*c, out);
    }
  });
  std::string sid, sname;
  double slat = 0, slon = 0;
  auto* supsert = stores->add_subcommand("upsert", "Create or change a store");
  supsert->add_option("--id", sid, "Store id")->required();
  supsert->add_option("--name", sname, "Name")->required();
  supsert->add_option("--lat", slat, "Latitude")->required()->check(CLI::Range(-90.0, 90.0));
  supsert->add_option("--lon", slon, "Longitude")->required()->check(CLI::Range(-180.0, 180.0));
  supsert->callback([&] {
    if (auto c = connect()) code = CmdStoreUpsert(*c, out, sid, sname, slat, slon);
  });

  auto* coupons = app.add_subcommand("coupons", "Coupons (list, upsert)");
  std::vector<double> at;
  double within_km = 0;
  bool all = false;
  coupons->add_option("--at", at, "Only coupons whose geofence contains LAT LON")->expected(2);
  coupons->add_option("--within-km", within_km, "With --at: coupons whose geofence is this close");
  coupons->add_flag("--all", all, "Include expired and inactive coupons");
  coupons->callback([&] {
    if (coupons->get_subcommands().empty()) {
      if (auto c = connect()) {
        code = CmdCoupons(*c, out, at.size() == 2, at.empty() ? 0 : at[0],
                          at.size() == 2 ? at[1] : 0, within_km, all);
      }
    }
  });
  std::string coupon_file;
  auto* cupsert = coupons->add_subcommand("upsert", "Create or replace a coupon from JSON");
  cupsert->add_option("file", coupon_file, "crmsync.v1.Coupon as JSON")->required();
  cupsert->callback([&] {
    if (auto c = connect()) code = CmdCouponUpsert(*c, out, coupon_file);
  });

  auto* audit = app.add_subcommand("audit", "Audit log: logins, admin actions, resolutions");
  std::string action, since;
  int audit_limit = 100;
  audit->add_option("--action", action, "Only this action (login, device_revoked, ...)");
  audit->add_option("--since", since, "Only events newer than this (30m, 24h, 7d)");
  audit->add_option("--limit", audit_limit, "Most events listed (the newest)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  bool oldest_first = false;
  audit->add_flag("--oldest-first", oldest_first, "List the oldest events first instead");
  audit->callback([&] {
    int64_t since_s = since.empty() ? 0 : ParseDurationSeconds(since);
    if (since_s < 0) {
      std::fprintf(stderr, "crmctl: --since must look like 30m, 24h or 7d\n");
      code = kExitUsage;
      return;
    }
    if (auto c = connect()) code = CmdAudit(*c, out, action, since_s, audit_limit, oldest_first);
  });

  auto* watch = app.add_subcommand("watch", "Live view: rates per second and most-behind devices");
  double interval_s = 2;
  int iterations = 0;
  watch->add_option("--interval", interval_s, "Seconds between refreshes")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  watch->add_option("--iterations", iterations, "Stop after this many refreshes (0 = never)")
      ->capture_default_str();
  watch->callback([&] {
    if (auto c = connect())
      code = CmdWatch(*c, out, static_cast<int>(interval_s * 1000), iterations);
  });

  auto* login = app.add_subcommand("login", "Log in as an admin and save the token to the config");
  std::string tenant, login_user;
  login->add_option("--tenant", tenant, "Tenant slug")->required();
  login->add_option("--user", login_user, "Admin username")->required();
  login->add_flag("--password-stdin", password_stdin, "Read the password from stdin");
  login->callback([&] {
    std::string password = ReadPassword(password_stdin);
    logging_in = true;
    const std::string config_path =
        config_opt->count() > 0 ? config_opt->as<std::string>() : default_config;
    if (auto c = connect()) code = CmdLogin(*c, tenant, login_user, password, config_path);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  return code;
}

}  // namespace crmsync::crmctl

int main(int argc, char** argv) { return crmsync::crmctl::Main(argc, argv); }
