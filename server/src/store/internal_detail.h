// Store errors carry two texts: the status message, which is what a client
// may see (no host names, ports, file paths, SQL), and an internal detail
// (the database driver's own text) for the server log only. The RPC layer
// logs the detail and strips it (rpc/status_convert.h).
#ifndef CRMSYNC_SERVER_STORE_INTERNAL_DETAIL_H_
#define CRMSYNC_SERVER_STORE_INTERNAL_DETAIL_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/cord.h"

namespace crmsync::server {

inline constexpr char kInternalDetailPayload[] = "type.crmsync.dev/internal-detail";

// `status` with `detail` attached for the log.
inline absl::Status WithInternalDetail(absl::Status status, const std::string& detail) {
  if (!status.ok()) status.SetPayload(kInternalDetailPayload, absl::Cord(detail));
  return status;
}

// "message: detail" when a detail is attached, else the message.
inline std::string InternalDetail(const absl::Status& status) {
  std::string out(status.message());
  if (auto detail = status.GetPayload(kInternalDetailPayload)) {
    out += ": " + std::string(*detail);
  }
  return out;
}

// The same status with another code, keeping message and payloads.
inline absl::Status WithCode(const absl::Status& status, absl::StatusCode code) {
  absl::Status out(code, status.message());
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_INTERNAL_DETAIL_H_
