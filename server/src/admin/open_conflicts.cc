#include "open_conflicts.h"

#include <algorithm>

namespace crmsync::server {

absl::StatusOr<const OpenConflicts::TenantView*> OpenConflicts::Refresh(
    const std::string& tenant_id) {
  auto feed = changes_->GetFeedState(tenant_id);
  if (!feed.ok()) return feed.status();
  TenantView& view = tenants_[tenant_id];
  if (view.history != feed->history_id || view.through > feed->latest_seq ||
      feed->pruned_through > view.through) {
    // Start over: the position means nothing in this feed, or tombstones
    // after it may have been pruned unread.
    if (view.through > 0 || !view.open.empty()) ++rebuilds_;
    view = TenantView{};
    view.history = feed->history_id;
  }
  auto remove = [&view](const std::string& id) {
    auto it = view.open.find(id);
    if (it == view.open.end()) return;
    auto owner = view.by_owner.find(it->second);
    if (owner != view.by_owner.end() && --owner->second == 0) view.by_owner.erase(owner);
    view.open.erase(it);
  };
  while (true) {
    auto rows =
        changes_->ReadTypeSince(tenant_id, v1::ENTITY_TYPE_CONFLICT, view.through, kReadBatch);
    if (!rows.ok()) {
      // Keep nothing half-read: the next call starts over.
      tenants_.erase(tenant_id);
      return rows.status();
    }
    for (const RecordRow& row : *rows) {
      const v1::RecordState& s = row.state;
      view.through = s.version();
      remove(s.ref().id());
      if (s.deleted() || s.data().conflict().status() != v1::CONFLICT_STATUS_OPEN) continue;
      const std::string& owner = s.data().conflict().owner_user_id();
      view.open.emplace(s.ref().id(), owner);
      ++view.by_owner[owner];
    }
    if (static_cast<int>(rows->size()) < kReadBatch) break;
  }
  // Every change up to the latest one committed before the read was
  // visible to it (the feed is gap-free), conflict or not: the position
  // moves past them, so pruning behind it does not force a new start.
  view.through = std::max(view.through, feed->latest_seq);
  return &view;
}

absl::StatusOr<std::map<std::string, int64_t>> OpenConflicts::ByOwner(
    const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  auto view = Refresh(tenant_id);
  if (!view.ok()) return view.status();
  return (*view)->by_owner;
}

absl::StatusOr<int64_t> OpenConflicts::Total(const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  auto view = Refresh(tenant_id);
  if (!view.ok()) return view.status();
  return static_cast<int64_t>((*view)->open.size());
}

int64_t OpenConflicts::rebuilds() const {
  absl::MutexLock lock(&mu_);
  return rebuilds_;
}

}  // namespace crmsync::server
