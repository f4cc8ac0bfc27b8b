// The end-to-end results as a Markdown table: each figure on SQLite and
// PostgreSQL, the raw PostgreSQL baseline, the ratio to it, the issue's
// target and whether it is met; then a table of supporting detail.
#ifndef CRMSYNC_BENCH_E2E_E2E_REPORT_H_
#define CRMSYNC_BENCH_E2E_E2E_REPORT_H_

#include <string>

#include "nlohmann/json.hpp"

namespace crmsync::bench::e2e {

// `results`: what bench_e2e writes with --out ({"config", "raw_postgres",
// "stores": {"sqlite", "postgres"}, ...}).
std::string RenderMarkdown(const nlohmann::json& results);

}  // namespace crmsync::bench::e2e

#endif  // CRMSYNC_BENCH_E2E_E2E_REPORT_H_
