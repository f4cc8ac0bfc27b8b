// A private directory for a fuzz target's store files: under /dev/shm when
// there is one (the targets test logic, not disks), removed when the process
// exits normally (the end of -runs or -max_total_time); after a crash it is
// kept for inspection.
#ifndef CRMSYNC_TESTS_FUZZ_FUZZ_TEMPDIR_H_
#define CRMSYNC_TESTS_FUZZ_FUZZ_TEMPDIR_H_

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace crmsync::fuzz {

inline std::vector<std::string>& DirsToRemoveAtExit() {
  static auto* dirs = new std::vector<std::string>();
  return *dirs;
}

inline std::string MakeFuzzTempDir(const std::string& prefix) {
  const std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  std::string tmpl = base + "/" + prefix + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  if (DirsToRemoveAtExit().empty()) {
    std::atexit([] {
      for (const std::string& dir : DirsToRemoveAtExit()) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    });
  }
  DirsToRemoveAtExit().push_back(tmpl);
  return tmpl;
}

}  // namespace crmsync::fuzz

#endif  // CRMSYNC_TESTS_FUZZ_FUZZ_TEMPDIR_H_
