// The byte layout of a fuzz_merge input, shared by the fuzzer and the corpus
// generator:
//   byte 0        flags (kFlag*)
//   bytes 1..2    little-endian length L of the stored RecordState
//   L bytes       serialized v1::RecordState (empty: no stored record)
//   the rest      serialized v1::PushRequest
#ifndef CRMSYNC_TESTS_FUZZ_FUZZ_INPUT_H_
#define CRMSYNC_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstdint>
#include <string>

#include "crmsync/v1/sync.pb.h"

namespace crmsync::fuzz {

inline constexpr uint8_t kFlagKeepUpdate = 1;     // delete_vs_update = keep_update
inline constexpr uint8_t kFlagAltPolicies = 2;    // the alternative policy config
inline constexpr uint8_t kFlagOpenConflict = 4;   // hand RESOLVE_CONFLICT an open conflict

inline std::string EncodeMergeInput(uint8_t flags, const crmsync::v1::RecordState* stored,
                                    const crmsync::v1::PushRequest& push) {
  std::string state = stored != nullptr ? stored->SerializeAsString() : std::string();
  if (state.size() > 0xffff) state.clear();
  std::string out;
  out.push_back(static_cast<char>(flags));
  out.push_back(static_cast<char>(state.size() & 0xff));
  out.push_back(static_cast<char>((state.size() >> 8) & 0xff));
  out += state;
  out += push.SerializeAsString();
  return out;
}

}  // namespace crmsync::fuzz

#endif  // CRMSYNC_TESTS_FUZZ_FUZZ_INPUT_H_
