// The invariants crash and network-fault tests check once the dust has
// settled: nothing a device committed is lost or applied twice on the
// server, and every replica equals the server's records in its scope.
//
// The server is read two ways: through the public API (a Pull bootstrap as
// the device's user, on a reader device of its own) and, for the
// exactly-once log, straight from PostgreSQL (table applied_mutations and
// the tenant's sequence in tenant_seq). Replicas are read by opening the
// device's store file with the SDK; its crm-device process must not run.
#ifndef CRMSYNC_TESTS_INTEGRATION_FAULT_CHECKS_H_
#define CRMSYNC_TESTS_INTEGRATION_FAULT_CHECKS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "crmsync/v1/sync.pb.h"

namespace crmsync::testing {

namespace v1 = ::crmsync::v1;

// Records keyed "TYPE/id" (e.g. "ENTITY_TYPE_LEAD/alice-1-r3").
using RecordMap = std::map<std::string, v1::RecordState>;
std::string RecordKey(const v1::RecordRef& ref);

// The live records `user` may see, from a Pull bootstrap through `address`
// as device `reader_device` (development identity, tenant "demo").
absl::StatusOr<RecordMap> ReadServerScope(const std::string& address, const std::string& user,
                                          const std::string& reader_device);

// The live records of a device's store (server replica plus pending edits,
// which are none after a final sync). Opens and closes the file.
absl::StatusOr<RecordMap> ReadReplica(const std::string& db, const std::string& key);

// One line per difference between a replica and the server's view
// (missing, extra, other version, other values); empty when equal.
std::vector<std::string> CompareReplica(const std::string& device, const RecordMap& server,
                                        const RecordMap& replica);

// The exactly-once log of one device in PostgreSQL (`conninfo` selects the
// schema), by client_seq.
absl::StatusOr<std::map<int64_t, v1::MutationResult>> ReadAppliedLog(const std::string& conninfo,
                                                                     const std::string& tenant_id,
                                                                     const std::string& device_id);
// The device's applied floor (docs/storage.md, "Bounded storage"): its
// results at or below it were acknowledged by the device and deleted; 0 if
// none.
absl::StatusOr<int64_t> ReadAppliedFloor(const std::string& conninfo, const std::string& tenant_id,
                                         const std::string& device_id);
// How many of the device's mutations the server has processed: every
// client_seq at or below its floor plus the results stored above it; -1 if
// the database cannot be read.
int64_t CountProcessed(const std::string& conninfo, const std::string& tenant_id,
                       const std::string& device_id);
// The tenant's change sequence (one step per applied change).
absl::StatusOr<int64_t> ReadTenantSeq(const std::string& conninfo, const std::string& tenant_id);

// When the tenant's sequence grew more than the mutations explain: every
// change sequence after `seq_before` that is no stored mutation's
// change_seq, with the record that now carries it (if any). For failure
// messages.
std::vector<std::string> ExplainSeqGrowth(const std::string& conninfo, const std::string& tenant_id,
                                          int64_t seq_before);

// One line per violation: the server must hold exactly client_seqs
// 1..committed for the device (a gap = a lost edit, more = an edit the
// device never committed), each APPLIED, each with its own change_seq.
// Those at or below `floor` (ReadAppliedFloor) were acknowledged by the
// device and deleted: they must be absent.
std::vector<std::string> CheckExactlyOnce(const std::string& device,
                                          const std::map<int64_t, v1::MutationResult>& log,
                                          int64_t committed, int64_t floor = 0);

}  // namespace crmsync::testing

#endif  // CRMSYNC_TESTS_INTEGRATION_FAULT_CHECKS_H_
