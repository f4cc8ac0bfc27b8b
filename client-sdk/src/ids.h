// Record ids generated on the device.
#ifndef CRMSYNC_CLIENT_SRC_IDS_H_
#define CRMSYNC_CLIENT_SRC_IDS_H_

#include <cstdint>
#include <string>

#include "crmsync/client/clock.h"

namespace crmsync::client::internal {

// A UUIDv7 (RFC 9562) in canonical text form: 48-bit Unix ms timestamp,
// then random bits, so ids sort by creation time.
std::string NewUuidV7(int64_t unix_ms, Random* random);

// "dev-" + 16 hex digits.
std::string NewDeviceId(Random* random);

}  // namespace crmsync::client::internal

#endif  // CRMSYNC_CLIENT_SRC_IDS_H_
