// The composition root of crm-syncd: opens the store, builds handlers and
// services, serves, and shuts everything down in order.
#ifndef CRMSYNC_SERVER_APP_H_
#define CRMSYNC_SERVER_APP_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "admin/admin_handler.h"
#include "auth/audit_log.h"
#include "auth/auth_handler.h"
#include "auth/crypto.h"
#include "auth/token.h"
#include "config.h"
#include "crmsync/sync/policy_table.h"
#include "grpc_server.h"
#include "instance_lock.h"
#include "logic/authenticator.h"
#include "logic/clock.h"
#include "logic/notifier.h"
#include "logic/pull_handler.h"
#include "logic/push_handler.h"
#include "logic/rate_limiter.h"
#include "metrics/http_exporter.h"
#include "metrics/registry.h"
#include "rpc/admin_service.h"
#include "rpc/auth_service.h"
#include "rpc/sync_service.h"
#include "rpc/worker_pool.h"
#include "store/store.h"
#include "store_health.h"

namespace crmsync::server {

class SyncdApp {
 public:
  explicit SyncdApp(ServerConfig config);
  ~SyncdApp();

  // Opens and migrates the store, seeds the demo tenant if asked, starts
  // serving. Not thread-safe.
  absl::Status Start();
  int bound_port() const { return grpc_ ? grpc_->bound_port() : 0; }
  int metrics_port() const { return exporter_ ? exporter_->port() : 0; }
  // SIGHUP: applies what can change while serving — log level, conflict
  // policies (--policy-file), TLS certificate, key and client CA — from a
  // freshly parsed configuration, logging each; a part that fails to load
  // keeps its previous setting. Settings that need a restart are named in
  // a warning. Call from one thread at a time, after Start().
  void Reload(const ServerConfig& fresh);
  // Ends streams, stops accepting calls, lets in-flight calls finish until
  // `deadline`. Thread-safe; idempotent.
  void Shutdown(std::chrono::system_clock::time_point deadline);
  void Wait();

 private:
  void DeclareMetrics();
  // Runs `run` for every tenant each `interval` until the app stops.
  void EveryTenantEvery(std::chrono::seconds interval, const char* job,
                        const std::function<void(const TenantRow&)>& run);
  // Waits up to `interval`; true once the app is stopping.
  bool WaitForStop(std::chrono::seconds interval);
  // Prunes every tenant's history each --prune-interval-minutes.
  void PruneLoop();
  // Takes expired coupons out of terminal scope (logic/coupon_index.h).
  void CouponSweepLoop();
  // Every second: reports what this instance's rate limiter let devices
  // take, and charges what the other instances reported (PostgreSQL only).
  void RateShareLoop();

  ServerConfig config_;
  SystemClock clock_;
  MetricsRegistry metrics_;
  TenantTraffic traffic_;
  std::unique_ptr<MetricsHttpExporter> exporter_;
  // Declared before store_ so that it is released after the store closes.
  InstanceLock instance_lock_;
  std::unique_ptr<Store> store_;
  sync::PolicyTable policies_;
  std::unique_ptr<ChangeNotifier> notifier_;
  // Authentication (SetUpAuth): sync calls need a device-bound token; auth
  // and admin calls accept device-less tokens. With --dev-identity, calls
  // without a token fall back to the development identity.
  absl::Status SetUpAuth();
  auth::OpenSslRandom random_;
  std::unique_ptr<auth::TokenKeyRing> token_keys_;
  std::unique_ptr<auth::AuditLog> audit_;
  std::unique_ptr<auth::AuthHandler> auth_handler_;
  std::unique_ptr<Authenticator> dev_auth_;
  std::unique_ptr<Authenticator> api_token_auth_;
  std::unique_ptr<RateLimiter> rate_limiter_;
  std::unique_ptr<Authenticator> sync_token_auth_;
  std::unique_ptr<Authenticator> api_rate_auth_;
  Authenticator* api_auth_ = nullptr;
  std::unique_ptr<AdminHandler> admin_;
  std::unique_ptr<AuthServiceImpl> auth_service_;
  std::unique_ptr<AdminServiceImpl> admin_service_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<PushHandler> push_;
  std::unique_ptr<PullHandler> pull_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<SyncServiceImpl> sync_service_;
  std::unique_ptr<GrpcServer> grpc_;
  // After grpc_ (destroyed first: its callback uses grpc_).
  std::unique_ptr<StoreHealth> health_;
  std::atomic<bool> store_up_{true};
  absl::Mutex prune_mu_;
  bool stopping_ ABSL_GUARDED_BY(prune_mu_) = false;
  std::thread prune_thread_;
  std::thread sweep_thread_;
  std::thread rate_share_thread_;
  // host:pid:random, unique per process (reports of request-rate usage).
  std::string instance_id_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_APP_H_
