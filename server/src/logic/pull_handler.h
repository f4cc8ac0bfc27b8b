// Pull and GetChecksum: the caller's view of the change feed. No gRPC here.
#ifndef CRMSYNC_SERVER_LOGIC_PULL_HANDLER_H_
#define CRMSYNC_SERVER_LOGIC_PULL_HANDLER_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "clock.h"
#include "crmsync/v1/sync.pb.h"
#include "cursor.h"
#include "metrics/registry.h"
#include "metrics/tenant_traffic.h"
#include "principal.h"
#include "store/store.h"

namespace crmsync::server {

struct PullOptions {
  // Page size when the request gives none.
  int default_page_size = 500;
  // Largest page served, whatever the request asks.
  int max_page_size = 5000;
  // Rows read from the store per round trip (more when a page needs more:
  // a read asks for what the page still lacks, plus one).
  int scan_batch = 1000;
  // Most rows examined for one page; a page can end early (has_more = true)
  // when most changes are outside the caller's scope.
  int max_scan_rows = 50000;
};

class PullHandler {
 public:
  // The store roles and `clock` must outlive the handler. Thread-safe.
  // `directory` records each device's pulled position.
  PullHandler(ChangeLog* changes, Directory* directory, Clock* clock, PullOptions options)
      : changes_(changes), directory_(directory), clock_(clock), options_(options) {}

  // Changes in `who`'s scope after request.cursor, in sequence order.
  // Errors: INVALID_ARGUMENT (malformed cursor, negative page size),
  // FAILED_PRECONDITION + "reset-required" directive when the cursor is older
  // than the retained history, store errors.
  absl::Status Pull(const Principal& who, const v1::PullRequest& request,
                    v1::PullResponse* response);

  // What `who`'s replica of its scope should hash to, per entity type, as of
  // response.cursor. A device compares once it has pulled up to that cursor.
  absl::Status GetChecksum(const Principal& who, const v1::GetChecksumRequest& request,
                           v1::GetChecksumResponse* response);
  // Lineage of a record the caller may read (logic/lineage.h).
  absl::Status GetFieldHistory(const Principal& who, const v1::GetFieldHistoryRequest& request,
                               v1::GetFieldHistoryResponse* response);
  // SyncService.GetTimeline (timeline.h).
  absl::Status GetTimeline(const Principal& who, const v1::GetTimelineRequest& request,
                           v1::GetTimelineResponse* response);

  ChangeLog* changes() const { return changes_; }

  // OK unless `cursor` (seq > 0) comes from another history of the feed
  // than `feed`'s: FAILED_PRECONDITION with the history-changed directive.
  // A cursor ahead of the feed means the store went back (a restore): the
  // tenant gets a new history first, so every older cursor is refused too.
  absl::Status CheckHistory(const std::string& tenant_id, const CursorPosition& cursor,
                            const FeedState& feed);

  // Records pulls, page sizes, lag and store time (may be null; must
  // outlive the handler). Call before serving.
  void set_metrics(MetricsRegistry* metrics) { metrics_ = metrics; }
  // Counts pages served per tenant (may be null; must outlive the handler).
  void set_traffic(TenantTraffic* traffic) { traffic_ = traffic; }

 private:
  MetricsRegistry* metrics_ = nullptr;
  TenantTraffic* traffic_ = nullptr;
  ChangeLog* changes_;
  Directory* directory_;
  Clock* clock_;
  PullOptions options_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_PULL_HANDLER_H_
