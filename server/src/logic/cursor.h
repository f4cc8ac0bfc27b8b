// The opaque Pull cursor. Devices must treat it as opaque; the server
// encodes the change sequence the device has pulled up to and, while a
// catch-up is still paging, the sequence that catch-up started from.
#ifndef CRMSYNC_SERVER_LOGIC_CURSOR_H_
#define CRMSYNC_SERVER_LOGIC_CURSOR_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace crmsync::server {

// A decoded cursor.
struct CursorPosition {
  // Feed position the device has pulled up to.
  int64_t seq = 0;
  // The device holds every record as of `base` (a position where it had
  // caught up, 0 for a bootstrap). Equal to `seq` once a pull caught up;
  // smaller on the cursor of a page with has_more, because the pages since
  // `base` showed each record only at the version it had when the page was
  // read: a record created before a page's end but changed after it was in
  // none of them.
  int64_t base = 0;
  // On a bootstrap's page cursor (base 0, seq > 0): the feed's latest
  // position when the bootstrap began. Every record the device received
  // from it that changes afterwards changes at a later position, so the
  // bootstrap can go on while the history after `started` is retained.
  // 0 when not known (cursors of earlier servers).
  int64_t started = 0;
  // The change history the position belongs to (Store FeedState::history_id);
  // empty in cursors from before history ids ("c1." cursors).
  std::string history;
};

// "" (bootstrap) decodes to {0, 0, ""}; "c1.<seq>" to {seq, seq, ""};
// "c1.<seq>.<base>" (base < seq) to {seq, base, ""}; "c2.<history>.<seq>"
// and "c2.<history>.<seq>.<base>" likewise with the history id (1 to 32
// lowercase hex digits); a bootstrap's page cursor ends ".0.<started>"
// ("c2.<history>.<seq>.0.<started>", started > 0).
absl::StatusOr<CursorPosition> ParseCursor(const std::string& cursor);
// The position only (ParseCursor(cursor)->seq).
absl::StatusOr<int64_t> DecodeCursor(const std::string& cursor);
// "c1.<seq>": a caught-up position.
std::string EncodeCursor(int64_t seq);
// A position inside a catch-up that started at `base` (caught up when
// base >= seq), in history `history` ("c1." form when `history` is empty);
// `started` is kept on a bootstrap's page cursor (base 0 < seq) when > 0.
std::string EncodeCursor(int64_t seq, int64_t base, const std::string& history = "",
                         int64_t started = 0);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_CURSOR_H_
