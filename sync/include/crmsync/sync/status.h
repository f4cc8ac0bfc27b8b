// Status and Result: errors as values for the sync core.
//
// sync/ may not depend on absl (see sync/README.md), so it carries this small
// status type. The server converts it once, at its boundary, to absl::Status
// or grpc::Status. Both types are plain values: copyable, movable, and safe to
// use from any thread as long as one object is not mutated concurrently.
#ifndef CRMSYNC_SYNC_STATUS_H_
#define CRMSYNC_SYNC_STATUS_H_

#include <optional>
#include <string>
#include <utility>

namespace crmsync::sync {

enum class StatusCode {
  kOk = 0,
  // The input is malformed (bad mask path, wrong entity type, bad config).
  kInvalidArgument,
  // Something the call needs does not exist.
  kNotFound,
  // The input is well formed but cannot be applied to this state.
  kFailedPrecondition,
};

// The name of a code, e.g. "INVALID_ARGUMENT".
const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  // OK.
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string message) {
    return Status(StatusCode::kInvalidArgument, std::move(message));
  }
  static Status NotFound(std::string message) {
    return Status(StatusCode::kNotFound, std::move(message));
  }
  static Status FailedPrecondition(std::string message) {
    return Status(StatusCode::kFailedPrecondition, std::move(message));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "OK" or "INVALID_ARGUMENT: <message>".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none. value() on an error
// Result is a programming error (it asserts in debug builds).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T* operator->() const { return &*value_; }
  T* operator->() { return &*value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace crmsync::sync

#endif  // CRMSYNC_SYNC_STATUS_H_
