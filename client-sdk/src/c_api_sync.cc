// C API: sync control, progress and callbacks.
#include "c_api_internal.h"

using namespace crmsync::client;  // NOLINT: C API implementation file
using capi::Fail;
using capi::Guard;
using capi::Ok;

namespace crmsync::client::capi {
namespace {

void CallPushEvent(crmsync_push_event_fn fn, void* user, const PushEvent& e) {
  const std::string result = e.result.SerializeAsString();
  crmsync_push_event ev{};
  ev.entity_type = e.mutation.record().entity_type();
  ev.record_id = e.mutation.record().id().c_str();
  ev.outcome = e.result.outcome();
  ev.reject_reason = e.result.reject_reason();
  ev.message = e.result.message().c_str();
  ev.result = reinterpret_cast<const uint8_t*>(result.data());
  ev.result_size = result.size();
  fn(user, &ev);
}

crmsync_status CheckEngine(crmsync_client* client) {
  if (client == nullptr || client->db == nullptr) {
    return Fail(absl::InvalidArgumentError("client handle is NULL"));
  }
  if (client->engine == nullptr) {
    return Fail(absl::FailedPreconditionError("opened without server_address: no sync"));
  }
  return CRMSYNC_OK;
}

}  // namespace

void InstallCallbacks(crmsync_client* client, SyncOptions* so) {
  const crmsync_options cb = client->callbacks;
  if (cb.on_conflict != nullptr) {
    so->on_conflict = [cb](const PushEvent& e) { CallPushEvent(cb.on_conflict, cb.user_data, e); };
  }
  if (cb.on_rejected != nullptr) {
    so->on_rejected = [cb](const PushEvent& e) { CallPushEvent(cb.on_rejected, cb.user_data, e); };
  }
  if (cb.on_change != nullptr) {
    so->on_change = [cb](const ChangeEvent& e) {
      cb.on_change(cb.user_data, e.ref.entity_type(), e.ref.id().c_str(),
                   e.kind == ChangeEvent::Kind::kRemoved ? 1 : 0);
    };
  }
  if (cb.on_wiped != nullptr) so->on_wiped = [cb] { cb.on_wiped(cb.user_data); };
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
    if (crmsync_status s = capi::CheckEngine(client); s != CRMSYNC_OK) return s;
    if (out == nullptr) return Fail(absl::InvalidArgumentError("out is NULL"));
    const SyncProgress p = client->engine->Progress();
    out->state = static_cast<int32_t>(p.state);
    out->pushed = p.pushed;
    out->pulled = p.pulled;
    out->pending = p.pending;
    out->cycles = p.cycles;
    out->resets = p.resets;
    return Ok();
  });
}

crmsync_status crmsync_pending_count(crmsync_client* client, int64_t* out) {
  return Guard([&] {
    if (client == nullptr || client->db == nullptr || out == nullptr) {
      return Fail(absl::InvalidArgumentError("client and out are required"));
    }
    auto n = client->db->PendingCount();
    if (!n.ok()) return Fail(n.status());
    *out = *n;
    return Ok();
  });
}

crmsync_status crmsync_set_offline(crmsync_client* client, int offline) {
  return Guard([&] {
    if (client == nullptr || client->db == nullptr) {
      return Fail(absl::InvalidArgumentError("client handle is NULL"));
    }
    absl::Status s = client->db->SetOffline(offline != 0);
    return s.ok() ? Ok() : Fail(s);
  });
}

}  // extern "C"
