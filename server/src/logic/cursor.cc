#include "cursor.h"

namespace crmsync::server {

namespace {
constexpr char kPrefix[] = "c1.";
constexpr size_t kPrefixLen = sizeof(kPrefix) - 1;

// Decimal digits only, at most 19, within int64.
bool ParseNumber(const std::string& text, int64_t* out) {
  if (text.empty() || text.size() > 19) return false;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    if (value > (INT64_MAX - (c - '0')) / 10) return false;
    value = value * 10 + (c - '0');
  }
  *out = value;
  return true;
}
}  // namespace

absl::StatusOr<CursorPosition> ParseCursor(const std::string& cursor) {
  if (cursor.empty()) return CursorPosition{};
  if (cursor.compare(0, kPrefixLen, kPrefix) != 0) {
    return absl::InvalidArgumentError(
        "malformed cursor: pass the next_cursor of a previous Pull, or an empty cursor to "
        "bootstrap");
  }
  const std::string rest = cursor.substr(kPrefixLen);
  const size_t dot = rest.find('.');
  CursorPosition p;
  if (!ParseNumber(rest.substr(0, dot), &p.seq)) {
    return absl::InvalidArgumentError("malformed cursor: pass the next_cursor of a previous Pull");
  }
  p.base = p.seq;
  if (dot != std::string::npos &&
      (!ParseNumber(rest.substr(dot + 1), &p.base) || p.base >= p.seq)) {
    return absl::InvalidArgumentError("malformed cursor: pass the next_cursor of a previous Pull");
  }
  return p;
}

absl::StatusOr<int64_t> DecodeCursor(const std::string& cursor) {
  auto p = ParseCursor(cursor);
  if (!p.ok()) return p.status();
  return p->seq;
}

std::string EncodeCursor(int64_t seq) { return kPrefix + std::to_string(seq); }

std::string EncodeCursor(int64_t seq, int64_t base) {
  if (base >= seq) return EncodeCursor(seq);
  return EncodeCursor(seq) + "." + std::to_string(base);
}

}  // namespace crmsync::server
