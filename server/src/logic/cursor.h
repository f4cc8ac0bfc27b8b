// The opaque Pull cursor. Devices must treat it as opaque; the server
// encodes the change sequence the device has pulled up to.
#ifndef CRMSYNC_SERVER_LOGIC_CURSOR_H_
#define CRMSYNC_SERVER_LOGIC_CURSOR_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace crmsync::server {

// "" (bootstrap) decodes to 0.
absl::StatusOr<int64_t> DecodeCursor(const std::string& cursor);
std::string EncodeCursor(int64_t seq);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_CURSOR_H_
