// The byte layouts of fuzz inputs, shared by the fuzzers and the corpus
// generator (make_corpus.cc).
//
// fuzz_merge:
//   byte 0        flags (kFlag*)
//   bytes 1..2    little-endian length L of the stored RecordState
//   L bytes       serialized v1::RecordState (empty: no stored record)
//   the rest      serialized v1::PushRequest
#ifndef CRMSYNC_TESTS_FUZZ_FUZZ_INPUT_H_
#define CRMSYNC_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstdint>
#include <string>

#include "crmsync/v1/sync.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace crmsync::fuzz {

inline constexpr uint8_t kFlagKeepUpdate = 1;    // delete_vs_update = keep_update
inline constexpr uint8_t kFlagAltPolicies = 2;   // the alternative policy config
inline constexpr uint8_t kFlagOpenConflict = 4;  // hand RESOLVE_CONFLICT an open conflict

// fuzz_push_batch: byte 0 even = a serialized PushRequest follows, pushed
// by principal ((byte0 >> 1) & 7) % 7 of tests/fuzz/server_world.h; odd = a
// script (FuzzedDataProvider) follows. Flags of the even form:
inline constexpr uint8_t kPushForceVersion = 0x10;  // protocol version served
inline constexpr uint8_t kPushRenumber = 0x20;      // client_seq from the next one
inline constexpr uint8_t kPushRetry = 0x40;         // push it a second time

// fuzz_pull_apply: byte 0 even = a serialized PullResponse follows; odd = a
// script follows. Flags of the even form:
inline constexpr uint8_t kPullTwice = 0x10;        // apply the page twice
inline constexpr uint8_t kPullBeginReset = 0x20;   // re-bootstrap started before
inline constexpr uint8_t kPullFinishReset = 0x40;  // and finished after

// fuzz_token: byte 0 % 6 selects what the rest is.
enum TokenPart : uint8_t {
  kTokenRaw = 0,      // text: an access token / authorization metadata
  kTokenSigned = 1,   // script: claims to sign, then one edit
  kTokenCursor = 2,   // text: a Pull cursor
  kTokenBase64 = 3,   // text: base64url
  kTokenApiKey = 4,   // script: tenant, device, key (raw or one edit)
  kTokenRefresh = 5,  // script: refresh token (raw or one edit)
};

// Serialization with map entries in key order: plain serialization orders
// map entries by hash-table layout, which differs from run to run, and the
// committed corpora must come out of make_corpus byte for byte.
inline std::string StableBytes(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

inline std::string EncodeMergeInput(uint8_t flags, const crmsync::v1::RecordState* stored,
                                    const crmsync::v1::PushRequest& push) {
  std::string state = stored != nullptr ? StableBytes(*stored) : std::string();
  if (state.size() > 0xffff) state.clear();
  std::string out;
  out.push_back(static_cast<char>(flags));
  out.push_back(static_cast<char>(state.size() & 0xff));
  out.push_back(static_cast<char>((state.size() >> 8) & 0xff));
  out += state;
  out += StableBytes(push);
  return out;
}

}  // namespace crmsync::fuzz

#endif  // CRMSYNC_TESTS_FUZZ_FUZZ_INPUT_H_
