#include "instance_lock.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace crmsync::server {

InstanceLock::~InstanceLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

absl::Status InstanceLock::Acquire(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::FailedPreconditionError("cannot open the store file " + path + ": " +
                                         std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          "the SQLite store " + path +
          " is in use by another crm-syncd. The embedded SQLite store serves one instance; "
          "run several instances on one PostgreSQL store (--store postgres:URI) instead");
    }
    return absl::FailedPreconditionError("cannot lock the store file " + path + ": " +
                                         std::strerror(err));
  }
  fd_ = fd;
  return absl::OkStatus();
}

void WarnIfStoreFileIsShared(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    spdlog::warn(
        "the store file {} is readable by other users (mode {:o}); it holds password "
        "hashes and customer data: chmod 600 it (and its -wal and -shm files)",
        path, st.st_mode & 0777);
  }
}

}  // namespace crmsync::server
