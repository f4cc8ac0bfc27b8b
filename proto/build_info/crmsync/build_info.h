// What a binary says about itself for --version: product version, the git
// revision it was built from, and the sync protocol versions it speaks.
#ifndef CRMSYNC_BUILD_INFO_H_
#define CRMSYNC_BUILD_INFO_H_

#include <string>

namespace crmsync {

// Product version (the CMake project version).
const char* ProductVersion();
// `git describe --always --dirty` of the source tree at build time, or
// "unknown" when built outside a git checkout.
const char* GitRevision();

// Sync protocol versions this build serves (see proto/README.md).
inline constexpr unsigned kMinProtocolVersion = 1;
inline constexpr unsigned kMaxProtocolVersion = 1;

// The --version text of `program`, e.g.
//   crm-syncd 0.1.0 (git 59ca1e8d2a1b)
//   sync protocol versions 1-1
// (no newline at the end).
std::string VersionText(const std::string& program);

}  // namespace crmsync

#endif  // CRMSYNC_BUILD_INFO_H_
