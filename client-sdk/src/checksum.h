// The SDK's hex SHA-256, handed to sync::ReplicaChecksum (the checksum the
// server computes too, crmsync/sync/checksum.h).
#ifndef CRMSYNC_CLIENT_SRC_CHECKSUM_H_
#define CRMSYNC_CLIENT_SRC_CHECKSUM_H_

#include <string>

#include "crmsync/v1/sync.pb.h"

namespace crmsync::client::internal {

namespace v1 = ::crmsync::v1;

std::string Sha256Hex(const std::string& bytes);

}  // namespace crmsync::client::internal

#endif  // CRMSYNC_CLIENT_SRC_CHECKSUM_H_
