// A device (store + engine) on a FakeServer, for engine unit tests.
#ifndef CRMSYNC_TESTS_CLIENT_ENGINE_HARNESS_H_
#define CRMSYNC_TESTS_CLIENT_ENGINE_HARNESS_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "crmsync/client/database.h"
#include "crmsync/client/repository.h"
#include "crmsync/client/sync_engine.h"
#include "fake_server.h"
#include "test_util.h"

namespace crmsync::client::testing {

struct FakeDevice {
  FakeDevice(FakeServer* server, const TempDir& dir, const std::string& name, Clock* clock,
             uint64_t seed = 1) {
    random = NewSeededRandom(seed);
    DatabaseOptions o;
    o.path = dir.File(name + ".db");
    o.device_id = name;
    o.user_id = "u-" + name;
    o.clock = clock;
    o.random = random.get();
    auto opened = Database::Open(o);
    if (opened.ok()) db = *std::move(opened);
    SyncOptions so;
    so.clock = clock;
    so.random = random.get();
    so.on_conflict = [this](const PushEvent& e) { Record(&conflicts, e); };
    so.on_rejected = [this](const PushEvent& e) { Record(&rejections, e); };
    so.on_change = [this](const ChangeEvent& e) {
      std::lock_guard<std::mutex> lock(mu);
      changes.push_back(e);
      cv.notify_all();
    };
    so.on_progress = [this](const SyncProgress& p) {
      std::lock_guard<std::mutex> lock(mu);
      states.push_back(p.state);
    };
    so.on_wiped = [this] { wiped = true; };
    engine = std::make_unique<SyncEngine>(db.get(), MakeFakeTransport(server, name), so);
  }
  ~FakeDevice() { engine.reset(); }

  void Record(std::vector<PushEvent>* list, const PushEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    list->push_back(e);
  }

  // Waits until `pred` holds (checked on each change event) or the deadline.
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

  std::unique_ptr<Random> random;
  std::unique_ptr<Database> db;
  std::unique_ptr<SyncEngine> engine;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<PushEvent> conflicts, rejections;
  std::vector<ChangeEvent> changes;
  std::vector<SyncProgress::State> states;
  bool wiped = false;
};

}  // namespace crmsync::client::testing

#endif  // CRMSYNC_TESTS_CLIENT_ENGINE_HARNESS_H_
