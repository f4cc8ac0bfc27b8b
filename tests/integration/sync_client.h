// A minimal gRPC client of crmsync.v1.SyncService for integration tests,
// identifying itself with development identity metadata.
#ifndef CRMSYNC_TESTS_INTEGRATION_SYNC_CLIENT_H_
#define CRMSYNC_TESTS_INTEGRATION_SYNC_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "crmsync/v1/sync.grpc.pb.h"

namespace crmsync::testing {

namespace v1 = ::crmsync::v1;

class DevSyncClient {
 public:
  DevSyncClient(const std::string& address, std::string tenant, std::string user,
                std::string device);

  grpc::Status Push(const v1::PushRequest& request, v1::PushResponse* response);
  grpc::Status Pull(const v1::PullRequest& request, v1::PullResponse* response,
                    std::multimap<std::string, std::string>* trailers = nullptr);
  // Opens a Subscribe stream; read events from the returned reader.
  std::unique_ptr<grpc::ClientReader<v1::SubscribeEvent>> Subscribe(grpc::ClientContext* context,
                                                                    const std::string& cursor);
  // Adds the identity metadata and a deadline to `context`.
  void Prepare(grpc::ClientContext* context,
               std::chrono::seconds deadline = std::chrono::seconds(20)) const;

  const std::string& device() const { return device_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SyncService::Stub> stub_;
  std::string tenant_, user_, device_;
};

// A Mutation that sets `paths` of a lead from `values`, edited from `base`.
v1::Mutation LeadUpdate(int64_t client_seq, const v1::RecordState& base, const v1::Lead& values,
                        const std::vector<std::string>& paths, const std::string& device);

}  // namespace crmsync::testing

#endif  // CRMSYNC_TESTS_INTEGRATION_SYNC_CLIENT_H_
