// The lead records every part of the end-to-end benchmark writes: the gRPC
// clients push them as create-lead mutations, the raw PostgreSQL baseline
// upserts the same rows.
#ifndef CRMSYNC_BENCH_E2E_LEADS_H_
#define CRMSYNC_BENCH_E2E_LEADS_H_

#include <cstdint>
#include <string>

#include "crmsync/v1/sync.pb.h"

namespace crmsync::bench::e2e {

namespace v1 = ::crmsync::v1;

// Protocol version the benchmark clients speak.
inline constexpr uint32_t kProtocolVersion = 1;

// Id of lead `index` of a series ("lead-<series>-<index>").
std::string LeadId(const std::string& series, int64_t index);

// A create-lead mutation with every field a rep types (names, company,
// e-mail, phone, status) and the owner's scope keys, as one device's
// `client_seq`-th mutation. `now_ms` stamps the hybrid logical clock.
v1::Mutation LeadCreate(const std::string& series, int64_t index, const std::string& owner_user_id,
                        const std::string& team_id, const std::string& device_id,
                        int64_t client_seq, int64_t now_ms);

// ClientInfo of every benchmark request.
void SetClientInfo(v1::ClientInfo* client);

}  // namespace crmsync::bench::e2e

#endif  // CRMSYNC_BENCH_E2E_LEADS_H_
