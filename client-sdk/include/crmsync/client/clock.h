// Time and randomness, handed in so tests and simulations are deterministic.
//
// Thread-safety: implementations must be safe to call from any thread.
#ifndef CRMSYNC_CLIENT_CLOCK_H_
#define CRMSYNC_CLIENT_CLOCK_H_

#include <cstdint>
#include <memory>

namespace crmsync::client {

// Physical time source.
class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t NowMs() = 0;
};

// Random source (ids, backoff jitter).
class Random {
 public:
  virtual ~Random() = default;
  // A uniformly distributed 64-bit value.
  virtual uint64_t Next() = 0;
};

// The system clock (std::chrono::system_clock). Never null; not owned by the
// caller (a process-wide instance).
Clock* SystemClock();

// A random source seeded from std::random_device, owned by the caller.
std::unique_ptr<Random> NewSystemRandom();
// A deterministic generator (splitmix64) for tests and simulations.
std::unique_ptr<Random> NewSeededRandom(uint64_t seed);

}  // namespace crmsync::client

#endif  // CRMSYNC_CLIENT_CLOCK_H_
