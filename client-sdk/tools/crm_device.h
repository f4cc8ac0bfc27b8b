// crm-device: one device (a field rep's phone or a store terminal) built on
// the client SDK, driven from the command line or a script.
#ifndef CRMSYNC_CLIENT_TOOLS_CRM_DEVICE_H_
#define CRMSYNC_CLIENT_TOOLS_CRM_DEVICE_H_

#include <atomic>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "crmsync/client/database.h"
#include "crmsync/client/sync_engine.h"

namespace crmsync::client::device {

// Exit codes.
enum ExitCode {
  kOk = 0,
  kFailed = 1,          // anything else
  kUsage = 2,           // bad command line
  kNotFound = 3,        // no such record
  kInvalid = 4,         // bad value, invalid edit
  kUnreachable = 5,     // server unreachable (the edit stays queued)
  kOfflineRefused = 6,  // sync refused: the device is switched offline
  kDenied = 7,          // wrong key, permission denied, wiped
  kAttention = 8,       // sync done, but conflicts or rejections need the user
};

struct Settings {
  std::string server;
  std::string tenant = "demo";
  std::string user;
  // With a password: token sign-in (AuthService); without: dev identity.
  std::string password;
  std::string device_id;
  std::string db;
  std::string key;
  std::string ca;
  // Client certificate and key (PEM files) for mTLS servers.
  std::string client_cert;
  std::string client_key;
  // Store terminals sign in with an API key instead of a password.
  std::string api_key;
  bool insecure = false;
};

// The open store and (lazily) its engine, shared by the commands of a run
// or a script.
class Session {
 public:
  // `settings` is filled by the command-line parser before any command
  // runs; not owned.
  explicit Session(Settings* settings) : settings_(*settings) {}
  ~Session();
  const Settings& settings() const { return settings_; }
  // True while `watch` prints change events.
  std::atomic<bool> watching{false};
  // Opens the store on first use.
  absl::StatusOr<Database*> Db();
  // Creates the engine on first use (needs --server).
  absl::StatusOr<SyncEngine*> Engine();
  std::ostream& out();
  std::ostream& err();
  // Events of the current sync, printed by the sync command.
  std::vector<std::string> TakeEvents();
  void AddEvent(const std::string& e);

 private:
  const Settings& settings_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<SyncEngine> engine_;
  absl::Mutex events_mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(events_mu_);
};

// Parses and runs one command line (argv without the program name).
int Run(const std::vector<std::string>& args, Session* session, Settings* settings,
        bool allow_globals);

int ExitCodeOf(const absl::Status& s);

// Command implementations (crm_device_commands.cc).
int CmdCreate(Session* s, const std::string& type, const std::string& id,
              const std::vector<std::string>& sets);
int CmdEdit(Session* s, const std::string& type, const std::string& id,
            const std::vector<std::string>& sets);
int CmdDelete(Session* s, const std::string& type, const std::string& id);
// Prints Database::Timeline: when, channel, record, what it is.
int CmdTimeline(Session* s, const std::string& type, const std::string& id, int limit);
// Queues a merge of `merged` into `survivor` (Database::Merge).
int CmdMerge(Session* s, const std::string& type, const std::string& survivor,
             const std::string& merged, const std::vector<std::string>& take,
             const std::vector<std::string>& keep);
struct ListFilter {
  bool mine_open = false;
  std::string account;
  bool today = false;
  std::string search;
  std::string near;  // "lat,lon[,radius_m]"
};
int CmdList(Session* s, const std::string& type, const ListFilter& filter);
int CmdShow(Session* s, const std::string& type, const std::string& id);
int CmdSync(Session* s);
int CmdSetOffline(Session* s, bool offline);
int CmdStatus(Session* s);
int CmdWatch(Session* s, int seconds);
int CmdScript(Session* s, Settings* settings, const std::string& file, bool keep_going);

// Store terminal (crm_device_terminal.cc).
struct RedeemOptions {
  std::string coupon_id;
  std::string store_id;
  std::string at;  // "lat,lon"
  double accuracy_m = 10;
  std::string customer;  // loyalty account id
  std::string id;        // redemption id (default: red-DEVICE-TIME-RANDOM)
};
// Records a redemption locally (PENDING) and queues it; the server decides.
int CmdRedeem(Session* s, const RedeemOptions& o);
// Credits (delta > 0) or debits (delta < 0) loyalty points locally.
int CmdPoints(Session* s, const std::string& account_id, int64_t delta);
// Parses "lat,lon" into a point; INVALID_ARGUMENT if malformed or off the globe.
absl::StatusOr<v1::GeoPoint> ParsePoint(const std::string& text);

}  // namespace crmsync::client::device

#endif  // CRMSYNC_CLIENT_TOOLS_CRM_DEVICE_H_
