// Shared helpers of the client SDK tests.
#ifndef CRMSYNC_TESTS_CLIENT_TEST_UTIL_H_
#define CRMSYNC_TESTS_CLIENT_TEST_UTIL_H_

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "crmsync/client/clock.h"

namespace crmsync::client::testing {

// A clock the test moves by hand.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'790'000'000'000) : now_(start_ms) {}
  int64_t NowMs() override { return now_.load(); }
  void Advance(int64_t ms) { now_ += ms; }

 private:
  std::atomic<int64_t> now_;
};

// A fresh directory under /tmp, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/crmsync-client-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { (void)system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace crmsync::client::testing

#endif  // CRMSYNC_TESTS_CLIENT_TEST_UTIL_H_
