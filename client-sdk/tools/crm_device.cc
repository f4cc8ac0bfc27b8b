// crm-device: command-line parsing (CLI11) and the session.
#include "crm_device.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/cord.h"
#include "crmsync/build_info.h"
#include "crmsync/client/transport.h"

namespace crmsync::client::device {

namespace {

// A missing or contradictory flag: exits kUsage (2), not kInvalid.
constexpr char kUsagePayload[] = "type.crmsync.dev/crm-device-usage";
absl::Status UsageError(const std::string& message) {
  absl::Status s = absl::InvalidArgumentError(message);
  s.SetPayload(kUsagePayload, absl::Cord("usage"));
  return s;
}

}  // namespace

Session::~Session() {
  engine_.reset();
  db_.reset();
}

std::ostream& Session::out() { return std::cout; }
std::ostream& Session::err() { return std::cerr; }

void Session::AddEvent(const std::string& e) {
  absl::MutexLock lock(&events_mu_);
  events_.push_back(e);
}

std::vector<std::string> Session::TakeEvents() {
  absl::MutexLock lock(&events_mu_);
  return std::move(events_);
}

absl::StatusOr<Database*> Session::Db() {
  if (db_) return db_.get();
  if (settings_.db.empty()) return UsageError("--db PATH is required");
  DatabaseOptions o;
  o.path = settings_.db;
  o.key = settings_.key;
  o.device_id = settings_.device_id;
  o.user_id = settings_.user.empty() ? "" : "u-" + settings_.user;
  auto db = Database::Open(o);
  if (!db.ok()) return db.status();
  db_ = *std::move(db);
  return db_.get();
}

absl::StatusOr<SyncEngine*> Session::Engine() {
  if (engine_) return engine_.get();
  auto db = Db();
  if (!db.ok()) return db.status();
  if (settings_.server.empty()) return UsageError("--server HOST:PORT is required");
  if (settings_.user.empty()) return UsageError("--user NAME is required");
  GrpcTransportOptions t;
  t.address = settings_.server;
  if (!settings_.ca.empty()) {
    std::ifstream in(settings_.ca);
    if (!in) return absl::NotFoundError("cannot read --ca " + settings_.ca);
    std::stringstream pem;
    pem << in.rdbuf();
    t.ca_pem = pem.str();
  } else if (!settings_.insecure) {
    return UsageError("give --ca FILE for TLS, or --insecure for a plaintext development server");
  }
  if (settings_.client_cert.empty() != settings_.client_key.empty() ||
      (!settings_.client_cert.empty() && settings_.ca.empty())) {
    return UsageError("--client-cert and --client-key go together, and need --ca (TLS)");
  }
  for (auto [path, pem] : {std::pair{&settings_.client_cert, &t.client_cert_pem},
                           std::pair{&settings_.client_key, &t.client_key_pem}}) {
    if (path->empty()) continue;
    std::ifstream in(*path);
    if (!in) return absl::NotFoundError("cannot read " + *path);
    std::stringstream text;
    text << in.rdbuf();
    *pem = text.str();
  }
  if (settings_.password.empty() && settings_.api_key.empty()) {
    t.credentials = MakeDevCredentials(settings_.tenant, settings_.user, (*db)->device_id());
  } else {
    TokenCredentialsOptions c;
    c.address = t.address;
    c.ca_pem = t.ca_pem;
    c.client_cert_pem = t.client_cert_pem;
    c.client_key_pem = t.client_key_pem;
    c.tenant = settings_.tenant;
    c.username = settings_.user;
    c.password = settings_.password;
    c.api_key = settings_.api_key;
    c.device_id = (*db)->device_id();
    c.platform = "crm-device";
    t.credentials = MakeTokenCredentials(std::move(c));
  }
  SyncOptions so;
  so.platform = "crm-device";
  so.on_conflict = [this](const PushEvent& e) {
    AddEvent("conflict " + e.mutation.record().id() + ": " + e.result.message());
  };
  so.on_rejected = [this](const PushEvent& e) {
    AddEvent("rejected " + e.mutation.record().id() + " (" +
             v1::RejectReason_Name(e.result.reject_reason()) + "): " + e.result.message());
  };
  so.on_change = [this](const ChangeEvent& e) {
    if (watching) {
      absl::MutexLock lock(&events_mu_);
      out() << (e.kind == ChangeEvent::Kind::kRemoved ? "removed " : "changed ")
            << v1::EntityType_Name(e.ref.entity_type()) << " " << e.ref.id() << std::endl;
    }
  };
  so.on_wiped = [this] { AddEvent("wiped: the server revoked this device; local store erased"); };
  engine_ = std::make_unique<SyncEngine>(*db, MakeGrpcTransport(std::move(t)), so);
  return engine_.get();
}

int ExitCodeOf(const absl::Status& s) {
  if (s.GetPayload(kUsagePayload)) return kUsage;
  switch (s.code()) {
    case absl::StatusCode::kOk: return kOk;
    case absl::StatusCode::kNotFound: return kNotFound;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kAlreadyExists: return kInvalid;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded: return kUnreachable;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated: return kDenied;
    case absl::StatusCode::kFailedPrecondition:
      return s.message().rfind("offline", 0) == 0 ? kOfflineRefused : kDenied;
    default: return kFailed;
  }
}

namespace {

void AddGlobals(CLI::App* app, Settings* s) {
  app->add_option("--server", s->server, "sync server HOST:PORT");
  app->add_option("--tenant", s->tenant, "tenant slug")->capture_default_str();
  app->add_option("--user", s->user, "username, e.g. alice");
  app->add_option("--password", s->password,
                  "password: sign in with tokens (without it: development identity)")
      ->envname("CRMSYNC_PASSWORD");
  app->add_option("--device-id", s->device_id, "device id for a new store (default: generated)");
  app->add_option("--db", s->db, "local store file")->envname("CRMSYNC_DB");
  app->add_option("--key", s->key, "encryption key of the local store (or env CRMSYNC_KEY)")
      ->envname("CRMSYNC_KEY");
  app->add_option("--ca", s->ca, "PEM file of the server's CA (TLS)");
  app->add_option("--client-cert", s->client_cert,
                  "PEM certificate chain this device presents (servers run with --tls-client-ca)");
  app->add_option("--client-key", s->client_key, "PEM private key of --client-cert");
  app->add_option("--api-key", s->api_key,
                  "store terminals: sign in with this API key (crmctl api-keys create) instead "
                  "of a password")
      ->envname("CRMSYNC_API_KEY");
  app->add_flag("--insecure", s->insecure, "plaintext connection (development servers only)");
  app->set_version_flag("--version", crmsync::VersionText("crm-device"),
                        "print the version, git revision and sync protocol versions, then exit");
}

}  // namespace

int Run(const std::vector<std::string>& args, Session* session, Settings* settings,
        bool allow_globals) {
  CLI::App app{"crm-device: one crmsync device (field rep phone or store terminal)", "crm-device"};
  app.require_subcommand(1);
  app.fallthrough();
  if (allow_globals) AddGlobals(&app, settings);
  int rc = kOk;
  std::string type, id;
  std::vector<std::string> sets;

  auto* create = app.add_subcommand("create", "create a record locally (queued for sync)");
  create->add_option("type", type, "entity type: lead, account, opportunity, contact, ...")
      ->required();
  create->add_option("--id", id, "record id (default: a new UUIDv7)");
  create->add_option("--set", sets, "field=value (repeatable; nested: amount.amount_minor=5)");
  create->callback([&] { rc = CmdCreate(session, type, id, sets); });

  auto* edit = app.add_subcommand("edit", "change fields of a record locally");
  edit->add_option("type", type, "entity type")->required();
  edit->add_option("id", id, "record id")->required();
  edit->add_option("--set", sets, "field=value (repeatable)")->required();
  edit->callback([&] { rc = CmdEdit(session, type, id, sets); });

  auto* del = app.add_subcommand("delete", "delete a record locally");
  del->add_option("type", type, "entity type")->required();
  del->add_option("id", id, "record id")->required();
  del->callback([&] { rc = CmdDelete(session, type, id); });

  std::string merged_id;
  std::vector<std::string> take, keep;
  auto* merge = app.add_subcommand(
      "merge", "merge a duplicate into the record kept (queued; the server decides the fields)");
  merge->add_option("type", type, "lead, contact or account")->required();
  merge->add_option("survivor", id, "id of the record kept")->required();
  merge->add_option("merged", merged_id, "id of the record merged into it")->required();
  merge->add_option("--take", take, "fields that take the merged record's value")->delimiter(',');
  merge->add_option("--keep", keep, "fields that keep the survivor's value")->delimiter(',');
  merge->callback([&] { rc = CmdMerge(session, type, id, merged_id, take, keep); });

  ListFilter filter;
  auto* list = app.add_subcommand("list", "list records of the local view");
  list->add_option("type", type, "entity type")->required();
  list->add_flag("--mine-open", filter.mine_open, "leads: my open leads");
  list->add_option("--account", filter.account, "opportunities of this account");
  list->add_flag("--today", filter.today, "calendar events of today (UTC)");
  list->add_option("--search", filter.search, "full-text search (FTS4 syntax)");
  list->add_option("--near", filter.near, "coupons: LAT,LON[,RADIUS_M]");
  list->callback([&] { rc = CmdList(session, type, filter); });

  int timeline_limit = 0;
  auto* timeline = app.add_subcommand(
      "timeline", "everything held about an account, contact or lead, newest first (offline)");
  timeline->add_option("type", type, "account, contact or lead")->required();
  timeline->add_option("id", id, "record id")->required();
  timeline->add_option("--limit", timeline_limit, "newest items only (0 = all)");
  timeline->callback([&] { rc = CmdTimeline(session, type, id, timeline_limit); });

  auto* show = app.add_subcommand("show", "show one record (local view)");
  show->add_option("type", type, "entity type")->required();
  show->add_option("id", id, "record id")->required();
  show->callback([&] { rc = CmdShow(session, type, id); });

  app.add_subcommand("sync", "push pending edits, then pull until caught up")->callback([&] {
    rc = CmdSync(session);
  });
  app.add_subcommand("offline", "switch sync off (persisted): edits queue up")->callback([&] {
    rc = CmdSetOffline(session, true);
  });
  app.add_subcommand("online", "switch sync back on")->callback([&] {
    rc = CmdSetOffline(session, false);
  });
  app.add_subcommand("status", "pending count, cursor, last sync, notices")->callback([&] {
    rc = CmdStatus(session);
  });

  int seconds = 0;
  auto* watch = app.add_subcommand("watch", "stay subscribed and print changes as they arrive");
  watch->add_option("--for", seconds, "stop after SECONDS (default: until interrupted)");
  watch->callback([&] { rc = CmdWatch(session, seconds); });

  RedeemOptions redeem_options;
  auto* redeem = app.add_subcommand(
      "redeem", "terminal: redeem a coupon now, offline if need be (confirmed at sync)");
  redeem->add_option("coupon", redeem_options.coupon_id, "coupon id")->required();
  redeem->add_option("--store", redeem_options.store_id, "this terminal's store id")->required();
  redeem->add_option("--at", redeem_options.at, "terminal position LAT,LON")->required();
  redeem->add_option("--accuracy", redeem_options.accuracy_m, "GPS accuracy radius, metres")
      ->capture_default_str();
  redeem->add_option("--customer", redeem_options.customer, "loyalty account id of the customer");
  redeem->add_option("--id", redeem_options.id, "redemption id (default: red-DEVICE-TIME-RANDOM)");
  redeem->callback([&] { rc = CmdRedeem(session, redeem_options); });

  int64_t delta = 0;  // negative numbers: CLI11 takes "-5" as a value here
  auto* points = app.add_subcommand(
      "points", "terminal: credit (+N) or debit (-N) loyalty points, offline if need be");
  points->add_option("account", id, "loyalty account id")->required();
  points->add_option("delta", delta, "points to add (negative: debit)")->required();
  points->callback([&] { rc = CmdPoints(session, id, delta); });

  std::string file;
  bool keep_going = false;
  auto* script = app.add_subcommand("script", "run commands from FILE, one per line");
  script->add_option("file", file, "script file ('#' starts a comment)")->required();
  script->add_flag("--keep-going", keep_going, "continue after a failing line");
  script->callback([&] { rc = CmdScript(session, settings, file, keep_going); });

  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    app.exit(e);
    return kOk;
  } catch (const CLI::CallForAllHelp& e) {
    app.exit(e);
    return kOk;
  } catch (const CLI::CallForVersion& e) {
    app.exit(e);
    return kOk;
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kUsage;
  }
  return rc;
}

}  // namespace crmsync::client::device

int main(int argc, char** argv) {
  using namespace crmsync::client::device;  // NOLINT
  try {
    Settings settings;
    Session session(&settings);
    return Run(std::vector<std::string>(argv + 1, argv + argc), &session, &settings,
               /*allow_globals=*/true);
  } catch (const std::exception& e) {
    std::cerr << "crm-device: " << e.what() << "\n";
    return kFailed;
  }
}
