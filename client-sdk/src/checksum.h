// The replica checksum, computed exactly as the server's GetChecksum
// (docs/protocol.md "Checksums"): per entity type, SHA-256 over the
// concatenated hex SHA-256 digests of each live record's
// sync::CanonicalBytes in id order; overall, SHA-256 over
// "<type>:<count>:<bucket digest>\n" lines in entity-type order.
#ifndef CRMSYNC_CLIENT_SRC_CHECKSUM_H_
#define CRMSYNC_CLIENT_SRC_CHECKSUM_H_

#include <map>
#include <string>

#include "crmsync/v1/sync.pb.h"

namespace crmsync::client::internal {

namespace v1 = ::crmsync::v1;

std::string Sha256Hex(const std::string& bytes);

class ReplicaChecksum {
 public:
  // Adds a replica record; deleted ones are ignored.
  void Add(const v1::RecordState& record);
  v1::GetChecksumResponse Finish() const;

 private:
  std::map<int, std::map<std::string, std::string>> digests_;
};

}  // namespace crmsync::client::internal

#endif  // CRMSYNC_CLIENT_SRC_CHECKSUM_H_
