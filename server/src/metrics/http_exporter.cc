#include "http_exporter.h"

#include <httplib.h>

namespace crmsync::server {

MetricsHttpExporter::MetricsHttpExporter(MetricsRegistry* registry, std::function<bool()> healthy)
    : registry_(registry), healthy_(std::move(healthy)) {}

MetricsHttpExporter::~MetricsHttpExporter() { Stop(); }

absl::Status MetricsHttpExporter::Start(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError("--metrics-listen must be host:port, got '" + listen + "'");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = std::atoi(listen.c_str() + colon + 1);
  server_ = std::make_unique<httplib::Server>();
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry_->Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    if (healthy_()) {
      res.set_content("ok\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("store unreachable\n", "text/plain");
    }
  });
  port_ =
      port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (port_ <= 0) {
    server_.reset();
    return absl::UnavailableError("cannot listen for metrics on " + listen);
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

void MetricsHttpExporter::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace crmsync::server
