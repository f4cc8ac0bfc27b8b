// Puller and checksum verifier.
#include "crmsync/client/database.h"
#include "sync_tuning.h"
#include "workers.h"

namespace crmsync::client::internal {

CallStatus PullUntilCaughtUp(CycleContext* ctx) {
  for (int page_no = 0; page_no < tuning::kMaxPullPagesPerCycle; ++page_no) {
    if (ctx->cancelled->load()) return Cancelled();
    auto cursor = ctx->db->Cursor();
    if (!cursor.ok()) return FromStatus(cursor.status());
    if (cursor->empty()) {
      // A bootstrap from nothing by a device that may already hold records
      // (from its own push results before its first pull completed, or a
      // bootstrap cut short and started over): what it does not return was
      // deleted and pruned meanwhile, and goes when it completes, as after
      // a reset. Nothing is held on a new device: then this is a no-op.
      if (absl::Status s = ctx->db->BeginReset(/*recover=*/false); !s.ok()) return FromStatus(s);
    }
    v1::PullRequest request;
    *request.mutable_client() = ctx->client;
    request.set_cursor(*cursor);
    request.set_page_size(tuning::kPullPageSize);
    v1::PullResponse page;
    CallStatus call = ctx->transport->Pull(request, &page);
    const bool history_changed = call.directive == Directive::kHistoryChanged;
    if ((call.directive == Directive::kResetRequired || history_changed) &&
        ctx->resets < tuning::kMaxResetsPerCycle) {
      ++ctx->resets;
      // After a restore, the replica as it is now is what the server may
      // have lost: it is kept aside until the bootstrap completes.
      if (absl::Status s = ctx->db->BeginReset(/*recover=*/history_changed); !s.ok()) {
        return FromStatus(s);
      }
      continue;
    }
    if (!call.ok()) return call;
    auto changes = ctx->db->ApplyPullPage(page);
    if (!changes.ok()) return FromStatus(changes.status());
    ctx->pulled += page.changes_size();
    ReportChanges(*ctx, *changes);
    if (ctx->on_count) ctx->on_count(ctx->pushed, ctx->pulled);
    if (!page.has_more()) {
      auto removed = ctx->db->FinishReset();
      if (!removed.ok()) return FromStatus(removed.status());
      ReportChanges(*ctx, *removed);
      return {};
    }
  }
  return {};  // bounded: the next cycle continues from the stored cursor
}

CallStatus VerifyReplica(CycleContext* ctx, bool* repaired) {
  *repaired = false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (ctx->cancelled->load()) return Cancelled();
    auto local = ctx->db->LocalChecksum();
    if (!local.ok()) return FromStatus(local.status());
    v1::GetChecksumRequest request;
    *request.mutable_client() = ctx->client;
    request.set_cursor(local->cursor());
    v1::GetChecksumResponse remote;
    CallStatus call = ctx->transport->GetChecksum(request, &remote);
    if (!call.ok()) return call;
    if (remote.cursor() != local->cursor()) {
      // The server answered for another position: catch up and compare again.
      CallStatus pulled = PullUntilCaughtUp(ctx);
      if (!pulled.ok()) return pulled;
      continue;
    }
    ctx->checksum_mismatch = remote.digest() != local->digest();
    if (!ctx->checksum_mismatch) return {};
    // Repair by re-bootstrapping, at most once per cycle and once per
    // kMinRepairIntervalMs: a mismatch a fresh bootstrap does not fix is
    // not the device's to fix, and must not stop the device from syncing.
    const int64_t now_ms = ctx->options->clock->NowMs();
    auto last_repair = ctx->db->LastRepairMs();
    if (!last_repair.ok()) return FromStatus(last_repair.status());
    if (ctx->resets >= tuning::kMaxResetsPerCycle ||
        (*last_repair > 0 && now_ms - *last_repair < tuning::kMinRepairIntervalMs)) {
      return {};
    }
    ++ctx->resets;
    *repaired = true;
    if (absl::Status s = ctx->db->SetLastRepairMs(now_ms); !s.ok()) return FromStatus(s);
    if (absl::Status s = ctx->db->BeginReset(); !s.ok()) return FromStatus(s);
    CallStatus pulled = PullUntilCaughtUp(ctx);
    if (!pulled.ok()) return pulled;
  }
  return {};
}

}  // namespace crmsync::client::internal
