#include <chrono>
#include <random>

#include "crmsync/client/clock.h"

namespace crmsync::client {
namespace {

class SystemClockImpl : public Clock {
 public:
  int64_t NowMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// splitmix64: small, fast, good enough for ids and jitter.
class SplitMix : public Random {
 public:
  explicit SplitMix(uint64_t seed) : state_(seed) {}
  uint64_t Next() override {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

}  // namespace

Clock* SystemClock() {
  static SystemClockImpl clock;
  return &clock;
}

std::unique_ptr<Random> NewSystemRandom() {
  std::random_device rd;
  const uint64_t seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return std::make_unique<SplitMix>(seed);
}

std::unique_ptr<Random> NewSeededRandom(uint64_t seed) { return std::make_unique<SplitMix>(seed); }

}  // namespace crmsync::client
