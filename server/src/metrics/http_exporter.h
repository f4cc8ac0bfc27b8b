// Serves GET /metrics (Prometheus text) over plain HTTP on its own port.
// Bind it to loopback or a private interface: it carries no customer data,
// but it is unauthenticated.
#ifndef CRMSYNC_SERVER_METRICS_HTTP_EXPORTER_H_
#define CRMSYNC_SERVER_METRICS_HTTP_EXPORTER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "registry.h"

namespace httplib {
class Server;
}

namespace crmsync::server {

class MetricsHttpExporter {
 public:
  // `registry` must outlive the exporter. /healthz answers 200 "ok" while
  // `healthy()` is true, else 503 (called on the HTTP thread).
  MetricsHttpExporter(MetricsRegistry* registry, std::function<bool()> healthy);
  ~MetricsHttpExporter();  // stops serving

  // Binds host:port (port 0 = any) and serves on a thread of its own.
  absl::Status Start(const std::string& listen);
  int port() const { return port_; }
  void Stop();

 private:
  MetricsRegistry* registry_;
  std::function<bool()> healthy_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_METRICS_HTTP_EXPORTER_H_
