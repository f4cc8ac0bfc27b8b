#include "ids.h"

#include <cstdio>

namespace crmsync::client::internal {

std::string NewUuidV7(int64_t unix_ms, Random* random) {
  uint8_t b[16];
  const uint64_t ms = static_cast<uint64_t>(unix_ms);
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  const uint64_t r1 = random->Next(), r2 = random->Next();
  for (int i = 0; i < 2; ++i) b[6 + i] = static_cast<uint8_t>(r1 >> (8 * i));
  for (int i = 0; i < 8; ++i) b[8 + i] = static_cast<uint8_t>(r2 >> (8 * i));
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x70);  // version 7
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // variant 10
  char out[37];
  std::snprintf(out, sizeof(out),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

std::string NewDeviceId(Random* random) {
  char out[24];
  std::snprintf(out, sizeof(out), "dev-%016llx", static_cast<unsigned long long>(random->Next()));
  return out;
}

}  // namespace crmsync::client::internal
