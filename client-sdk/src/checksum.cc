#include "checksum.h"

#include <openssl/evp.h>

#include "crmsync/sync/checksum.h"
#include "database_sync.h"
#include "sqlite_db.h"
#include "tables.h"

namespace crmsync::client {
namespace internal {

std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

}  // namespace internal

absl::StatusOr<v1::GetChecksumResponse> Database::SyncAccess::LocalChecksum() {
  absl::MutexLock lock(&db_->mu_);
  if (absl::Status s = db_->Ready(); !s.ok()) return s;
  auto st = db_->db_->Prepare("SELECT server_state FROM records WHERE server_state IS NOT NULL");
  if (!st.ok()) return st.status();
  sync::ReplicaChecksum sum(&internal::Sha256Hex);
  while (st->Step()) {
    v1::RecordState state;
    if (!state.ParseFromString(st->Blob(0))) return absl::DataLossError("corrupt record blob");
    sum.Add(state);
  }
  if (!st->status().ok()) return st->status();
  auto out = sum.Finish();
  auto cursor = internal::GetState(db_->db_.get(), "cursor");
  if (cursor.ok() && *cursor) out.set_cursor(**cursor);
  return out;
}

}  // namespace crmsync::client
