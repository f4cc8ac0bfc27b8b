// The raw PostgreSQL baseline: the same lead rows upserted straight through
// libpqxx, with none of crm-syncd's work (no merge, no exactly-once log, no
// change feed, no server process in between).
#ifndef CRMSYNC_BENCH_E2E_RAW_POSTGRES_H_
#define CRMSYNC_BENCH_E2E_RAW_POSTGRES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace crmsync::bench::e2e {

// In the schema `conninfo` selects, upserts `records` leads (primary key +
// bytea payload of the serialized record) into a plain table, over one
// connection, one transaction per `batch` rows, two ways, each into a
// fresh table:
//   "multi_row": one INSERT ... VALUES (...), (...) ... ON CONFLICT per batch
//                (a prepared statement with a parameter per value);
//   "per_row":   one prepared INSERT ... ON CONFLICT per row.
// Result: {"multi_row": {"rows", "seconds", "per_second"}, "per_row": {...},
// "per_second": the multi-row figure, the baseline the ratios use}.
absl::StatusOr<nlohmann::json> RawUpsertBaseline(const std::string& conninfo, int64_t records,
                                                 int batch);

}  // namespace crmsync::bench::e2e

#endif  // CRMSYNC_BENCH_E2E_RAW_POSTGRES_H_
