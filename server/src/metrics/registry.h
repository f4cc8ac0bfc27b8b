// A small metrics registry with Prometheus text exposition (format 0.0.4):
// counters, gauges and histograms, each a family with label values.
// Thread-safe: families and series may be created and updated from any
// thread; Render() takes a consistent-enough snapshot for scraping.
#ifndef CRMSYNC_SERVER_METRICS_REGISTRY_H_
#define CRMSYNC_SERVER_METRICS_REGISTRY_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace crmsync::server {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsRegistry {
 public:
  // Adds `delta` (>= 0) to a counter series.
  void Increment(const std::string& name, const Labels& labels = {}, double delta = 1);
  // Sets a gauge series.
  void Set(const std::string& name, const Labels& labels, double value);
  // Records one observation in a histogram series.
  void Observe(const std::string& name, const Labels& labels, double value);

  // Declares a family with its help text and, for histograms, bucket upper
  // bounds. Undeclared names used above are counters/gauges/histograms with
  // default help and buckets. Call at start-up.
  void DeclareCounter(const std::string& name, const std::string& help);
  void DeclareGauge(const std::string& name, const std::string& help);
  void DeclareHistogram(const std::string& name, const std::string& help,
                        std::vector<double> buckets);
  // A gauge computed at scrape time. Several calls with the same name and
  // different labels make one family of several series.
  void DeclareCallbackGauge(const std::string& name, const std::string& help,
                            std::function<double()> value, const Labels& labels = {});
  // A counter read at scrape time from a source that only grows (e.g. the
  // CPU time the kernel accounts).
  void DeclareCallbackCounter(const std::string& name, const std::string& help,
                              std::function<double()> value);

  // The whole registry in Prometheus text format.
  std::string Render();

  // Current value of a counter or gauge series (0 if absent); for tests and
  // GetStats.
  double Value(const std::string& name, const Labels& labels = {});

  static std::vector<double> LatencyBuckets();  // 0.5 ms .. 10 s
  static std::vector<double> SizeBuckets();     // 1 .. 100k

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Histogram {
    std::vector<double> counts;  // per bucket (non-cumulative), +Inf last
    double sum = 0;
    uint64_t count = 0;
  };
  struct Family {
    Kind kind;
    std::string help;
    std::vector<double> buckets;
    std::map<Labels, double> values;
    std::map<Labels, Histogram> histograms;
    std::vector<std::pair<Labels, std::function<double()>>> callbacks;
  };
  Family& GetFamily(const std::string& name, Kind kind) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_METRICS_REGISTRY_H_
