#include "app.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "demo_tenant.h"
#include "metrics/grpc_interceptor.h"
#include "notify/pg_notifier.h"

namespace crmsync::server {

SyncdApp::SyncdApp(ServerConfig config) : config_(std::move(config)) {}

SyncdApp::~SyncdApp() {
  // Order matters: the server first (no more calls), then the service
  // (streams), then the pool (queued work), then handlers and the store.
  grpc_.reset();
  exporter_.reset();
  sync_service_.reset();
  pool_.reset();
}

absl::Status SyncdApp::Start() {
  auto store = OpenStore(config_.store);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  if (auto s = store_->Migrate(); !s.ok()) return s;
  spdlog::info("store {} ready", store_->Kind());

  policies_ = sync::PolicyTable::Defaults();
  if (!config_.policy_file.empty()) {
    std::ifstream in(config_.policy_file);
    if (!in) return absl::NotFoundError("cannot read --policy-file " + config_.policy_file);
    std::ostringstream text;
    text << in.rdbuf();
    auto parsed = sync::PolicyTable::Parse(text.str());
    if (!parsed.ok()) {
      return absl::InvalidArgumentError("--policy-file " + config_.policy_file + ": " +
                                        parsed.status().message());
    }
    policies_ = std::move(parsed.value());
  }

  if (config_.store_spec.kind == StoreSpec::Kind::kPostgres) {
    notifier_ = std::make_unique<PostgresNotifier>(config_.store_spec.target);
  } else {
    notifier_ = std::make_unique<InProcessNotifier>();
  }
  if (config_.dev_identity) {
    spdlog::warn("trusting x-crmsync-dev-* identity metadata (--dev-identity): development only");
    auth_ = std::make_unique<DevHeaderAuthenticator>(store_.get(), &clock_);
  } else {
    auth_ = std::make_unique<RefuseAllAuthenticator>();
  }
  PushOptions push_options;
  push_options.max_batch = config_.max_batch;
  push_options.reassignment_grace_ms = int64_t{config_.reassignment_grace_hours} * 3600 * 1000;
  ChangeNotifier* notifier = notifier_.get();
  push_ = std::make_unique<PushHandler>(
      store_.get(), &policies_, &clock_, push_options,
      [notifier](const std::string& tenant, int64_t seq) { notifier->Publish(tenant, seq); });
  pull_ = std::make_unique<PullHandler>(store_.get(), &clock_, PullOptions{});

  if (config_.demo_tenant) {
    if (auto s = EnsureDemoTenant(store_.get(), push_.get(), &clock_); !s.ok()) return s;
  }

  // Metrics count served traffic (after the demo seed).
  push_->set_metrics(&metrics_);
  pull_->set_metrics(&metrics_);

  pool_ = std::make_unique<WorkerPool>(config_.worker_threads, config_.worker_threads * 64);
  SyncServiceOptions sync_options;
  sync_options.heartbeat_interval = std::chrono::seconds(config_.heartbeat_seconds);
  sync_service_ = std::make_unique<SyncServiceImpl>(auth_.get(), push_.get(), pull_.get(),
                                                    notifier_.get(), pool_.get(), sync_options);
  DeclareMetrics();
  if (!config_.metrics_listen.empty()) {
    exporter_ = std::make_unique<MetricsHttpExporter>(&metrics_);
    if (auto s = exporter_->Start(config_.metrics_listen); !s.ok()) return s;
    spdlog::info("metrics on http://{}/metrics (port {})", config_.metrics_listen,
                 exporter_->port());
  }
  grpc_ = std::make_unique<GrpcServer>(config_);
  grpc_->AddService(sync_service_.get());
  grpc_->AddInterceptor(std::make_unique<MetricsInterceptorFactory>(&metrics_));
  return grpc_->Start();
}

void SyncdApp::DeclareMetrics() {
  const auto sizes = MetricsRegistry::SizeBuckets();
  metrics_.DeclareCounter("crmsync_rpc_total", "RPCs finished, by method and status code");
  metrics_.DeclareHistogram("crmsync_rpc_duration_seconds", "Unary RPC latency by method",
                            MetricsRegistry::LatencyBuckets());
  metrics_.DeclareCounter("crmsync_pushes_total", "Push batches committed");
  metrics_.DeclareHistogram("crmsync_push_batch_size", "Mutations per committed Push", sizes);
  metrics_.DeclareCounter("crmsync_mutations_total", "Pushed mutations by outcome");
  metrics_.DeclareCounter("crmsync_conflicts_total", "Conflicts detected, by field policy");
  metrics_.DeclareCounter("crmsync_pulls_total", "Pull pages served");
  metrics_.DeclareHistogram("crmsync_pull_changes", "Changes per Pull page", sizes);
  metrics_.DeclareHistogram("crmsync_pull_scanned_rows", "Feed rows examined per Pull page",
                            sizes);
  metrics_.DeclareHistogram("crmsync_device_lag_changes",
                            "How many changes behind a device was when it caught up", sizes);
  metrics_.DeclareHistogram("crmsync_store_write_seconds", "Push transaction time",
                            MetricsRegistry::LatencyBuckets());
  metrics_.DeclareHistogram("crmsync_store_read_seconds", "Change-feed read time",
                            MetricsRegistry::LatencyBuckets());
  SyncServiceImpl* sync = sync_service_.get();
  metrics_.DeclareCallbackGauge("crmsync_subscribers", "Open Subscribe streams",
                                [sync] { return static_cast<double>(sync->active_streams()); });
  const auto started = std::chrono::steady_clock::now();
  metrics_.DeclareCallbackGauge("crmsync_uptime_seconds", "Seconds since start", [started] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  });
}

void SyncdApp::Shutdown(std::chrono::system_clock::time_point deadline) {
  if (sync_service_) sync_service_->EndStreams();
  if (grpc_) grpc_->Shutdown(deadline);
}

void SyncdApp::Wait() {
  if (grpc_) grpc_->Wait();
}

}  // namespace crmsync::server
