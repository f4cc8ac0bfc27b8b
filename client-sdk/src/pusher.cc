// Pusher: drains the outbox.
#include "sync_tuning.h"
#include "workers.h"

namespace crmsync::client::internal {

CallStatus Cancelled() { return CallStatus{absl::CancelledError("sync cancelled"), {}}; }
CallStatus FromStatus(absl::Status s) { return CallStatus{std::move(s), Directive::kNone}; }

void ReportChanges(const CycleContext& ctx, const std::vector<ChangeEvent>& changes) {
  if (!ctx.options->on_change) return;
  for (const auto& c : changes) ctx.options->on_change(c);
}

CallStatus PushOutbox(CycleContext* ctx) {
  for (int batch = 0; batch < tuning::kMaxPushBatchesPerCycle; ++batch) {
    if (ctx->cancelled->load()) return Cancelled();
    auto pending = ctx->db->OutboxBatch(tuning::kPushBatchSize);
    if (!pending.ok()) return FromStatus(pending.status());
    if (pending->empty()) return {};
    v1::PushRequest request;
    *request.mutable_client() = ctx->client;
    // The outbox is sent in client_seq order and an entry leaves it in the
    // transaction that stores its result: every client_seq below the oldest
    // pending one has its result stored here (or will never be sent), so
    // the server may forget those results.
    request.set_results_acked_through(pending->front().client_seq - 1);
    std::vector<v1::Mutation> sent;
    sent.reserve(pending->size());
    for (auto& p : *pending) {
      *request.add_mutations() = p.mutation;
      sent.push_back(std::move(p.mutation));
    }
    v1::PushResponse response;
    CallStatus call = ctx->transport->Push(request, &response);
    if (!call.ok()) return call;
    if (response.results_size() != request.mutations_size()) {
      return FromStatus(absl::InternalError(
          "push answered " + std::to_string(response.results_size()) + " results for " +
          std::to_string(request.mutations_size()) + " mutations"));
    }
    std::vector<ChangeEvent> changes;
    auto events = ctx->db->ApplyPushResults(sent, response, &changes);
    if (!events.ok()) return FromStatus(events.status());
    ctx->pushed += response.results_size();
    for (const PushEvent& e : *events) {
      if (e.result.outcome() == v1::MUTATION_OUTCOME_CONFLICT && ctx->options->on_conflict) {
        ctx->options->on_conflict(e);
      } else if (e.result.outcome() == v1::MUTATION_OUTCOME_REJECTED && ctx->options->on_rejected) {
        ctx->options->on_rejected(e);
      }
    }
    ReportChanges(*ctx, changes);
    if (ctx->on_count) ctx->on_count(ctx->pushed, ctx->pulled);
  }
  return {};
}

}  // namespace crmsync::client::internal
