#include "crmsync/sync/checksum.h"

#include "crmsync/sync/change.h"

namespace crmsync::sync {

void ReplicaChecksum::Add(const v1::RecordState& record) {
  if (record.deleted()) return;
  digests_[record.ref().entity_type()][record.ref().id()] = sha256_hex_(CanonicalBytes(record));
}

v1::GetChecksumResponse ReplicaChecksum::Finish() const {
  v1::GetChecksumResponse response;
  std::string overall;
  for (const auto& [type, by_id] : digests_) {
    std::string concat;
    for (const auto& [id, digest] : by_id) concat += digest;
    v1::BucketChecksum* bucket = response.add_buckets();
    bucket->set_entity_type(static_cast<v1::EntityType>(type));
    bucket->set_record_count(static_cast<int64_t>(by_id.size()));
    bucket->set_digest(sha256_hex_(concat));
    overall +=
        std::to_string(type) + ":" + std::to_string(by_id.size()) + ":" + bucket->digest() + "\n";
  }
  response.set_digest(sha256_hex_(overall));
  return response;
}

}  // namespace crmsync::sync
