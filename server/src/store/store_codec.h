// Helpers shared by the store implementations: input validation and the
// encoding of protobuf values into the columns both schemas use.
//
// All functions are pure and thread-safe.
#ifndef CRMSYNC_SERVER_STORE_STORE_CODEC_H_
#define CRMSYNC_SERVER_STORE_STORE_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"
#include "google/protobuf/timestamp.pb.h"
#include "store/store.h"

namespace crmsync::server::store_codec {

// Most retries of a write transaction that failed for a retryable reason
// (serialization failure, deadlock, busy database) before Write gives up.
inline constexpr int kMaxWriteAttempts = 8;

// Deterministic serialization (map fields sorted), so equal messages give
// equal bytes.
std::string Encode(const google::protobuf::MessageLite& message);

// Parses `bytes` into `message`; INTERNAL naming `what` if they are corrupt.
absl::Status Decode(const std::string& bytes, google::protobuf::MessageLite* message,
                    const char* what);
absl::Status Decode(absl::string_view bytes, google::protobuf::MessageLite* message,
                    const char* what);

// A record's state as the stores keep it (records.state). The fields one
// mutation sets share one field state (version, clock, provenance); when
// some do, each distinct one is stored once: a marker byte 0, a format
// byte, then a crmsync.store.CompactRecordState. Otherwise, and in rows
// written before this format, the bytes are a plain RecordState, which
// never starts with a 0 byte (no field has number 0). Deterministic, like
// Encode.
std::string EncodeState(const v1::RecordState& state);

// Reads either form into `state` (cleared first; may be on an arena).
// INTERNAL if the bytes are corrupt or of a format this server does not
// know (written by a newer one).
absl::Status DecodeState(absl::string_view bytes, v1::RecordState* state);

// INVALID_ARGUMENT unless `value` is a non-empty identifier of at most 256
// bytes of valid UTF-8 without NUL characters. `what` names the field in the
// message.
absl::Status CheckId(const std::string& value, const char* what);

// INVALID_ARGUMENT unless `value` (may be empty) is valid UTF-8 without NUL
// characters, i.e. storable in a PostgreSQL text column. Both stores apply
// the same checks so they accept the same inputs.
absl::Status CheckText(const std::string& value, const char* what);

// INVALID_ARGUMENT unless the ref names an entity type and an id.
absl::Status CheckRef(const v1::RecordRef& ref);

// Validation of directory rows before they are stored.
absl::Status CheckTenant(const TenantRow& tenant);
absl::Status CheckUser(const UserRow& user);
absl::Status CheckTeam(const std::string& tenant_id, const v1::Team& team);
absl::Status CheckDevice(const DeviceRow& device);
absl::Status CheckApplied(const AppliedMutation& applied);

// Index keys and queries (WriteTx::SetIndexKeys / FindIndexed): a known
// kind, at most kMaxIndexKeys keys or ranges, lo <= hi (lo == hi unless
// IndexKindHasRanges), limit >= 0.
inline constexpr size_t kMaxIndexKeys = 4096;
absl::Status CheckIndexKeys(IndexKind kind, const std::vector<int64_t>& keys);
absl::Status CheckIndexQuery(IndexKind kind, v1::EntityType type,
                             const std::vector<KeyRange>& ranges, int limit);
// Distinct records in version order, cut to `limit` (0 = all).
void SortByVersion(std::vector<v1::RecordState>* records, int limit);

// The value of `path` in `state` with `field`'s stamp (version, clock
// reading, provenance); an entry with an empty path when the path does not
// resolve for the record's type (markers, paths of older schemas).
v1::FieldHistoryEntry FieldEntry(const v1::RecordState& state, const std::string& path,
                                 const v1::FieldState& field);
// The field history rows of a write from `before` to `after` (both live):
// for each field `after` set in this write (its FieldState.version is
// after.version()) that `before` held from an earlier write, the value it
// replaced, with that earlier stamp. "id" is left out. Each row holds an
// encoded FieldHistoryEntry.
std::vector<FieldHistoryRow> FieldHistoryOf(const v1::RecordState& before,
                                            const v1::RecordState& after);

// Builds Store::ScopesDuring's answer from one query's rows: the record's
// scope history rows after `from`, in version order, then the record.
class ScopesDuringBuilder {
 public:
  ScopesDuringBuilder(int64_t from, int64_t to) : from_(from), to_(to) {}
  // A history row: the scope before change `version` (> from). Returns
  // whether further rows are wanted (false once past `to`).
  absl::StatusOr<bool> AddHistory(int64_t version, const std::string& scope);
  // The answer, given the record's created_version and encoded state.
  absl::StatusOr<std::vector<v1::ScopeKeys>> Finish(int64_t created_version,
                                                    const std::string& state);

 private:
  int64_t from_, to_;
  bool past_to_ = false;
  std::vector<v1::ScopeKeys> scopes_;
};

// Milliseconds since the epoch <-> google.protobuf.Timestamp.
int64_t ToUnixMs(const google::protobuf::Timestamp& ts);
google::protobuf::Timestamp FromUnixMs(int64_t ms);

}  // namespace crmsync::server::store_codec

#endif  // CRMSYNC_SERVER_STORE_STORE_CODEC_H_
