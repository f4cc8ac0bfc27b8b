#include "app.h"

#include <malloc.h>
#include <unistd.h>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "absl/time/time.h"
#include "auth/demo_credentials.h"
#include "auth/token_authenticator.h"
#include "crmsync/build_info.h"
#include "demo_tenant.h"
#include "logic/coupon_index.h"
#include "logic/duplicates.h"
#include "logic/pruner.h"
#include "logic/references.h"
#include "metrics/grpc_interceptor.h"
#include "metrics/process_metrics.h"
#include "notify/pg_notifier.h"

namespace crmsync::server {

namespace {

// The default policies, with the rules of `path` (when set) applied.
absl::StatusOr<sync::PolicyTable> LoadPolicies(const std::string& path) {
  if (path.empty()) return sync::PolicyTable::Defaults();
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read --policy-file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  auto parsed = sync::PolicyTable::Parse(text.str());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError("--policy-file " + path + ": " +
                                      std::string(parsed.status().message()));
  }
  return std::move(parsed.value());
}

auth::PasswordParams PasswordParamsOf(const ServerConfig& config) {
  auth::PasswordParams params;
  params.memory_kib = static_cast<uint32_t>(config.password_memory_kib);
  params.passes = static_cast<uint32_t>(config.password_passes);
  return params;
}

}  // namespace

SyncdApp::SyncdApp(ServerConfig config) : config_(std::move(config)) {}

SyncdApp::~SyncdApp() {
  {
    absl::MutexLock lock(&prune_mu_);
    stopping_ = true;
  }
  health_.reset();
  if (prune_thread_.joinable()) prune_thread_.join();
  if (sweep_thread_.joinable()) sweep_thread_.join();
  if (rate_share_thread_.joinable()) rate_share_thread_.join();
  // Order matters: the server first (no more calls), then the service
  // (streams), then the pool (queued work), then handlers and the store.
  grpc_.reset();
  exporter_.reset();
  sync_service_.reset();
  auth_service_.reset();
  admin_service_.reset();
  pool_.reset();
}

absl::Status SyncdApp::Start() {
  auto store = OpenStore(config_.store_spec);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  store_->changes().SetFieldHistoryDepth(config_.field_history_depth);
  if (config_.store_spec.kind == StoreSpec::Kind::kSqlite) {
    if (auto s = instance_lock_.Acquire(config_.store_spec.target); !s.ok()) return s;
    WarnIfStoreFileIsShared(config_.store_spec.target);
  }
  if (auto s = store_->Migrate(); !s.ok()) return s;
  spdlog::info("store {} ready", store_->Kind());

  auto policies = LoadPolicies(config_.policy_file);
  if (!policies.ok()) return policies.status();
  policies_ = std::move(*policies);

  if (config_.store_spec.kind == StoreSpec::Kind::kPostgres) {
    notifier_ = std::make_unique<PostgresNotifier>(config_.store_spec.target);
  } else {
    notifier_ = std::make_unique<InProcessNotifier>();
  }
  if (auto s = SetUpAuth(); !s.ok()) return s;
  PushOptions push_options;
  push_options.max_batch = config_.max_batch;
  push_options.reassignment_grace_ms = int64_t{config_.reassignment_grace_hours} * 3600 * 1000;
  push_options.retention_ms = int64_t{config_.retention_hours} * 3600 * 1000;
  push_options.duplicates.enabled = config_.duplicate_check;
  push_options.duplicates.threshold = config_.duplicate_threshold;
  push_options.duplicates.name_similarity = config_.duplicate_name_similarity;
  push_options.duplicates.default_region = config_.phone_region;
  ChangeNotifier* notifier = notifier_.get();
  push_ = std::make_unique<PushHandler>(
      &store_->changes(), &store_->directory(), &store_->audit(), &policies_, &clock_, push_options,
      [notifier](const std::string& tenant, int64_t seq) { notifier->Publish(tenant, seq); });
  pull_ = std::make_unique<PullHandler>(&store_->changes(), &store_->directory(), &clock_,
                                        PullOptions{});

  for (int n = 1; config_.demo_tenant && n <= config_.demo_tenant_count; ++n) {
    if (auto s = EnsureDemoTenant(store_.get(), push_.get(), &clock_, n); !s.ok()) return s;
    if (auto s = auth::EnsureDemoCredentials(store_.get(), &clock_, &random_,
                                             PasswordParamsOf(config_), DemoTenantSlug(n));
        !s.ok()) {
      return s;
    }
  }

  // Records written before the record index existed.
  if (auto tenants = store_->directory().ListTenants(); tenants.ok()) {
    for (const TenantRow& t : *tenants) {
      if (auto s = EnsureCouponIndex(&store_->changes(), t.id); !s.ok()) return s;
      // Activities, events, opportunities and contacts written before the
      // reference index (merges and timelines read it).
      if (auto s = EnsureReferenceIndex(&store_->changes(), t.id); !s.ok()) return s;
      // Leads, contacts and accounts indexed before the keys of a name with
      // a company or an address.
      if (auto s = EnsureDuplicateIndex(&store_->changes(), t.id, push_options.duplicates);
          !s.ok()) {
        return s;
      }
    }
  } else {
    return tenants.status();
  }

  // Metrics count served traffic (after the demo seed).
  push_->set_metrics(&metrics_);
  pull_->set_metrics(&metrics_);
  push_->set_traffic(&traffic_);
  pull_->set_traffic(&traffic_);

  pool_ = std::make_unique<WorkerPool>(config_.worker_threads, config_.worker_threads * 64);
  SyncServiceOptions sync_options;
  sync_options.heartbeat_interval = std::chrono::seconds(config_.heartbeat_seconds);
  // Connections free memory in pieces glibc keeps (TLS handshakes, closed
  // streams); give it back after many streams came or went (a reconnect
  // wave after an outage, a redeploy of a balancer), or crm-syncd stays at
  // its peak.
  sync_options.release_memory = [] { malloc_trim(0); };
  sync_service_ = std::make_unique<SyncServiceImpl>(auth_.get(), push_.get(), pull_.get(),
                                                    notifier_.get(), pool_.get(), sync_options);
  DeclareMetrics();
  if (!config_.metrics_listen.empty()) {
    exporter_ =
        std::make_unique<MetricsHttpExporter>(&metrics_, [this] { return store_up_.load(); });
    if (auto s = exporter_->Start(config_.metrics_listen); !s.ok()) return s;
    spdlog::info("metrics on http://{}/metrics (port {})", config_.metrics_listen,
                 exporter_->port());
  }
  AdminHandler::Info info;
  info.started_at_ms = clock_.NowMs();
  SyncServiceImpl* sync = sync_service_.get();
  info.active_subscribers = [sync] { return sync->active_streams(); };
  info.traffic = &traffic_;
  info.signing_key_id = token_keys_->signing_key().kid();
  for (const auth::TokenKey& key : token_keys_->keys()) info.verify_key_ids.push_back(key.kid());
  {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    info.instance = std::string(host) + ":" + std::to_string(getpid());
    auto nonce = random_.Bytes(6);
    instance_id_ = info.instance + ":" + (nonce.ok() ? auth::Base64UrlEncode(*nonce) : "");
  }
  admin_ = std::make_unique<AdminHandler>(
      store_.get(), &clock_, auth_handler_.get(), audit_.get(), push_.get(), std::move(info),
      [notifier](const std::string& tenant, int64_t seq) { notifier->Publish(tenant, seq); });
  admin_->set_pull_handler(pull_.get());
  auth_service_ = std::make_unique<AuthServiceImpl>(auth_handler_.get(), api_auth_, pool_.get());
  admin_service_ = std::make_unique<AdminServiceImpl>(admin_.get(), api_auth_, pool_.get());
  if (config_.prune_interval_minutes > 0) prune_thread_ = std::thread([this] { PruneLoop(); });
  if (config_.coupon_sweep_seconds > 0) {
    sweep_thread_ = std::thread([this] { CouponSweepLoop(); });
  }
  if (rate_limiter_ && store_->Kind() == "postgres") {
    // Instances on one database share each device's request budget.
    rate_limiter_->EnableUsageReports();
    rate_share_thread_ = std::thread([this] { RateShareLoop(); });
  }
  grpc_ = std::make_unique<GrpcServer>(config_);
  grpc_->AddService(sync_service_.get());
  grpc_->AddService(auth_service_.get());
  grpc_->AddService(admin_service_.get());
  grpc_->AddInterceptor(std::make_unique<MetricsInterceptorFactory>(&metrics_));
  if (auto s = grpc_->Start(); !s.ok()) return s;
  if (int removed = grpc_->TlsStaleDirsRemoved(); removed > 0) {
    spdlog::info("removed {} TLS staging director{} left by crm-syncd processes that no longer run",
                 removed, removed == 1 ? "y" : "ies");
  }
  GrpcServer* grpc = grpc_.get();
  health_ = std::make_unique<StoreHealth>(
      store_.get(), std::chrono::seconds(config_.health_check_seconds), [this, grpc](bool up) {
        store_up_.store(up);
        grpc->SetServing(up);
      });
  health_->Start();
  return absl::OkStatus();
}

void SyncdApp::EveryTenantEvery(std::chrono::seconds interval, const char* job,
                                const std::function<void(const TenantRow&)>& run) {
  while (!WaitForStop(interval)) {
    auto tenants = store_->directory().ListTenants();
    if (!tenants.ok()) {
      spdlog::warn("{} skipped: {}", job, std::string(tenants.status().message()));
    } else {
      for (const TenantRow& t : *tenants) run(t);
    }
  }
}

bool SyncdApp::WaitForStop(std::chrono::seconds interval) {
  absl::MutexLock lock(&prune_mu_);
  return prune_mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(interval));
}

void SyncdApp::PruneLoop() {
  const int64_t retention_ms = int64_t{config_.retention_hours} * 3600 * 1000;
  EveryTenantEvery(
      std::chrono::minutes(config_.prune_interval_minutes), "pruning", [&](const TenantRow& t) {
        auto report = PruneTenant(&store_->changes(), &store_->directory(), t.id, clock_.NowMs(),
                                  retention_ms);
        if (!report.ok()) {
          spdlog::warn("pruning tenant {} failed: {}", t.slug,
                       std::string(report.status().message()));
        } else if (report->rows_removed > 0 || report->applied_removed > 0 ||
                   report->claims_removed > 0 || report->field_values_removed > 0) {
          spdlog::info(
              "pruned tenant {} through seq {}: {} history rows, {} results of {} "
              "gone devices, {} coupon counters, {} old field values",
              t.slug, report->horizon, report->rows_removed, report->applied_removed,
              report->devices_forgotten, report->claims_removed, report->field_values_removed);
        }
      });
}

void SyncdApp::RateShareLoop() {
  // Reports older than this are not read (they were charged when fresh) and
  // those older than twice this are deleted.
  constexpr int64_t kLookBackMs = 30'000;
  Credentials& store = store_->credentials();
  std::unordered_map<int64_t, int64_t> charged;  // report id -> its time
  // While the store is down this fails every second: say so once, and when
  // it works again (health and its log line tell the rest).
  bool failing = false;
  auto failed = [&](const absl::Status& s) {
    if (!failing) {
      spdlog::warn("request rates not shared with other instances until the store answers: {}",
                   std::string(s.message()));
    }
    failing = true;
  };
  while (!WaitForStop(std::chrono::seconds(1))) {
    const int64_t now_ms = clock_.NowMs();
    const auto usage = rate_limiter_->TakeUsage();
    if (!usage.empty()) {
      if (auto s = store.ReportRateUsage(instance_id_, now_ms, usage, now_ms - 2 * kLookBackMs);
          !s.ok()) {
        failed(s);
        continue;
      }
    }
    auto reports = store.RateUsageSince(instance_id_, now_ms - kLookBackMs);
    if (!reports.ok()) {
      failed(reports.status());
      continue;
    }
    if (failing) spdlog::info("request rates are shared with other instances again");
    failing = false;
    for (const Credentials::RateUsageRow& r : *reports) {
      if (!charged.emplace(r.id, r.at_ms).second) continue;
      rate_limiter_->Charge(r.key, r.used, now_ms);
      metrics_.Increment("crmsync_rate_usage_imported_total", {}, static_cast<double>(r.used));
    }
    for (auto it = charged.begin(); it != charged.end();) {
      it = it->second < now_ms - 2 * kLookBackMs ? charged.erase(it) : std::next(it);
    }
  }
}

void SyncdApp::CouponSweepLoop() {
  constexpr int kChunk = 500;
  EveryTenantEvery(
      std::chrono::seconds(config_.coupon_sweep_seconds), "coupon sweep", [&](const TenantRow& t) {
        int64_t last_seq = 0;
        int total = 0;
        for (;;) {
          auto changed = ExpireCoupons(&store_->changes(), t.id, clock_.NowMs(), kChunk, &last_seq);
          if (!changed.ok()) {
            spdlog::warn("coupon sweep of tenant {} failed: {}", t.slug,
                         std::string(changed.status().message()));
            break;
          }
          total += *changed;
          if (*changed < kChunk) break;
        }
        if (last_seq > 0) notifier_->Publish(t.id, last_seq);
        if (total > 0) {
          spdlog::info("tenant {}: {} expired coupons left terminal scope", t.slug, total);
        }
      });
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
  metrics_.DeclareHistogram("crmsync_pull_scanned_rows", "Feed rows examined per Pull page", sizes);
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
  metrics_.DeclareGauge("crmsync_build_info",
                        "Always 1; the labels say which build runs (version, git revision)");
  metrics_.Set(
      "crmsync_build_info",
      {{"version", ProductVersion()}, {"revision", GitRevision()}, {"store", store_->Kind()}}, 1);
  metrics_.DeclareCallbackGauge(
      "crmsync_serving", "1 while grpc.health.v1 says SERVING, 0 while the store is unreachable",
      [this] { return store_up_.load() ? 1.0 : 0.0; });
  Store* store = store_.get();
  metrics_.DeclareCallbackGauge("crmsync_store_pool_size",
                                "Most connections the store's pool opens",
                                [store] { return static_cast<double>(store->Pool().max_size); });
  for (const char* state : {"in_use", "idle"}) {
    const bool in_use = std::string(state) == "in_use";
    metrics_.DeclareCallbackGauge("crmsync_store_pool_connections",
                                  "Open store connections, leased (in_use) or idle",
                                  [store, in_use] {
                                    const Store::PoolStats p = store->Pool();
                                    return static_cast<double>(in_use ? p.in_use : p.idle);
                                  },
                                  {{"state", state}});
  }
  WorkerPool* workers = pool_.get();
  metrics_.DeclareCallbackGauge("crmsync_worker_threads", "Worker threads for store-bound work",
                                [workers] { return static_cast<double>(workers->threads()); });
  metrics_.DeclareCallbackGauge("crmsync_worker_busy", "Worker threads running a task",
                                [workers] { return static_cast<double>(workers->busy()); });
  metrics_.DeclareCallbackGauge("crmsync_worker_queue_depth", "Tasks waiting for a worker",
                                [workers] { return static_cast<double>(workers->queued()); });
  metrics_.DeclareCallbackCounter(
      "crmsync_worker_rejected_total",
      "Calls refused with RESOURCE_EXHAUSTED because the worker queue was full",
      [workers] { return static_cast<double>(workers->rejected()); });
  metrics_.DeclareCounter("crmsync_auth_failures_total",
                          "Failed sign-ins and refused credentials, by kind (password, api_key, "
                          "token, throttled)");
  metrics_.DeclareCounter("crmsync_rate_usage_imported_total",
                          "Calls other instances served to devices, charged to this instance's "
                          "per-device rate buckets (PostgreSQL store)");
  metrics_.DeclareCounter("crmsync_subscribe_disconnects_total",
                          "Subscribe streams ended by the client or by the server's drain "
                          "(normal; not counted in crmsync_rpc_total)");
  DeclareProcessMetrics(&metrics_);
}

absl::Status SyncdApp::SetUpAuth() {
  std::vector<auth::TokenKey> verify;
  for (const std::string& path : config_.token_verify_keys) {
    std::string pem;
    if (auto s = ReadFileToString(path, &pem); !s.ok()) return s;
    auto key = auth::TokenKey::FromPem(pem);
    if (!key.ok())
      return absl::InvalidArgumentError("--token-verify-key " + path + ": " +
                                        std::string(key.status().message()));
    verify.push_back(std::move(*key));
  }
  absl::StatusOr<auth::TokenKey> signing = absl::UnknownError("unset");
  if (config_.token_key.empty()) {
    spdlog::warn(
        "no --token-key: signing tokens with an EPHEMERAL key (development only); tokens "
        "stop working when this process exits");
    signing = auth::TokenKey::Generate();
  } else {
    std::string pem;
    if (auto s = ReadFileToString(config_.token_key, &pem); !s.ok()) return s;
    signing = auth::TokenKey::FromPem(pem);
    if (signing.ok() && !signing->can_sign()) {
      signing = absl::InvalidArgumentError("it holds a public key; a private key is needed");
    }
  }
  if (!signing.ok()) {
    return absl::InvalidArgumentError("--token-key " + config_.token_key + ": " +
                                      std::string(signing.status().message()));
  }
  spdlog::info("access tokens signed with key id {} ({} more verify keys)", signing->kid(),
               verify.size());
  token_keys_ = std::make_unique<auth::TokenKeyRing>(std::move(*signing), std::move(verify));
  audit_ = std::make_unique<auth::AuditLog>(&store_->audit(), &clock_);
  auth::AuthOptions options;
  options.access_ttl_s = config_.access_token_ttl_seconds;
  options.refresh_ttl_s = int64_t{config_.refresh_token_ttl_hours} * 3600;
  options.password = PasswordParamsOf(config_);
  options.max_failed_logins = config_.max_failed_logins;
  auth_handler_ = std::make_unique<auth::AuthHandler>(&store_->directory(), &store_->credentials(),
                                                      token_keys_.get(), &clock_, &random_,
                                                      audit_.get(), options);
  if (config_.dev_identity) {
    spdlog::warn(
        "trusting x-crmsync-dev-* identity metadata on calls without a token "
        "(--dev-identity): development only");
    dev_auth_ = std::make_unique<DevHeaderAuthenticator>(&store_->directory(), &clock_);
  }
  sync_token_auth_ = std::make_unique<auth::TokenAuthenticator>(
      &store_->directory(), token_keys_.get(), &clock_, auth::TokenAuthenticatorOptions{true},
      dev_auth_.get());
  api_token_auth_ = std::make_unique<auth::TokenAuthenticator>(
      &store_->directory(), token_keys_.get(), &clock_, auth::TokenAuthenticatorOptions{false},
      dev_auth_.get());
  if (config_.rate_limit_per_second > 0) {
    rate_limiter_ =
        std::make_unique<RateLimiter>(config_.rate_limit_per_second, config_.rate_limit_burst);
    auth_ = std::make_unique<RateLimitedAuthenticator>(sync_token_auth_.get(), rate_limiter_.get(),
                                                       &clock_);
    api_rate_auth_ = std::make_unique<RateLimitedAuthenticator>(api_token_auth_.get(),
                                                                rate_limiter_.get(), &clock_);
    api_auth_ = api_rate_auth_.get();
  } else {
    auth_ = std::move(sync_token_auth_);
    api_auth_ = api_token_auth_.get();
  }
  return absl::OkStatus();
}

void SyncdApp::Reload(const ServerConfig& fresh) {
  int failed = 0;
  if (fresh.log_level != config_.log_level) {
    spdlog::set_level(spdlog::level::from_str(fresh.log_level));
    spdlog::info("reload: log level {} (was {})", fresh.log_level, config_.log_level);
    config_.log_level = fresh.log_level;
  }
  if (auto policies = LoadPolicies(fresh.policy_file); policies.ok()) {
    push_->ReplacePolicies(std::make_shared<const sync::PolicyTable>(std::move(*policies)));
    config_.policy_file = fresh.policy_file;
    spdlog::info("reload: conflict policies from {}",
                 fresh.policy_file.empty() ? "the defaults" : fresh.policy_file);
  } else {
    ++failed;
    spdlog::error("reload: kept the previous conflict policies: {}",
                  std::string(policies.status().message()));
  }
  if (!config_.dev_insecure) {
    absl::Status s = grpc_->ReloadTls({fresh.tls_cert, fresh.tls_key, fresh.tls_client_ca});
    if (s.ok()) {
      config_.tls_cert = fresh.tls_cert;
      config_.tls_key = fresh.tls_key;
      config_.tls_client_ca = fresh.tls_client_ca;
      spdlog::info("reload: TLS certificate {} (in use for new connections within 1 s)",
                   grpc_->TlsDescription());
    } else {
      ++failed;
      spdlog::error("reload: kept the previous TLS certificate: {}", std::string(s.message()));
    }
  }
  std::string restart;
  auto differs = [&](bool changed, const char* name) {
    if (changed) restart += std::string(restart.empty() ? "" : ", ") + name;
  };
  differs(fresh.listen != config_.listen, "listen");
  differs(fresh.store != config_.store, "store");
  differs(fresh.metrics_listen != config_.metrics_listen, "metrics-listen");
  differs(fresh.dev_insecure != config_.dev_insecure, "dev-insecure");
  differs(fresh.log_format != config_.log_format, "log-format");
  differs(
      fresh.token_key != config_.token_key || fresh.token_verify_keys != config_.token_verify_keys,
      "token keys");
  differs(fresh.worker_threads != config_.worker_threads, "worker-threads");
  if (!restart.empty()) {
    spdlog::warn("reload: changed settings that take effect only after a restart: {}", restart);
  }
  spdlog::info("reload finished{}", failed == 0 ? "" : " with errors (see above)");
}

void SyncdApp::Shutdown(std::chrono::system_clock::time_point deadline) {
  health_.reset();  // no health flip back to SERVING while stopping
  if (sync_service_) sync_service_->EndStreams();
  if (grpc_) grpc_->Shutdown(deadline);
}

void SyncdApp::Wait() {
  if (grpc_) grpc_->Wait();
}

}  // namespace crmsync::server
