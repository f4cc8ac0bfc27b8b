// The object behind the C API's opaque handle, and helpers shared by the
// C API's translation units.
#ifndef CRMSYNC_CLIENT_SRC_C_API_INTERNAL_H_
#define CRMSYNC_CLIENT_SRC_C_API_INTERNAL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crmsync/client/database.h"
#include "crmsync/client/sync_engine.h"
#include "crmsync/client/transport.h"
#include "crmsync/crmsync_client.h"
#include "google/protobuf/message.h"

struct crmsync_client {
  std::unique_ptr<crmsync::client::Database> db;
  // Null without a server, or when signed in with a fixed bearer token.
  std::shared_ptr<crmsync::client::TokenCredentials> credentials;
  std::unique_ptr<crmsync::client::SyncEngine> engine;  // null without a server
  // The caller's options, as far as it knows them (the rest zero); string
  // members are not kept (they may dangle after crmsync_open).
  crmsync_options callbacks{};
  crmsync_format format = CRMSYNC_FORMAT_PROTOBUF;
};

namespace crmsync::client::capi {

// Records `s` as this thread's last error and returns its code.
crmsync_status Fail(const absl::Status& s);
crmsync_status Ok();
std::string Str(const char* s);
// Fills `out` with a malloc'ed copy of `bytes`, NUL-terminated (the NUL is
// not counted in out->size).
bool FillBuffer(const std::string& bytes, crmsync_buffer* out);
// A message in the handle's record format, and back.
absl::StatusOr<std::string> Encode(const crmsync_client* client,
                                   const google::protobuf::Message& message);
absl::Status Decode(const crmsync_client* client, const void* data, size_t size,
                    google::protobuf::Message* message);
// Writes a RecordState (or a list of them) to `out` in the handle's format.
crmsync_status FillState(const crmsync_client* client, const absl::StatusOr<v1::RecordState>& state,
                         crmsync_buffer* out);
crmsync_status FillList(const crmsync_client* client,
                        const absl::StatusOr<std::vector<v1::RecordState>>& states,
                        crmsync_buffer* out);
crmsync_status CheckHandle(const crmsync_client* client);
// Wires the handle's C callbacks into the engine's options.
void InstallCallbacks(crmsync_client* client, SyncOptions* so);

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
