#include "leads.h"

namespace crmsync::bench::e2e {

std::string LeadId(const std::string& series, int64_t index) {
  return "lead-" + series + "-" + std::to_string(index);
}

v1::Mutation LeadCreate(const std::string& series, int64_t index, const std::string& owner_user_id,
                        const std::string& team_id, const std::string& device_id,
                        int64_t client_seq, int64_t now_ms) {
  const std::string n = std::to_string(index);
  v1::Mutation m;
  m.set_client_seq(client_seq);
  m.mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  m.mutable_record()->set_id(LeadId(series, index));
  m.set_operation(v1::OPERATION_UPSERT);
  v1::Lead* lead = m.mutable_values()->mutable_lead();
  lead->set_id(m.record().id());
  // A different person per series and index: the server flags leads of one
  // person as likely duplicates, which is not the workload measured here.
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : series + "/" + n) h = (h ^ c) * 1099511628211ULL;
  lead->set_first_name("First" + n);
  lead->set_last_name("Last" + n + "-" + series);
  lead->set_company("Company " + std::to_string(index % 997));
  lead->set_email("lead" + n + "." + series + "@example.com");
  lead->set_phone("+44 7" + std::to_string(100'000'000 + h % 900'000'000));
  lead->set_status(v1::LEAD_STATUS_NEW);
  lead->set_owner_user_id(owner_user_id);
  lead->set_team_id(team_id);
  lead->set_visibility(v1::VISIBILITY_PRIVATE);
  for (const char* f : {"id", "first_name", "last_name", "company", "email", "phone", "status",
                        "owner_user_id", "team_id", "visibility"}) {
    m.mutable_update_mask()->add_paths(f);
  }
  m.mutable_hlc()->set_wall_time_ms(now_ms);
  m.mutable_hlc()->set_logical(static_cast<uint32_t>(client_seq));
  m.mutable_hlc()->set_node_id(device_id);
  m.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
  m.mutable_provenance()->set_author_user_id(owner_user_id);
  m.mutable_provenance()->set_device_id(device_id);
  return m;
}

void SetClientInfo(v1::ClientInfo* client) {
  client->set_protocol_version(kProtocolVersion);
  client->set_sdk_version("crmsync-bench-e2e/1");
  client->set_platform("linux");
}

}  // namespace crmsync::bench::e2e
