// crmctl commands. Each returns a process exit code (see ExitCode) and
// prints a table, or JSON with --json, to stdout; errors go to stderr.
#ifndef CRMSYNC_TOOLS_CRMCTL_COMMANDS_H_
#define CRMSYNC_TOOLS_CRMCTL_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "connection.h"
#include "crmsync/v1/entities.pb.h"

namespace CLI {
class App;
}

namespace crmsync::crmctl {

struct Output {
  bool json = false;
};

// Parses "90s", "30m", "24h", "7d" into seconds; -1 when malformed.
int64_t ParseDurationSeconds(const std::string& text);

// "sales-rep" -> ROLE_SALES_REP; false for an unknown or unspecified role.
bool ParseRole(const std::string& role, v1::Role* out);

int CmdStatus(const Connection& c, const Output& out);
// grpc.health.v1 of the whole server (no credentials needed): prints
// SERVING / NOT_SERVING; exit 0 only when serving.
int CmdHealth(const Connection& c, const Output& out);

struct DeviceFilter {
  std::string user_id;
  int64_t stale_seconds = 0;  // 0 = any
  std::string status;         // "", "active", "revoked", "wiped"
  int limit = 100;
};
int CmdDevices(const Connection& c, const Output& out, const DeviceFilter& filter);
int CmdDeviceShow(const Connection& c, const Output& out, const std::string& device_id);
int CmdDeviceRevoke(const Connection& c, const Output& out, const std::string& device_id, bool wipe,
                    const std::string& reason);

// `device`, if not empty: only conflicts where that device made the client
// or the server edit.
int CmdConflictsList(const Connection& c, const Output& out, const std::string& owner,
                     const std::string& status, const std::string& device);
int CmdConflictShow(const Connection& c, const Output& out, const std::string& conflict_id);
// The kept values of a record's fields (all, or `field`), newest first,
// with their sources. `type` is an entity name ("lead", "contact").
// Likely duplicate leads, contacts and accounts: all (or of one type or
// owner), and one record's candidates beside it.
int CmdDuplicatesList(const Connection& c, const Output& out, const std::string& type,
                      const std::string& owner);
int CmdDuplicatesShow(const Connection& c, const Output& out, const std::string& type,
                      const std::string& id);
// Merges `merged_id` into `survivor_id` (AdminService.MergeRecords);
// `take` / `keep`: top-level fields whose value the person chose.
int CmdDuplicatesMerge(const Connection& c, const Output& out, const std::string& type,
                       const std::string& survivor_id, const std::string& merged_id,
                       const std::vector<std::string>& take, const std::vector<std::string>& keep);
int CmdRecordHistory(const Connection& c, const Output& out, const std::string& type,
                     const std::string& id, const std::string& field, int limit);
// A customer's timeline (AdminService.GetTimeline), at most `limit` items
// (0 = all).
int CmdRecordTimeline(const Connection& c, const Output& out, const std::string& type,
                      const std::string& id, int limit);
// resolution: "keep-server", "take-client" or "custom" (then `value_json`
// is the chosen value, a crmsync.v1.Record in JSON).
int CmdConflictResolve(const Connection& c, const Output& out, const std::string& conflict_id,
                       const std::string& resolution, const std::string& value_json = "");

int CmdUsers(const Connection& c, const Output& out);
// An integration's grant from the command line: `channels` as
// "call-center=self-reported" (one per channel), `types` as "lead,contact"
// (empty for every type). False, with `error` set, when something is
// unknown.
bool ParseIntegration(const std::vector<std::string>& channels, const std::string& types,
                      v1::IntegrationRules* out, std::string* error);
// "call_center=self_reported,web=reported; lead,contact" (or "all types").
std::string DescribeIntegration(const v1::IntegrationRules& rules);
// `integration` is sent for role integration (which takes no password).
int CmdUserCreate(const Connection& c, const Output& out, const std::string& username,
                  const std::string& display_name, const std::string& role, const std::string& team,
                  const std::string& store, const std::string& password,
                  const v1::IntegrationRules& integration);
int CmdStores(const Connection& c, const Output& out);
int CmdStoreUpsert(const Connection& c, const Output& out, const std::string& id,
                   const std::string& name, double lat, double lon);
int CmdCoupons(const Connection& c, const Output& out, bool has_point, double lat, double lon,
               double within_km, bool include_inactive);
// Creates or replaces a coupon described by a JSON file (crmsync.v1.Coupon).
int CmdCouponUpsert(const Connection& c, const Output& out, const std::string& json_file);
// The `limit` newest events, newest first (oldest first with
// `oldest_first`: then the `limit` oldest).
int CmdAudit(const Connection& c, const Output& out, const std::string& action,
             int64_t since_seconds, int limit, bool oldest_first);

// Refreshes a live view every `interval_ms`: pushes/pulls/conflicts per
// second (of the instance crmctl talks to, for the admin's tenant) and the
// most-behind devices; with --json one JSON object per refresh (JSON
// lines). Stops after `iterations` (0 = until interrupted).
int CmdWatch(const Connection& c, const Output& out, int interval_ms, int iterations);

// `crmctl doctor`: per instance, reachability and health, the TLS chain and
// certificate expiry, and with an admin session the store (schema version),
// clock skew and pool usage; across instances, builds, one shared store and
// token keys every instance accepts. Prints one line per finding (ok, WARN,
// FAIL, skip). Exit 0 without FAIL, 1 with one, 3 if no instance answered.
struct DoctorOptions {
  std::vector<std::string> instances;  // empty = the --server
  int cert_warn_days = 30;
  double skew_warn_ms = 2000;
  double skew_fail_ms = 30000;
};
int CmdDoctor(const ConnectionOptions& base, const Output& out, const DoctorOptions& options);

// What command registrations need from main: a way to connect (null after
// reporting an error), where to put the exit code, the output settings.
struct CommandContext {
  std::function<std::unique_ptr<Connection>()> connect;
  int* code;
  const Output* out;
};

// Adds `users update`, `api-keys create` and `erase` (`users` must exist).
void AddAccountCommands(CLI::App* app, const CommandContext& ctx);

// Adds `export`.
void AddExportCommands(CLI::App* app, const CommandContext& ctx);

// Adds `import`.
void AddImportCommands(CLI::App* app, const CommandContext& ctx);

// Adds `fields` (list, define, remove).
void AddFieldCommands(CLI::App* app, const CommandContext& ctx);

// Logs in with AuthService and stores the access token in `config_file`.
int CmdLogin(const Connection& c, const std::string& tenant, const std::string& username,
             const std::string& password, const std::string& config_file);

}  // namespace crmsync::crmctl

#endif  // CRMSYNC_TOOLS_CRMCTL_COMMANDS_H_
