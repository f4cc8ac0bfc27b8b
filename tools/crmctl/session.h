// The admin session crmctl keeps in its config file after `crmctl login`:
//   token = "<access token>"
//   refresh-token = "<single-use refresh token>"
//   token-expires = <unix seconds>
// The file is owner-only (0600) and replaced atomically. When the access
// token is about to expire, crmctl trades the refresh token for a new pair
// (AuthService.Refresh) and saves it before running the command.
#ifndef CRMSYNC_TOOLS_CRMCTL_SESSION_H_
#define CRMSYNC_TOOLS_CRMCTL_SESSION_H_

#include <cstdint>
#include <string>

#include "connection.h"
#include "crmsync/v1/auth.pb.h"

namespace crmsync::crmctl {

struct SavedSession {
  std::string refresh_token;
  int64_t expires_s = 0;  // access token expiry, unix seconds
};

// Writes the tokens into `config_file`, keeping its other settings.
// False (message on stderr) when the file cannot be written.
bool SaveSession(const std::string& config_file, const v1::TokenPair& tokens);

// If the session's access token expires within a minute, refreshes it,
// saves the new pair, keeps it in `*session` (a refresh token is single
// use) and puts the new access token in `options->token`.
// Returns false only when a refresh was needed and failed (message on
// stderr: log in again); the command then runs with the old token.
bool RefreshIfExpiring(const std::string& config_file, SavedSession* session,
                       ConnectionOptions* options);

}  // namespace crmsync::crmctl

#endif  // CRMSYNC_TOOLS_CRMCTL_SESSION_H_
