// Product and protocol versions.
#ifndef CRMSYNC_SERVER_VERSION_H_
#define CRMSYNC_SERVER_VERSION_H_

namespace crmsync {

inline constexpr const char* kVersion = "0.1.0";
// Sync protocol versions this build serves (see proto/README.md).
inline constexpr unsigned kMinProtocolVersion = 1;
inline constexpr unsigned kMaxProtocolVersion = 1;

}  // namespace crmsync

#endif  // CRMSYNC_SERVER_VERSION_H_
