#include "cursor.h"

#include <cerrno>
#include <cstdlib>

namespace crmsync::server {

namespace {
constexpr char kPrefix[] = "c1.";
constexpr size_t kPrefixLen = sizeof(kPrefix) - 1;
}  // namespace

absl::StatusOr<int64_t> DecodeCursor(const std::string& cursor) {
  if (cursor.empty()) return 0;
  if (cursor.compare(0, kPrefixLen, kPrefix) != 0 || cursor.size() == kPrefixLen ||
      cursor.size() > kPrefixLen + 19) {
    return absl::InvalidArgumentError(
        "malformed cursor: pass the next_cursor of a previous Pull, or an empty cursor to "
        "bootstrap");
  }
  int64_t value = 0;
  for (size_t i = kPrefixLen; i < cursor.size(); ++i) {
    char c = cursor[i];
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError("malformed cursor: pass the next_cursor of a previous Pull");
    }
    if (value > (INT64_MAX - (c - '0')) / 10) {
      return absl::InvalidArgumentError("malformed cursor: out of range");
    }
    value = value * 10 + (c - '0');
  }
  return value;
}

std::string EncodeCursor(int64_t seq) { return kPrefix + std::to_string(seq); }

}  // namespace crmsync::server
