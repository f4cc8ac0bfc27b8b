// SHA-256 helpers (OpenSSL) for mutation payload hashes and checksums.
#ifndef CRMSYNC_SERVER_LOGIC_HASHING_H_
#define CRMSYNC_SERVER_LOGIC_HASHING_H_

#include <cstdint>
#include <string>
#include <string_view>

#include <google/protobuf/message_lite.h>

namespace crmsync::server {

// Lower-case hex SHA-256 of `bytes`.
std::string Sha256Hex(const std::string& bytes);

// 64-bit FNV-1a of `kind` and `value`, each followed by a separator byte:
// small, stable across platforms and releases (stored index keys).
uint64_t Fnv64(std::string_view kind, std::string_view value);

// Deterministic serialization of `message` (stable map order).
std::string DeterministicBytes(const google::protobuf::MessageLite& message);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_HASHING_H_
