// Devices (store + engine + gRPC transport) against a real crm-syncd
// process on loopback, for end-to-end tests.
#ifndef CRMSYNC_TESTS_CLIENT_E2E_HARNESS_H_
#define CRMSYNC_TESTS_CLIENT_E2E_HARNESS_H_

#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "crmsync/client/database.h"
#include "crmsync/client/repository.h"
#include "crmsync/client/sync_engine.h"
#include "crmsync/client/transport.h"
#include "server_process.h"
#include "test_util.h"

namespace crmsync::client::testing {

class E2eDevice {
 public:
  // `encrypted` false: a plain SQLite file, whose bytes a test can read.
  E2eDevice(const std::string& address, const TempDir& dir, const std::string& user,
            const std::string& device, Clock* clock = SystemClock(), bool encrypted = true) {
    DatabaseOptions o;
    o.path = dir.File(device + ".db");
    if (encrypted) o.key = "key-" + device;
    o.device_id = device;
    o.user_id = "u-" + user;
    o.clock = clock;
    auto opened = Database::Open(o);
    open_status = opened.status();
    if (!opened.ok()) return;
    db = *std::move(opened);
    GrpcTransportOptions t;
    t.address = address;
    t.credentials = MakeDevCredentials("demo", user, device);
    SyncOptions so;
    so.clock = clock;
    so.on_conflict = [this](const PushEvent& e) { Add(&conflicts, e); };
    so.on_rejected = [this](const PushEvent& e) { Add(&rejections, e); };
    so.on_change = [this](const ChangeEvent&) { cv.notify_all(); };
    engine = std::make_unique<SyncEngine>(db.get(), MakeGrpcTransport(t), so);
  }
  ~E2eDevice() { engine.reset(); }

  absl::Status Sync() { return engine->SyncOnce(); }

  template <typename Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, std::chrono::milliseconds(10));
    }
    return pred();
  }

  std::vector<PushEvent> Conflicts() {
    std::lock_guard<std::mutex> lock(mu);
    return conflicts;
  }
  std::vector<PushEvent> Rejections() {
    std::lock_guard<std::mutex> lock(mu);
    return rejections;
  }

  absl::Status open_status;
  std::unique_ptr<Database> db;
  std::unique_ptr<SyncEngine> engine;

 private:
  void Add(std::vector<PushEvent>* list, const PushEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    list->push_back(e);
  }
  std::mutex mu;
  std::condition_variable cv;
  std::vector<PushEvent> conflicts, rejections;
};

// A crm-syncd with the demo tenant on a fresh SQLite store.
class SyncdFixture {
 public:
  // `dev_identity` false: token authentication only (AuthService).
  bool Start(std::string* error, bool dev_identity = true,
             const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--dev-insecure",
                                     "--demo-tenant",
                                     "--heartbeat-seconds",
                                     "1",
                                     "--store",
                                     "sqlite:" + dir.File("server.db")};
    if (dev_identity) args.push_back("--dev-identity");
    args.insert(args.end(), extra.begin(), extra.end());
    return server.Start(args, error);
  }
  ~SyncdFixture() { server.Stop(SIGTERM); }
  TempDir dir;
  crmsync::testing::ServerProcess server;
};

}  // namespace crmsync::client::testing

#endif  // CRMSYNC_TESTS_CLIENT_E2E_HARNESS_H_
