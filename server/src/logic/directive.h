// Directives a failed call carries to the SDK ("wipe", "reset-required",
// "upgrade-required"). Handlers attach them to an absl::Status as a payload;
// the rpc layer sends them as the trailing metadata "crmsync-directive".
#ifndef CRMSYNC_SERVER_LOGIC_DIRECTIVE_H_
#define CRMSYNC_SERVER_LOGIC_DIRECTIVE_H_

#include <optional>
#include <string>

#include "absl/status/status.h"

namespace crmsync::server {

inline constexpr char kDirectiveKey[] = "crmsync-directive";
inline constexpr char kDirectiveWipe[] = "wipe";
inline constexpr char kDirectiveResetRequired[] = "reset-required";
inline constexpr char kDirectiveUpgradeRequired[] = "upgrade-required";
inline constexpr char kDirectiveHistoryChanged[] = "history-changed";

// Returns `status` with `directive` attached.
absl::Status WithDirective(absl::Status status, const std::string& directive);

// The directive attached to `status`, if any.
std::optional<std::string> DirectiveOf(const absl::Status& status);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_DIRECTIVE_H_
