// An in-process loopback server for engine unit tests: one tenant, one
// scope (everyone sees everything), merges with the sync core (sync::Merge)
// so results are the real ones, plus fault injection (unavailable calls,
// reset-required, wipe, a hook run inside Pull).
#ifndef CRMSYNC_TESTS_CLIENT_FAKE_SERVER_H_
#define CRMSYNC_TESTS_CLIENT_FAKE_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "crmsync/client/transport.h"
#include "crmsync/sync/merge.h"

namespace crmsync::client::testing {

class FakeServer {
 public:
  CallStatus Push(const std::string& device, const v1::PushRequest& req, v1::PushResponse* resp);
  CallStatus Pull(const v1::PullRequest& req, v1::PullResponse* resp);
  CallStatus GetChecksum(const v1::GetChecksumRequest& req, v1::GetChecksumResponse* resp);
  // Registers a subscriber; returns its id.
  int AddSubscriber(std::function<void()> notify);
  void RemoveSubscriber(int id);

  // Faults.
  void FailNextCalls(int n);            // UNAVAILABLE
  void RequireResetBelow(int64_t seq);  // cursors below get reset-required
  void Revoke();                        // every call gets PERMISSION_DENIED + wipe
  void SetPullHook(std::function<void(int call)> hook);
  void SetMaxPageSize(int n);
  // GetChecksum answers a digest no replica can match.
  void BreakChecksum();

  // Server-side edits (as an admin would make them).
  int64_t Latest();
  std::optional<v1::RecordState> Get(const v1::RecordRef& ref);
  // Removes a record without a tombstone (as retention pruning would).
  void Forget(const v1::RecordRef& ref);
  int push_calls() const { return push_calls_; }
  // Every push received (failed ones included), in order:
  // (results_acked_through, first client_seq).
  std::vector<std::pair<int64_t, int64_t>> pushes_seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return pushes_seen_;
  }
  int failed_calls() const { return failed_calls_; }

 private:
  bool Fail(CallStatus* out);
  void Notify();
  static int64_t ParseCursor(const std::string& cursor);

  std::mutex mu_;
  std::map<std::pair<int, std::string>, v1::RecordState> records_;
  std::map<std::pair<std::string, int64_t>, v1::MutationResult> applied_;
  int64_t seq_ = 0;
  int64_t reset_below_ = 0;
  int fail_next_ = 0;
  int failed_calls_ = 0;
  int push_calls_ = 0;
  std::vector<std::pair<int64_t, int64_t>> pushes_seen_;
  int pull_calls_ = 0;
  int max_page_ = 5000;
  bool revoked_ = false;
  bool broken_checksum_ = false;
  std::function<void(int)> pull_hook_;
  std::map<int, std::function<void()>> subscribers_;
  int next_subscriber_ = 1;
};

// A Transport for one device of a FakeServer.
std::shared_ptr<Transport> MakeFakeTransport(FakeServer* server, std::string device);

}  // namespace crmsync::client::testing

#endif  // CRMSYNC_TESTS_CLIENT_FAKE_SERVER_H_
