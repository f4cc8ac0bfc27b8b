#include "crmsync/build_info.h"

#include "build_info_git.h"

namespace crmsync {

const char* ProductVersion() { return CRMSYNC_PRODUCT_VERSION; }

const char* GitRevision() { return CRMSYNC_GIT_REVISION; }

std::string VersionText(const std::string& program) {
  return program + " " + ProductVersion() + " (git " + GitRevision() + ")\n" +
         "sync protocol versions " + std::to_string(kMinProtocolVersion) + "-" +
         std::to_string(kMaxProtocolVersion);
}

}  // namespace crmsync
