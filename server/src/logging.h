// Process-wide logging set-up for crm-syncd (spdlog to stderr).
#ifndef CRMSYNC_SERVER_LOGGING_H_
#define CRMSYNC_SERVER_LOGGING_H_

#include <string>

namespace crmsync::server {

// Installs the default logger. `format` is "text" or "json" (one JSON object
// per line with time, level, logger and msg). Not thread-safe; call once at
// start-up before other threads log.
void SetUpLogging(const std::string& level, const std::string& format);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGGING_H_
