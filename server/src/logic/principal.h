// The authenticated caller of an RPC, as every handler sees it.
#ifndef CRMSYNC_SERVER_LOGIC_PRINCIPAL_H_
#define CRMSYNC_SERVER_LOGIC_PRINCIPAL_H_

#include <string>

#include "crmsync/v1/entities.pb.h"

namespace crmsync::server {

struct Principal {
  std::string tenant_id;
  std::string user_id;
  ::crmsync::v1::Role role = ::crmsync::v1::ROLE_UNSPECIFIED;
  // For sales reps: their team; for managers: the team they manage.
  std::string team_id;
  // For store terminals: the store they serve.
  std::string store_id;
  // The registered device making the call; empty for admin tools.
  std::string device_id;
  // For integrations: the entity types and channels it was granted.
  ::crmsync::v1::IntegrationRules integration{};
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_PRINCIPAL_H_
