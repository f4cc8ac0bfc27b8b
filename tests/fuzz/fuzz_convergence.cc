// libFuzzer target over the seeded harness shared with the property tests
// (tests/sync/sync_harness.h): the input chooses the seed and the scenario
// size; any violated property aborts with the harness's description.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "sync_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 10) return 0;
  uint64_t seed = 0;
  std::memcpy(&seed, data, sizeof seed);
  crmsync::sync::harness::HarnessOptions options;
  options.devices = 1 + data[8] % 5;
  options.mutations_per_device = 1 + data[9] % 10;
  options.disjoint_fields = size > 10 && (data[10] & 1);
  const std::string err = crmsync::sync::harness::CheckSeed(seed, options);
  if (!err.empty()) {
    std::fprintf(stderr, "harness property failed (replay with CRMSYNC_PROPERTY_SEED=%llu):\n%s\n",
                 static_cast<unsigned long long>(seed), err.c_str());
    std::abort();
  }
  return 0;
}
