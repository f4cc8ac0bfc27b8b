#include "line_protocol.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

namespace crmsync::bench::e2e {

void Emit(const nlohmann::json& message) { std::cout << message.dump() << std::endl; }

int Fail(const std::string& text) {
  Emit(nlohmann::json{{"error", text}});
  return 1;
}

std::string ReadCommand() {
  std::string line;
  if (!std::getline(std::cin, line)) return "";
  return line;
}

int64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

double Seconds(std::chrono::steady_clock::time_point from,
               std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

nlohmann::json Percentiles(std::vector<double> values) {
  if (values.empty()) return {{"n", 0}};
  std::sort(values.begin(), values.end());
  auto at = [&](double p) {
    size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(values.size())));
    return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
  };
  double sum = 0;
  for (double v : values) sum += v;
  return {{"n", values.size()},   {"p50", at(0.50)},
          {"p90", at(0.90)},      {"p99", at(0.99)},
          {"max", values.back()}, {"mean", sum / static_cast<double>(values.size())}};
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace crmsync::bench::e2e
