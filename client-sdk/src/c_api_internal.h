// The object behind the C API's opaque handle, and helpers shared by the
// C API's translation units.
#ifndef CRMSYNC_CLIENT_SRC_C_API_INTERNAL_H_
#define CRMSYNC_CLIENT_SRC_C_API_INTERNAL_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "crmsync/client/database.h"
#include "crmsync/client/sync_engine.h"
#include "crmsync/crmsync_client.h"

struct crmsync_client {
  std::unique_ptr<crmsync::client::Database> db;
  std::unique_ptr<crmsync::client::SyncEngine> engine;  // null without a server
  crmsync_options callbacks{};
};

namespace crmsync::client::capi {

// Records `s` as this thread's last error and returns its code.
crmsync_status Fail(const absl::Status& s);
crmsync_status Ok();
bool FillBuffer(const std::string& bytes, crmsync_buffer* out);
// Wires the handle's C callbacks into the engine's options.
void InstallCallbacks(crmsync_client* client, SyncOptions* so);

}  // namespace crmsync::client::capi

namespace crmsync::client::capi {

// Runs `f` (returning crmsync_status) and turns any escaping exception
// (std::bad_alloc, mostly) into CRMSYNC_INTERNAL.
template <typename F>
crmsync_status Guard(F&& f) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    return Fail(absl::InternalError(e.what()));
  } catch (...) {
    return Fail(absl::InternalError("unknown exception"));
  }
}

}  // namespace crmsync::client::capi

#endif  // CRMSYNC_CLIENT_SRC_C_API_INTERNAL_H_
