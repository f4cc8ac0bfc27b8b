#include "pull_handler.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "crmsync/sync/change.h"
#include "crmsync/sync/checksum.h"
#include "cursor.h"
#include "directive.h"
#include "erasure.h"
#include "hashing.h"
#include "push_handler.h"
#include "scope.h"

namespace crmsync::server {

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
  // must still be there.
  const int64_t oldest = base > 0 ? base : cursor;
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
  while (response->changes_size() < page && scanned < options_.max_scan_rows) {
    const auto read_start = std::chrono::steady_clock::now();
    auto rows = changes_->ReadSince(who.tenant_id, position, options_.scan_batch);
    if (metrics_) {
      metrics_->Observe("crmsync_store_read_seconds", {},
                        std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                      read_start)
                            .count());
    }
    if (!rows.ok()) return rows.status();
    size_t consumed = 0;
    for (const RecordRow& row : *rows) {
      const v1::RecordState& s = row.state;
      const v1::EntityType type = s.ref().entity_type();
      position = s.version();
      ++consumed;
      ++scanned;

      const bool now_in = CanRead(who, type, s.scope());
      // Whether the device may hold the record: it was in the device's
      // scope at some moment of this catch-up, from its start (`base`, when
      // the device held every record then in scope) to the end of the
      // previous page (`cursor`; earlier pages may have shown it). Judged
      // over the whole window, so the answer does not depend on the page
      // size: a record that left the scope, then changed again after an
      // earlier page, still gets its LEFT_SCOPE or tombstone.
      bool was_in = false;
      if (cursor > 0 && s.created_version() <= cursor) {
        if (row.scope_changed_version <= base) {
          was_in = now_in;  // one scope all along
        } else {
          auto scopes = changes_->ScopesDuring(who.tenant_id, s.ref(), base, cursor);
          if (!scopes.ok()) return scopes.status();
          for (const v1::ScopeKeys& then : *scopes) was_in = was_in || CanRead(who, type, then);
        }
      }

      // A device that wrote the record during its catch-up holds a copy from
      // its push results even if the feed never showed the record to it: a
      // record it created before its first pull, or an offline edit
      // accepted under the reassignment grace rule.
      // Only needed when neither scope test already says the device holds
      // it, so the common case (a record in scope) does not walk its fields.
      auto wrote = [&] {
        if (who.device_id.empty()) return false;
        for (const auto& [path, field] : s.fields()) {
          if (field.version() > base && field.provenance().device_id() == who.device_id) {
            return true;
          }
        }
        return false;
      };

      if (IsErased(s)) {
        // Erasure (docs/protocol.md, "Erasure"): a device that may hold the
        // record drops it and every local copy of its values, pending edits
        // included. A device that never held it hears nothing.
        if (was_in || wrote()) {
          v1::Change* erased = response->add_changes();
          erased->set_seq(s.version());
          erased->set_kind(v1::CHANGE_KIND_ERASED);
          *erased->mutable_record() = s.ref();
          erased->set_version(s.version());
        }
      } else if (s.deleted()) {
        // Tombstones keep their scope keys: a device that may hold the
        // record gets one (one too many is harmless, one too few is not).
        if (was_in || now_in || wrote()) {
          *response->add_changes() = sync::BuildChange(s, cursor, /*full=*/false);
        }
      } else if (now_in) {
        // Surely held as of `base`: existed then and its scope has not
        // changed since (so no LEFT_SCOPE can have dropped it meanwhile).
        const bool held = base == cursor ? was_in
                                         : base > 0 && s.created_version() <= base &&
                                               row.scope_changed_version <= base;
        *response->add_changes() = sync::BuildChange(s, base, /*full=*/!held);
      } else if ((was_in || wrote())) {
        v1::Change* left = response->add_changes();
        left->set_seq(s.version());
        left->set_kind(v1::CHANGE_KIND_LEFT_SCOPE);
        *left->mutable_record() = s.ref();
        left->set_version(s.version());
      }
      if (response->changes_size() >= page) break;
    }
    if (consumed == rows->size() && static_cast<int>(rows->size()) < options_.scan_batch) {
      exhausted = true;
      break;
    }
  }
  // A page that did not reach the end of the feed keeps the catch-up's base.
  response->set_next_cursor(
      EncodeCursor(position, exhausted ? position : base, feed->history_id));
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
