#include "admin_writer.h"

#include <algorithm>

#include "store/store_codec.h"
#include "version.h"

namespace crmsync::server {

namespace {
constexpr int kScanPage = 1000;
// How many admin-console client_seq values behind the newest its results
// are kept: far more admin writes than can be in flight at once on every
// instance together.
constexpr int64_t kAdminAckLag = 1000;
}  // namespace

bool IsServerDevice(const v1::Device& d) { return d.platform() == kServerDevicePlatform; }

DeviceRow ServerDeviceRow(const Principal& who, const std::string& id, int64_t now_ms) {
  DeviceRow row;
  row.tenant_id = who.tenant_id;
  row.device.set_id(id);
  row.device.set_user_id(who.user_id);
  row.device.set_status(v1::DEVICE_STATUS_ACTIVE);
  row.device.set_platform(kServerDevicePlatform);
  *row.device.mutable_registered_at() = store_codec::FromUnixMs(now_ms);
  return row;
}

absl::Status AdminWriter::EnsureDevice(const Principal& who) {
  auto device = directory_->GetDevice(who.tenant_id, kAdminDeviceId);
  if (!device.ok()) return device.status();
  if (*device) {
    if (!IsServerDevice((*device)->device)) {
      return absl::InternalError(std::string("device id ") + kAdminDeviceId +
                                 " is taken by a user's device; admin writes are unavailable");
    }
    return absl::OkStatus();
  }
  return directory_->PutDevice(ServerDeviceRow(who, kAdminDeviceId, clock_->NowMs()));
}

absl::StatusOr<int64_t> AdminWriter::NextClientSeq(const std::string& tenant_id) {
  int64_t seq = 0;
  absl::Status s = changes_->Write(tenant_id, [&](WriteTx& tx) -> absl::Status {
    auto next = tx.AddToClaim(kAdminSeqClaim, 1);
    if (!next.ok()) return next.status();
    seq = *next;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return seq;
}

absl::StatusOr<v1::MutationResult> AdminWriter::Apply(const Principal& who, v1::Mutation m) {
  if (auto s = EnsureDevice(who); !s.ok()) return s;
  auto client_seq = NextClientSeq(who.tenant_id);
  if (!client_seq.ok()) return client_seq.status();
  m.set_client_seq(*client_seq);
  m.mutable_hlc()->set_wall_time_ms(clock_->NowMs());
  m.mutable_hlc()->set_logical(static_cast<uint32_t>(*client_seq & 0xffff));
  m.mutable_hlc()->set_node_id(kAdminDeviceId);
  m.mutable_provenance()->set_author_user_id(who.user_id);
  m.mutable_provenance()->set_device_id(kAdminDeviceId);
  m.mutable_provenance()->set_channel(v1::CHANNEL_ADMIN);

  Principal writer = who;
  writer.device_id = kAdminDeviceId;
  v1::PushRequest request;
  request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  // The caller gets each result directly and nothing re-sends an admin
  // write (a retried AdminService call takes a new client_seq), so the
  // results far enough behind this one are done with. Not the ones just
  // behind: an admin write on another thread or instance may hold a lower
  // client_seq and not have pushed it yet.
  request.set_results_acked_through(std::max<int64_t>(0, *client_seq - kAdminAckLag - 1));
  *request.add_mutations() = std::move(m);
  v1::PushResponse response;
  if (auto s = push_->Push(writer, request, &response); !s.ok()) return s;
  if (response.results_size() != 1) return absl::InternalError("push returned no result");
  return response.results(0);
}

absl::StatusOr<int64_t> ScanRecords(ChangeLog* changes, const std::string& tenant_id,
                                    v1::EntityType type, int64_t after,
                                    const std::function<bool(const v1::RecordState&)>& fn) {
  int64_t position = after;
  while (true) {
    auto rows = changes->ReadTypeSince(tenant_id, type, position, kScanPage);
    if (!rows.ok()) return rows.status();
    for (const RecordRow& row : *rows) {
      position = row.state.version();
      if (row.state.deleted()) continue;
      if (!fn(row.state)) return position;
    }
    if (static_cast<int>(rows->size()) < kScanPage) return position;
  }
}

}  // namespace crmsync::server
