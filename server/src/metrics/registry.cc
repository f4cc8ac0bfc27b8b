#include "registry.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace crmsync::server {
namespace {

std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string FormatLabels(const Labels& labels, const std::string& extra_key = "",
                         const std::string& extra_value = "") {
  if (labels.empty() && extra_key.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    out += (first ? "" : ",") + k + "=\"" + Escape(v) + "\"";
    first = false;
  }
  if (!extra_key.empty()) out += (first ? "" : ",") + extra_key + "=\"" + extra_value + "\"";
  return out + "}";
}

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::ostringstream s;
  s.precision(15);
  s << v;
  return s.str();
}

}  // namespace

std::vector<double> MetricsRegistry::LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> MetricsRegistry::SizeBuckets() {
  return {1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 100000};
}

MetricsRegistry::Family& MetricsRegistry::GetFamily(const std::string& name, Kind kind) {
  auto it = families_.find(name);
  if (it != families_.end()) return it->second;
  Family& f = families_[name];
  f.kind = kind;
  f.help = name;
  if (kind == Kind::kHistogram) f.buckets = LatencyBuckets();
  return f;
}

void MetricsRegistry::DeclareCounter(const std::string& name, const std::string& help) {
  absl::MutexLock lock(&mu_);
  GetFamily(name, Kind::kCounter).help = help;
}

void MetricsRegistry::DeclareGauge(const std::string& name, const std::string& help) {
  absl::MutexLock lock(&mu_);
  GetFamily(name, Kind::kGauge).help = help;
}

void MetricsRegistry::DeclareHistogram(const std::string& name, const std::string& help,
                                       std::vector<double> buckets) {
  absl::MutexLock lock(&mu_);
  Family& f = GetFamily(name, Kind::kHistogram);
  f.help = help;
  std::sort(buckets.begin(), buckets.end());
  f.buckets = std::move(buckets);
}

void MetricsRegistry::DeclareCallbackGauge(const std::string& name, const std::string& help,
                                           std::function<double()> value, const Labels& labels) {
  absl::MutexLock lock(&mu_);
  Family& f = GetFamily(name, Kind::kGauge);
  f.help = help;
  f.callbacks.emplace_back(labels, std::move(value));
}

void MetricsRegistry::DeclareCallbackCounter(const std::string& name, const std::string& help,
                                             std::function<double()> value) {
  absl::MutexLock lock(&mu_);
  Family& f = GetFamily(name, Kind::kCounter);
  f.help = help;
  f.callbacks.emplace_back(Labels{}, std::move(value));
}

void MetricsRegistry::Increment(const std::string& name, const Labels& labels, double delta) {
  absl::MutexLock lock(&mu_);
  GetFamily(name, Kind::kCounter).values[labels] += delta;
}

void MetricsRegistry::Set(const std::string& name, const Labels& labels, double value) {
  absl::MutexLock lock(&mu_);
  GetFamily(name, Kind::kGauge).values[labels] = value;
}

void MetricsRegistry::Observe(const std::string& name, const Labels& labels, double value) {
  absl::MutexLock lock(&mu_);
  Family& f = GetFamily(name, Kind::kHistogram);
  Histogram& h = f.histograms[labels];
  if (h.counts.empty()) h.counts.assign(f.buckets.size() + 1, 0);
  size_t i = std::lower_bound(f.buckets.begin(), f.buckets.end(), value) - f.buckets.begin();
  h.counts[i] += 1;
  h.sum += value;
  h.count += 1;
}

double MetricsRegistry::Value(const std::string& name, const Labels& labels) {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  for (const auto& [series, callback] : it->second.callbacks) {
    if (series == labels) return callback();
  }
  auto v = it->second.values.find(labels);
  return v == it->second.values.end() ? 0 : v->second;
}

std::string MetricsRegistry::Render() {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.kind == Kind::kCounter ? "counter"
                       : f.kind == Kind::kGauge ? "gauge"
                                                : "histogram";
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [labels, callback] : f.callbacks) {
      out += name + FormatLabels(labels) + " " + Number(callback()) + "\n";
    }
    for (const auto& [labels, v] : f.values)
      out += name + FormatLabels(labels) + " " + Number(v) + "\n";
    for (const auto& [labels, h] : f.histograms) {
      double cumulative = 0;
      for (size_t i = 0; i < f.buckets.size(); ++i) {
        cumulative += h.counts[i];
        out += name + "_bucket" + FormatLabels(labels, "le", Number(f.buckets[i])) + " " +
               Number(cumulative) + "\n";
      }
      out += name + "_bucket" + FormatLabels(labels, "le", "+Inf") + " " + Number(h.count) + "\n";
      out += name + "_sum" + FormatLabels(labels) + " " + Number(h.sum) + "\n";
      out += name + "_count" + FormatLabels(labels) + " " + Number(h.count) + "\n";
    }
  }
  return out;
}

}  // namespace crmsync::server
