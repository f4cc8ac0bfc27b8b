#include "pull_handler.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "crmsync/sync/change.h"
#include "crmsync/sync/checksum.h"
#include "cursor.h"
#include "delivery.h"
#include "directive.h"
#include "erasure.h"
#include "hashing.h"
#include "lineage.h"
#include "push_handler.h"
#include "scope.h"
#include "timeline.h"

namespace crmsync::server {

namespace {

// Fewest rows read per round trip of a page (see Pull).
constexpr int kMinScanRows = 64;

}  // namespace

absl::Status PullHandler::Pull(const Principal& who, const v1::PullRequest& request,
                               v1::PullResponse* response) {
  if (auto s = CheckProtocolVersion(request.client()); !s.ok()) return s;
  auto parsed = ParseCursor(request.cursor());
  if (!parsed.ok()) return parsed.status();
  const int64_t cursor = parsed->seq;
  // What the device surely holds: every record as of `base`. Inside a
  // catch-up still paging (base < cursor) the earlier pages showed each
  // record at the version it had then, so a record created before a page's
  // end but changed after it reached the device in none of them: such
  // records go out in full, and deltas are taken since `base`.
  const int64_t base = parsed->base;
  if (request.page_size() < 0) return absl::InvalidArgumentError("page_size must not be negative");
  int page = request.page_size() == 0 ? options_.default_page_size : request.page_size();
  page = std::min(page, options_.max_page_size);

  auto feed = changes_->GetFeedState(who.tenant_id);
  if (!feed.ok()) return feed.status();
  if (cursor > 0) {
    if (auto s = CheckHistory(who.tenant_id, *parsed, *feed); !s.ok()) return s;
  }
  // A catch-up judges what the device held since its base: that history
  // must still be there. A bootstrap holds nothing older than what it was
  // sent, and whatever it was sent changes after the position the feed was
  // at when it began: the history after that position must still be there
  // (with no such position on the cursor, after the page's own position).
  const int64_t started = cursor == 0 ? feed->latest_seq : parsed->started;
  const int64_t oldest = base > 0 ? base : (started > 0 ? started : cursor);
  if (oldest > 0 && oldest < feed->pruned_through) {
    return WithDirective(
        absl::FailedPreconditionError(
            "cursor " + std::to_string(oldest) +
            " is older than the retained change history (pruned through " +
            std::to_string(feed->pruned_through) +
            "): re-bootstrap with an empty cursor and replay unsent local changes"),
        kDirectiveResetRequired);
  }

  response->Clear();
  int64_t position = cursor;
  int scanned = 0;
  bool exhausted = false;
  // Rows are parsed onto a scratch arena that each batch resets: a row is
  // one allocation run instead of one malloc and free per string, map entry
  // and sub-message. The reply gets copies (on its own arena when the RPC
  // layer gave it one).
  google::protobuf::Arena scratch;
  while (response->changes_size() < page && scanned < options_.max_scan_rows) {
    // One row more than the page still needs: a page that ends exactly at
    // the end of the feed then says so (has_more = false) without another
    // call. At least kMinScanRows, so a sparse scope is not read a few rows
    // at a time.
    const int most = std::max(options_.scan_batch, page + 1);
    const int want =
        std::clamp(page - response->changes_size() + 1, std::min(kMinScanRows, most), most);
    const auto read_start = std::chrono::steady_clock::now();
    scratch.Reset();
    auto rows = changes_->ReadSinceOn(who.tenant_id, position, want, &scratch);
    if (metrics_) {
      metrics_->Observe(
          "crmsync_store_read_seconds", {},
          std::chrono::duration<double>(std::chrono::steady_clock::now() - read_start).count());
    }
    if (!rows.ok()) return rows.status();
    bool page_full = false;
    for (const ArenaRecordRow& row : *rows) {
      const v1::RecordState& s = *row.state;
      auto delivery = DeliveryFor(*changes_, who, s, row.scope_changed_version, base, cursor);
      if (!delivery.ok()) return delivery.status();
      if (delivery->kind != Delivery::Kind::kNothing && response->changes_size() >= page) {
        // The next page starts here. Rows with nothing for the caller after
        // the page's last change were passed over, so a page that ends
        // where the feed does says so even if other reps' changes follow.
        page_full = true;
        break;
      }
      position = s.version();
      ++scanned;
      switch (delivery->kind) {
        case Delivery::Kind::kNothing: break;
        case Delivery::Kind::kRecord:
          sync::BuildChangeInto(s, base, delivery->full, response->add_changes());
          break;
        case Delivery::Kind::kTombstone:
          sync::BuildChangeInto(s, cursor, /*full=*/false, response->add_changes());
          break;
        case Delivery::Kind::kErased:
        case Delivery::Kind::kLeftScope: {
          v1::Change* notice = response->add_changes();
          notice->set_seq(s.version());
          notice->set_kind(delivery->kind == Delivery::Kind::kErased ? v1::CHANGE_KIND_ERASED
                                                                     : v1::CHANGE_KIND_LEFT_SCOPE);
          *notice->mutable_record() = s.ref();
          notice->set_version(s.version());
          break;
        }
      }
    }
    if (page_full) break;
    if (static_cast<int>(rows->size()) < want) {
      exhausted = true;  // every row up to the end of the feed was judged
      break;
    }
  }
  // A caller that reached the end of the feed has seen every change up to
  // the latest committed before the read (the feed is gap-free), also
  // those no longer in it: records deleted and pruned since. Its position
  // is that one, not its last row's, so it never trails the pruned horizon
  // (which would answer its next pull with reset-required).
  if (exhausted) position = std::max(position, feed->latest_seq);
  // A page that did not reach the end of the feed keeps the catch-up's base.
  response->set_next_cursor(
      EncodeCursor(position, exhausted ? position : base, feed->history_id, started));
  response->set_has_more(!exhausted);
  if (traffic_) traffic_->AddPull(who.tenant_id);
  if (metrics_) {
    metrics_->Increment("crmsync_pulls_total");
    metrics_->Observe("crmsync_pull_changes", {}, response->changes_size());
    metrics_->Observe("crmsync_pull_scanned_rows", {}, scanned);
    if (!response->has_more()) {
      // Caught up: how far behind this device was, in changes.
      metrics_->Observe("crmsync_device_lag_changes", {}, static_cast<double>(position - cursor));
    }
  }
  response->mutable_server_hlc()->set_wall_time_ms(clock_->NowMs());
  if (!who.device_id.empty()) {
    // The position the device was handed: it holds (or is receiving) every
    // record up to it. Retention and the reassignment grace rule use it.
    DeviceContact contact;
    contact.now_unix_ms = clock_->NowMs();
    contact.cursor_seq = position;
    contact.protocol_version = request.client().protocol_version();
    contact.sdk_version = request.client().sdk_version();
    if (auto s = directory_->TouchDevice(who.tenant_id, who.device_id, contact); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status PullHandler::CheckHistory(const std::string& tenant_id, const CursorPosition& cursor,
                                       const FeedState& feed) {
  const bool other_history = !cursor.history.empty() && cursor.history != feed.history_id;
  const bool ahead = cursor.seq > feed.latest_seq;
  if (!other_history && !ahead) return absl::OkStatus();
  if (ahead && !other_history) {
    // The feed went back under this cursor: the store was restored from a
    // backup without being given a new history. Give it one now, so that
    // devices whose cursors the feed has not passed yet are told too.
    if (auto s = changes_->StartNewHistory(tenant_id); !s.ok()) return s;
  }
  return WithDirective(
      absl::FailedPreconditionError(
          "this cursor belongs to a change history the server no longer has (it was restored "
          "from a backup): re-bootstrap, then re-send what the local replica holds that the "
          "server lacks"),
      kDirectiveHistoryChanged);
}

absl::Status PullHandler::GetFieldHistory(const Principal& who,
                                          const v1::GetFieldHistoryRequest& request,
                                          v1::GetFieldHistoryResponse* response) {
  if (auto s = CheckProtocolVersion(request.client()); !s.ok()) return s;
  return ReadFieldHistory(changes_, who, /*any_owner=*/false, request, response);
}

absl::Status PullHandler::GetTimeline(const Principal& who, const v1::GetTimelineRequest& request,
                                      v1::GetTimelineResponse* response) {
  if (auto s = CheckProtocolVersion(request.client()); !s.ok()) return s;
  return ReadTimeline(changes_, who, /*any_owner=*/false, request, response);
}

absl::Status PullHandler::GetChecksum(const Principal& who, const v1::GetChecksumRequest& request,
                                      v1::GetChecksumResponse* response) {
  if (auto s = CheckProtocolVersion(request.client()); !s.ok()) return s;
  std::optional<CursorPosition> asked;
  if (!request.cursor().empty()) {
    auto cursor = ParseCursor(request.cursor());
    if (!cursor.ok()) return cursor.status();
    asked = *cursor;
  }
  auto feed = changes_->GetFeedState(who.tenant_id);
  if (!feed.ok()) return feed.status();
  if (asked && asked->seq > 0) {
    if (auto s = CheckHistory(who.tenant_id, *asked, *feed); !s.ok()) return s;
  }
  sync::ReplicaChecksum builder(&Sha256Hex);
  int64_t position = 0;
  while (true) {
    auto rows = changes_->ReadSince(who.tenant_id, position, options_.scan_batch);
    if (!rows.ok()) return rows.status();
    for (const RecordRow& row : *rows) {
      position = row.state.version();
      if (!row.state.deleted() && CanRead(who, row.state.ref().entity_type(), row.state.scope())) {
        builder.Add(row.state);
      }
    }
    if (static_cast<int>(rows->size()) < options_.scan_batch) break;
  }
  *response = builder.Finish();
  response->set_cursor(EncodeCursor(position, position, feed->history_id));
  return absl::OkStatus();
}

}  // namespace crmsync::server
