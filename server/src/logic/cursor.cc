#include "cursor.h"

namespace crmsync::server {

namespace {
constexpr char kPrefix[] = "c1.";
constexpr size_t kPrefixLen = sizeof(kPrefix) - 1;
constexpr char kPrefix2[] = "c2.";
constexpr size_t kPrefix2Len = sizeof(kPrefix2) - 1;

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
bool IsHistoryId(const std::string& text) {
  if (text.empty() || text.size() > 32) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}
}  // namespace

absl::StatusOr<CursorPosition> ParseCursor(const std::string& cursor) {
  if (cursor.empty()) return CursorPosition{};
  const absl::Status malformed =
      absl::InvalidArgumentError("malformed cursor: pass the next_cursor of a previous Pull");
  CursorPosition p;
  std::string rest;
  if (cursor.compare(0, kPrefixLen, kPrefix) == 0) {
    rest = cursor.substr(kPrefixLen);
  } else if (cursor.compare(0, kPrefix2Len, kPrefix2) == 0) {
    rest = cursor.substr(kPrefix2Len);
    const size_t dot = rest.find('.');
    if (dot == std::string::npos) return malformed;
    p.history = rest.substr(0, dot);
    if (!IsHistoryId(p.history)) return malformed;
    rest = rest.substr(dot + 1);
  } else {
    return absl::InvalidArgumentError(
        "malformed cursor: pass the next_cursor of a previous Pull, or an empty cursor to "
        "bootstrap");
  }
  const size_t dot = rest.find('.');
  if (!ParseNumber(rest.substr(0, dot), &p.seq)) return malformed;
  p.base = p.seq;
  if (dot == std::string::npos) return p;
  rest = rest.substr(dot + 1);
  const size_t dot2 = rest.find('.');
  if (!ParseNumber(rest.substr(0, dot2), &p.base) || p.base >= p.seq) return malformed;
  if (dot2 != std::string::npos &&
      (p.base != 0 || !ParseNumber(rest.substr(dot2 + 1), &p.started) || p.started == 0)) {
    return malformed;
  }
  return p;
}

absl::StatusOr<int64_t> DecodeCursor(const std::string& cursor) {
  auto p = ParseCursor(cursor);
  if (!p.ok()) return p.status();
  return p->seq;
}

std::string EncodeCursor(int64_t seq) { return kPrefix + std::to_string(seq); }

std::string EncodeCursor(int64_t seq, int64_t base, const std::string& history, int64_t started) {
  std::string out = history.empty() ? kPrefix : kPrefix2 + history + ".";
  out += std::to_string(seq);
  if (base < seq) {
    out += "." + std::to_string(base);
    if (base == 0 && started > 0) out += "." + std::to_string(started);
  }
  return out;
}

}  // namespace crmsync::server
