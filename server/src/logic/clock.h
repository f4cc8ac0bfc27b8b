// Time source of the server logic, handed in so tests and the simulation can
// control time.
#ifndef CRMSYNC_SERVER_LOGIC_CLOCK_H_
#define CRMSYNC_SERVER_LOGIC_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace crmsync::server {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch. Thread-safe.
  virtual int64_t NowMs() = 0;
};

// The real wall clock.
class SystemClock final : public Clock {
 public:
  int64_t NowMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that only moves when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms) : now_ms_(start_ms) {}
  int64_t NowMs() override { return now_ms_.load(); }
  void Advance(int64_t ms) { now_ms_ += ms; }
  void Set(int64_t ms) { now_ms_ = ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_CLOCK_H_
