// The replica checksum (docs/protocol.md "Checksums"), computed by the server
// (GetChecksum over the records a device may read) and by the SDK (over its
// replica) with this one implementation, so the two can only agree or
// differ because the records differ. Per entity type: SHA-256 over the
// concatenated hex SHA-256 digests of each live record's CanonicalBytes in
// id order; overall: SHA-256 over "<type>:<count>:<bucket digest>\n" lines
// in entity-type order.
//
// The core does no hashing of its own (it stays free of crypto libraries):
// the caller hands in its hex SHA-256 function. Not thread-safe.
#ifndef CRMSYNC_SYNC_CHECKSUM_H_
#define CRMSYNC_SYNC_CHECKSUM_H_

#include <map>
#include <string>

#include "crmsync/v1/sync.pb.h"

namespace crmsync::sync {

// Lower-case hex SHA-256 of `bytes`.
using Sha256HexFn = std::string (*)(const std::string& bytes);

class ReplicaChecksum {
 public:
  explicit ReplicaChecksum(Sha256HexFn sha256_hex) : sha256_hex_(sha256_hex) {}

  // Adds a record; deleted ones (tombstones) are not part of the checksum.
  // A second record with the same type and id replaces the first.
  void Add(const v1::RecordState& record);
  // Buckets and overall digest; the cursor is left for the caller.
  v1::GetChecksumResponse Finish() const;

 private:
  Sha256HexFn sha256_hex_;
  // entity type -> (id -> record digest)
  std::map<int, std::map<std::string, std::string>> digests_;
};

}  // namespace crmsync::sync

#endif  // CRMSYNC_SYNC_CHECKSUM_H_
