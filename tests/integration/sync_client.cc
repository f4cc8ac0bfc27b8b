#include "sync_client.h"

namespace crmsync::testing {

DevSyncClient::DevSyncClient(const std::string& address, std::string tenant, std::string user,
                             std::string device)
    : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
      stub_(v1::SyncService::NewStub(channel_)),
      tenant_(std::move(tenant)),
      user_(std::move(user)),
      device_(std::move(device)) {}

void DevSyncClient::Prepare(grpc::ClientContext* context, std::chrono::seconds deadline) const {
  context->AddMetadata("x-crmsync-dev-tenant", tenant_);
  context->AddMetadata("x-crmsync-dev-user", user_);
  context->AddMetadata("x-crmsync-dev-device", device_);
  context->set_deadline(std::chrono::system_clock::now() + deadline);
}

grpc::Status DevSyncClient::Push(const v1::PushRequest& request, v1::PushResponse* response) {
  grpc::ClientContext context;
  Prepare(&context);
  return stub_->Push(&context, request, response);
}

grpc::Status DevSyncClient::Pull(const v1::PullRequest& request, v1::PullResponse* response,
                                 std::multimap<std::string, std::string>* trailers) {
  grpc::ClientContext context;
  Prepare(&context);
  grpc::Status status = stub_->Pull(&context, request, response);
  if (trailers) {
    for (const auto& [k, v] : context.GetServerTrailingMetadata()) {
      trailers->emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    }
  }
  return status;
}

std::unique_ptr<grpc::ClientReader<v1::SubscribeEvent>> DevSyncClient::Subscribe(
    grpc::ClientContext* context, const std::string& cursor) {
  Prepare(context, std::chrono::seconds(60));
  v1::SubscribeRequest request;
  request.mutable_client()->set_protocol_version(1);
  request.set_cursor(cursor);
  return stub_->Subscribe(context, request);
}

v1::Mutation LeadUpdate(int64_t client_seq, const v1::RecordState& base, const v1::Lead& values,
                        const std::vector<std::string>& paths, const std::string& device) {
  v1::Mutation m;
  m.set_client_seq(client_seq);
  *m.mutable_record() = base.ref();
  m.set_operation(v1::OPERATION_UPSERT);
  *m.mutable_values()->mutable_lead() = values;
  for (const auto& p : paths) m.mutable_update_mask()->add_paths(p);
  m.set_base_version(base.version());
  *m.mutable_base_values() = base.data();
  m.mutable_hlc()->set_wall_time_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
  m.mutable_hlc()->set_node_id(device);
  m.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
  m.mutable_provenance()->set_device_id(device);
  return m;
}

}  // namespace crmsync::testing
