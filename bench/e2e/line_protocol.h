// The client side of ChildProcess's protocol: one JSON object per line on
// stdout, command lines on stdin. Also small helpers every client needs.
#ifndef CRMSYNC_BENCH_E2E_LINE_PROTOCOL_H_
#define CRMSYNC_BENCH_E2E_LINE_PROTOCOL_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace crmsync::bench::e2e {

// Prints `message` as one line on stdout and flushes.
void Emit(const nlohmann::json& message);
// Prints {"error": text} (the orchestrator stops the phase); returns 1, the
// exit code of a failed client.
int Fail(const std::string& text);
// Reads the next command line from stdin; "" at end of file.
std::string ReadCommand();

// Nanoseconds of CLOCK_MONOTONIC: comparable between processes of one
// machine, so concurrent clients can be put on one time line.
int64_t MonotonicNs();

// Seconds between two steady_clock points.
double Seconds(std::chrono::steady_clock::time_point from,
               std::chrono::steady_clock::time_point to);

// {"p50", "p90", "p99", "max", "mean", "n"} of `values` (nearest-rank
// percentiles); {"n": 0} when empty.
nlohmann::json Percentiles(std::vector<double> values);

// The contents of a file ("" when it cannot be read).
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace crmsync::bench::e2e

#endif  // CRMSYNC_BENCH_E2E_LINE_PROTOCOL_H_
