// C API: sync control, progress and callbacks.
#include <cstring>

#include "c_api_internal.h"

using namespace crmsync::client;  // NOLINT: C API implementation file
using capi::Fail;
using capi::Guard;
using capi::Ok;

namespace crmsync::client::capi {
namespace {

void CallPushEvent(const crmsync_client* client, crmsync_push_event_fn fn, void* user,
                   const PushEvent& e) {
  auto encoded = Encode(client, e.result);
  const std::string result = encoded.ok() ? *encoded : std::string();
  crmsync_push_event ev{};
  ev.entity_type = e.mutation.record().entity_type();
  ev.record_id = e.mutation.record().id().c_str();
  ev.outcome = e.result.outcome();
  ev.reject_reason = e.result.reject_reason();
  ev.message = e.result.message().c_str();
  ev.result = reinterpret_cast<const uint8_t*>(result.c_str());
  ev.result_size = result.size();
  fn(user, &ev);
}

crmsync_status CheckEngine(crmsync_client* client) {
  if (crmsync_status s = CheckHandle(client); s != CRMSYNC_OK) return s;
  if (client->engine == nullptr) {
    return Fail(absl::FailedPreconditionError("opened without server_address: no sync"));
  }
  return CRMSYNC_OK;
}

}  // namespace

void InstallCallbacks(crmsync_client* client, SyncOptions* so) {
  const crmsync_options cb = client->callbacks;
  if (cb.on_conflict != nullptr) {
    so->on_conflict = [client, cb](const PushEvent& e) {
      CallPushEvent(client, cb.on_conflict, cb.user_data, e);
    };
  }
  if (cb.on_rejected != nullptr) {
    so->on_rejected = [client, cb](const PushEvent& e) {
      CallPushEvent(client, cb.on_rejected, cb.user_data, e);
    };
  }
  if (cb.on_change != nullptr) {
    so->on_change = [cb](const ChangeEvent& e) {
      cb.on_change(cb.user_data, e.ref.entity_type(), e.ref.id().c_str(),
                   e.kind == ChangeEvent::Kind::kRemoved ? 1 : 0);
    };
  }
  if (cb.on_wiped != nullptr) so->on_wiped = [cb] { cb.on_wiped(cb.user_data); };
  if (cb.on_log != nullptr) {
    so->on_log = [cb](LogLevel level, const std::string& message) {
      cb.on_log(cb.user_data, static_cast<crmsync_log_level>(level), message.c_str());
    };
    so->log_level = static_cast<LogLevel>(
        cb.log_level < CRMSYNC_LOG_DEBUG || cb.log_level > CRMSYNC_LOG_ERROR ? CRMSYNC_LOG_INFO
                                                                             : cb.log_level);
  }
}

}  // namespace crmsync::client::capi

extern "C" {

crmsync_status crmsync_sync_now(crmsync_client* client) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckEngine(client); s != CRMSYNC_OK) return s;
    absl::Status s = client->engine->SyncOnce();
    return s.ok() ? Ok() : Fail(s);
  });
}

crmsync_status crmsync_field_history(crmsync_client* client, int32_t entity_type, const char* id,
                                     const char* field, int32_t limit, crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckEngine(client); s != CRMSYNC_OK) return s;
    if (out == nullptr) return Fail(absl::InvalidArgumentError("out is NULL"));
    if (limit < 0) return Fail(absl::InvalidArgumentError("limit must not be negative"));
    v1::RecordRef ref;
    ref.set_entity_type(static_cast<v1::EntityType>(entity_type));
    ref.set_id(capi::Str(id));
    auto history = client->engine->FieldHistory(ref, capi::Str(field), limit);
    if (!history.ok()) return Fail(history.status());
    auto bytes = capi::Encode(client, *history);
    if (!bytes.ok()) return Fail(bytes.status());
    if (!capi::FillBuffer(*bytes, out)) return Fail(absl::ResourceExhaustedError("out of memory"));
    return Ok();
  });
}

crmsync_status crmsync_sync_start(crmsync_client* client) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckEngine(client); s != CRMSYNC_OK) return s;
    client->engine->Start();
    return Ok();
  });
}

crmsync_status crmsync_sync_stop(crmsync_client* client) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckEngine(client); s != CRMSYNC_OK) return s;
    client->engine->Stop();
    return Ok();
  });
}

crmsync_status crmsync_sync_cancel(crmsync_client* client) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckEngine(client); s != CRMSYNC_OK) return s;
    client->engine->Cancel();
    return Ok();
  });
}

crmsync_status crmsync_sync_progress(crmsync_client* client, crmsync_progress* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    if (out == nullptr) return Fail(absl::InvalidArgumentError("out is NULL"));
    std::memset(out, 0, sizeof *out);
    SyncProgress p;
    if (client->engine != nullptr) {
      p = client->engine->Progress();
    } else {
      auto pending = client->db->PendingCount();
      if (!pending.ok()) return Fail(pending.status());
      auto last = client->db->LastSyncMs();
      if (!last.ok()) return Fail(last.status());
      p.pending = *pending;
      p.last_success_ms = *last;
    }
    out->state = static_cast<int32_t>(p.state);
    out->pushed = p.pushed;
    out->pulled = p.pulled;
    out->pending = p.pending;
    out->cycles = p.cycles;
    out->resets = p.resets;
    out->last_success_ms = p.last_success_ms;
    out->connected = p.subscribed ? 1 : 0;
    std::strncpy(out->last_error, p.last_error.c_str(), sizeof out->last_error - 1);
    return Ok();
  });
}

crmsync_status crmsync_pending_count(crmsync_client* client, int64_t* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    if (out == nullptr) return Fail(absl::InvalidArgumentError("out is NULL"));
    auto n = client->db->PendingCount();
    if (!n.ok()) return Fail(n.status());
    *out = *n;
    return Ok();
  });
}

crmsync_status crmsync_set_offline(crmsync_client* client, int offline) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    absl::Status s = client->db->SetOffline(offline != 0);
    return s.ok() ? Ok() : Fail(s);
  });
}

}  // extern "C"
