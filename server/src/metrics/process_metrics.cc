#include "process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace crmsync::server {
namespace {

// The fields of /proc/self/stat after the command name (which may contain
// spaces and parentheses, so parsing starts after the last ')').
std::vector<std::string> StatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  const size_t close = line.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos) return fields;
  std::istringstream rest(line.substr(close + 1));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;  // fields[0] is field 3 (state) of proc(5)
}

double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double v = -1;
      in >> v;
      return v;
    }
    in.ignore(1 << 20, '\n');
  }
  return -1;
}

}  // namespace

ProcessSample SampleProcess() {
  ProcessSample s;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const std::vector<std::string> f = StatFields();
  // proc(5): utime (14), stime (15), starttime (22), vsize (23), rss (24);
  // f[i] is field i + 3.
  if (f.size() > 21 && ticks > 0) {
    s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
    const double boot = BootTimeSeconds();
    if (boot >= 0) s.start_time_seconds = boot + std::stod(f[19]) / ticks;
    s.virtual_bytes = std::stod(f[20]);
    s.resident_bytes = std::stod(f[21]) * static_cast<double>(sysconf(_SC_PAGESIZE));
  }
  std::error_code ec;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  // The directory iterator holds one descriptor of its own while counting.
  if (!ec) s.open_fds = fds > 0 ? fds - 1 : 0;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    s.max_fds = limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(limit.rlim_cur);
  }
  return s;
}

void DeclareProcessMetrics(MetricsRegistry* registry) {
  registry->DeclareCallbackCounter("process_cpu_seconds_total",
                                   "User and system CPU time spent, in seconds",
                                   [] { return SampleProcess().cpu_seconds; });
  registry->DeclareCallbackGauge("process_resident_memory_bytes", "Resident memory size in bytes",
                                 [] { return SampleProcess().resident_bytes; });
  registry->DeclareCallbackGauge("process_virtual_memory_bytes", "Virtual memory size in bytes",
                                 [] { return SampleProcess().virtual_bytes; });
  registry->DeclareCallbackGauge("process_open_fds", "Open file descriptors",
                                 [] { return SampleProcess().open_fds; });
  registry->DeclareCallbackGauge("process_max_fds", "Limit of open file descriptors",
                                 [] { return SampleProcess().max_fds; });
  const double start = SampleProcess().start_time_seconds;
  registry->DeclareCallbackGauge("process_start_time_seconds",
                                 "Start time of the process since the Unix epoch, in seconds",
                                 [start] { return start; });
}

}  // namespace crmsync::server
