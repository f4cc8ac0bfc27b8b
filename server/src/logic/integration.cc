#include "integration.h"

#include <set>

#include "absl/strings/ascii.h"
#include "crmsync/sync/entity_catalog.h"

namespace crmsync::server {

namespace v1 = ::crmsync::v1;

namespace {

std::string Lower(const std::string& enum_name, const std::string& prefix) {
  std::string s = enum_name.rfind(prefix, 0) == 0 ? enum_name.substr(prefix.size()) : enum_name;
  return absl::AsciiStrToLower(s);
}

}  // namespace

absl::Status ValidateIntegrationRules(const v1::IntegrationRules& rules) {
  if (rules.channels().empty()) {
    return absl::InvalidArgumentError(
        "an integration needs at least one channel grant (integration.channels: the channel "
        "its writes come through and the precision stamped on them)");
  }
  std::set<int> channels;
  for (const v1::ChannelGrant& g : rules.channels()) {
    if (!v1::Channel_IsValid(g.channel()) || g.channel() == v1::CHANNEL_UNSPECIFIED) {
      return absl::InvalidArgumentError("integration.channels: a grant names no known channel");
    }
    if (g.channel() == v1::CHANNEL_SYSTEM) {
      return absl::InvalidArgumentError(
          "integration.channels: CHANNEL_SYSTEM marks the server's own changes and cannot be "
          "granted");
    }
    if (!channels.insert(g.channel()).second) {
      return absl::InvalidArgumentError("integration.channels: " + v1::Channel_Name(g.channel()) +
                                        " is granted twice");
    }
    if (!v1::Precision_IsValid(g.precision()) || g.precision() == v1::PRECISION_UNSPECIFIED) {
      return absl::InvalidArgumentError("integration.channels: " + v1::Channel_Name(g.channel()) +
                                        " needs a precision (inferred, reported, self_reported "
                                        "or verified)");
    }
  }
  std::set<int> types;
  for (int type : rules.entity_types()) {
    if (sync::EntityCatalog::Default().Find(static_cast<v1::EntityType>(type)) == nullptr) {
      return absl::InvalidArgumentError("integration.entity_types: unknown entity type " +
                                        std::to_string(type));
    }
    if (!types.insert(type).second) {
      return absl::InvalidArgumentError(
          "integration.entity_types: " + v1::EntityType_Name(static_cast<v1::EntityType>(type)) +
          " is named twice");
    }
  }
  return absl::OkStatus();
}

absl::Status StampIntegrationWrite(const Principal& who, const v1::Mutation& m, v1::Mutation* out) {
  if (m.operation() == v1::OPERATION_MERGE || m.operation() == v1::OPERATION_RESOLVE_CONFLICT) {
    return absl::PermissionDeniedError(
        "merging records and settling conflicts are for people (a device or crmctl), not "
        "integrations");
  }
  const v1::ChannelGrant* grant = nullptr;
  const v1::Channel asked = m.provenance().channel();
  for (const v1::ChannelGrant& g : who.integration.channels()) {
    if (asked == v1::CHANNEL_UNSPECIFIED || g.channel() == asked) {
      grant = &g;
      break;
    }
  }
  if (grant == nullptr) {
    return absl::PermissionDeniedError(
        "this integration may not write through " + Lower(v1::Channel_Name(asked), "CHANNEL_") +
        (who.integration.channels().empty()
             ? "; it was granted no channel"
             : "; it was granted " + DescribeChannels(who.integration)));
  }
  *out = m;
  v1::Provenance* p = out->mutable_provenance();
  p->set_channel(grant->channel());
  p->set_precision(grant->precision());
  p->set_author_user_id(who.user_id);
  p->set_device_id(who.device_id);
  return absl::OkStatus();
}

std::string DescribeChannels(const v1::IntegrationRules& rules) {
  std::string out;
  for (const v1::ChannelGrant& g : rules.channels()) {
    if (!out.empty()) out += ",";
    out += Lower(v1::Channel_Name(g.channel()), "CHANNEL_") + "=" +
           Lower(v1::Precision_Name(g.precision()), "PRECISION_");
  }
  return out;
}

}  // namespace crmsync::server
