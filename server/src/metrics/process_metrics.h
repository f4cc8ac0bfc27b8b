// The process_* metrics of the Prometheus client conventions, read from
// /proc/self at scrape time: CPU time, resident and virtual memory, open
// and maximum file descriptors, start time (Unix seconds).
#ifndef CRMSYNC_SERVER_METRICS_PROCESS_METRICS_H_
#define CRMSYNC_SERVER_METRICS_PROCESS_METRICS_H_

#include "registry.h"

namespace crmsync::server {

// Declares process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds on `registry`. The callbacks hold no
// pointers.
void DeclareProcessMetrics(MetricsRegistry* registry);

// What the callbacks read, for tests. Fields are -1 when unreadable.
struct ProcessSample {
  double cpu_seconds = -1;
  double resident_bytes = -1;
  double virtual_bytes = -1;
  double open_fds = -1;
  double max_fds = -1;
  double start_time_seconds = -1;
};
ProcessSample SampleProcess();

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_METRICS_PROCESS_METRICS_H_
