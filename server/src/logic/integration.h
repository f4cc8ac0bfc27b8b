// Integrations: server-to-server clients (ROLE_INTEGRATION) with a grant of
// entity types and channels (v1::IntegrationRules). Their reads and writes
// go through the ordinary scope rules (scope.h); this file checks a grant
// and stamps an integration's writes with its channel and precision
// (docs/integration.md). Pure functions; thread-safe.
#ifndef CRMSYNC_SERVER_LOGIC_INTEGRATION_H_
#define CRMSYNC_SERVER_LOGIC_INTEGRATION_H_

#include <string>

#include "absl/status/status.h"
#include "crmsync/v1/entities.pb.h"
#include "crmsync/v1/sync.pb.h"
#include "principal.h"

namespace crmsync::server {

// Checks a grant an admin gives an integration: at least one channel, none
// twice, none UNSPECIFIED or SYSTEM (the server's own), each with a
// precision; entity types known and named once. INVALID_ARGUMENT naming the
// problem.
absl::Status ValidateIntegrationRules(const ::crmsync::v1::IntegrationRules& rules);

// `m` as the integration `who` may write it, into `out`: the channel the
// mutation names (the grant's first when it names none) with the grant's
// precision, the integration's user id and device id, whatever the mutation
// said. PERMISSION_DENIED naming the granted channels when the mutation
// names a channel the grant lacks, and for MERGE and RESOLVE_CONFLICT
// (decisions for people).
absl::Status StampIntegrationWrite(const Principal& who, const ::crmsync::v1::Mutation& m,
                                   ::crmsync::v1::Mutation* out);

// "call_center=self_reported,web=reported": a grant's channels, for
// messages and listings.
std::string DescribeChannels(const ::crmsync::v1::IntegrationRules& rules);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_INTEGRATION_H_
