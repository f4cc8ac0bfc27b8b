// SHA-256 helpers (OpenSSL) for mutation payload hashes and checksums.
#ifndef CRMSYNC_SERVER_LOGIC_HASHING_H_
#define CRMSYNC_SERVER_LOGIC_HASHING_H_

#include <string>

#include <google/protobuf/message_lite.h>

namespace crmsync::server {

// Lower-case hex SHA-256 of `bytes`.
std::string Sha256Hex(const std::string& bytes);

// Deterministic serialization of `message` (stable map order).
std::string DeterministicBytes(const google::protobuf::MessageLite& message);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_HASHING_H_
