// Limits on pushed values, checked before a mutation is merged: string
// lengths, list sizes, coordinates, money, bounded numbers, and ids (record,
// conflict and reference ids) free of NUL characters. Which string is an id
// or long text, and the bounds of numbers, come from the proto
// (options.proto FieldRules: kind, min, max). A violation
// rejects the mutation (REJECT_REASON_VALIDATION) and nothing of it is
// stored.
#ifndef CRMSYNC_SERVER_LOGIC_VALUE_VALIDATION_H_
#define CRMSYNC_SERVER_LOGIC_VALUE_VALIDATION_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "crmsync/v1/sync.pb.h"

namespace crmsync::server {

struct ValueLimits {
  // Longest id (record ids, ids in references), in bytes.
  size_t max_id_bytes = 128;
  // Longest free-text string (notes, descriptions, bodies), in bytes.
  size_t max_text_bytes = 64 * 1024;
  // Longest other string (names, e-mail, phone, codes), in bytes.
  size_t max_string_bytes = 1024;
  // Most elements in a repeated field (tags, attendees, polygon vertices).
  int max_repeated = 1000;
  // Largest absolute Money.amount_minor (10^15 minor units).
  int64_t max_amount_minor = 1'000'000'000'000'000;
};

// INVALID_ARGUMENT with a message naming the field, or OK. Checks the
// entity in `m.values()` and `m.base_values()` (base values may not exceed
// the limits either: they are stored in conflicts).
absl::Status ValidateValues(const v1::Mutation& m, const ValueLimits& limits = {});

// The same checks for any message (an entity, or a message inside one);
// `path` prefixes the field names in messages ("values").
absl::Status ValidateMessage(const google::protobuf::Message& message, const std::string& path,
                             const ValueLimits& limits = {});

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_VALUE_VALIDATION_H_
