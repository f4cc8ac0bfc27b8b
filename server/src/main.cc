// crm-syncd: the crmsync sync server.
#include <malloc.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "app.h"
#include "config.h"
#include "instance_lock.h"
#include "logging.h"
#include "store/internal_detail.h"
#include "store/migrations.h"
#include "store/store.h"
#include "version.h"

namespace {

using crmsync::server::ServerConfig;

void LogConfig(const ServerConfig& c) {
  spdlog::info("crm-syncd {} starting", crmsync::ProductVersion());
  spdlog::info(
      "config: listen={} store={} ({}) demo_tenant={} tls={} mtls={} dev_insecure={} "
      "log_level={} log_format={} max_message_bytes={} shutdown_grace_seconds={}",
      c.listen, c.store_spec.KindName(),
      c.store_spec.kind == crmsync::server::StoreSpec::Kind::kSqlite ? c.store_spec.target
                                                                     : "<redacted>",
      c.demo_tenant, !c.dev_insecure, !c.tls_client_ca.empty(), c.dev_insecure, c.log_level,
      c.log_format, c.max_message_bytes, c.shutdown_grace_seconds);
  if (c.dev_insecure) {
    spdlog::warn("serving PLAINTEXT (--dev-insecure): development only, never in production");
  }
}

// --new-history: every tenant's change history gets a new id; devices whose
// cursors name the old one re-bootstrap and re-send what the store lacks.
int StartNewHistories(const ServerConfig& c) {
  // Declared first so that it is released after the store closes; a running
  // server must be stopped first.
  crmsync::server::InstanceLock lock;
  auto store = crmsync::server::OpenStore(c.store_spec);
  if (!store.ok()) {
    spdlog::error("cannot open the store: {}", crmsync::server::InternalDetail(store.status()));
    return 1;
  }
  if (c.store_spec.kind == crmsync::server::StoreSpec::Kind::kSqlite) {
    if (auto s = lock.Acquire(c.store_spec.target); !s.ok()) {
      spdlog::error("{}", std::string(s.message()));
      return 1;
    }
  }
  if (auto s = (*store)->Migrate(); !s.ok()) {
    spdlog::error("cannot migrate the store: {}", crmsync::server::InternalDetail(s));
    return 1;
  }
  auto tenants = (*store)->directory().ListTenants();
  if (!tenants.ok()) {
    spdlog::error("cannot list tenants: {}", std::string(tenants.status().message()));
    return 1;
  }
  for (const auto& t : *tenants) {
    if (auto s = (*store)->changes().StartNewHistory(t.id); !s.ok()) {
      spdlog::error("tenant {}: {}", t.slug, std::string(s.message()));
      return 1;
    }
    spdlog::info(
        "tenant {}: new change history {}", t.slug,
        (*store)->changes().GetFeedState(t.id).value_or(crmsync::server::FeedState()).history_id);
  }
  spdlog::info("{} tenant(s) now have a new change history; start the servers", tenants->size());
  return 0;
}

// --migrate-only: the schema migrated (under the store's migration lock, so
// safe while other instances start), then exit.
int MigrateOnly(const ServerConfig& c) {
  auto store = crmsync::server::OpenStore(c.store_spec);
  if (!store.ok()) {
    spdlog::error("cannot open the store: {}", crmsync::server::InternalDetail(store.status()));
    return 1;
  }
  auto before = (*store)->SchemaVersion();
  if (auto s = (*store)->Migrate(); !s.ok()) {
    spdlog::error("cannot migrate the store: {}", crmsync::server::InternalDetail(s));
    return 1;
  }
  auto after = (*store)->SchemaVersion();
  if (!before.ok() || !after.ok()) {
    spdlog::error("cannot read the schema version");
    return 1;
  }
  spdlog::info("store schema at version {} (was {}; this build's newest is {})", *after, *before,
               crmsync::server::LatestSchemaVersion());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // absl::Mutex as packaged in Debian checks lock order on every Lock (a
  // global graph). The tests link the same code with the check on; the
  // server does not pay for it, nor abort on a reported cycle.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  ServerConfig config;
  auto parsed = crmsync::server::ParseCommandLine(argc, argv, &config);
  if (parsed.should_exit) {
    std::fputs(parsed.message.c_str(), parsed.exit_code == 0 ? stdout : stderr);
    return parsed.exit_code;
  }
  // Before any thread allocates: every thread after the first arenas gets
  // one of them.
  if (config.malloc_arena_max > 0) mallopt(M_ARENA_MAX, config.malloc_arena_max);
  crmsync::server::SetUpLogging(config.log_level, config.log_format);
  if (config.new_history) return StartNewHistories(config);
  if (config.migrate_only) return MigrateOnly(config);
  LogConfig(config);

  // Block the shutdown and reload signals in every thread; one thread
  // waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  crmsync::server::SyncdApp server(config);
  if (auto status = server.Start(); !status.ok()) {
    spdlog::error("cannot start: {}", crmsync::server::InternalDetail(status));
    return 1;
  }
  spdlog::info("serving on {} (port {})", config.listen, server.bound_port());
  // Under systemd (Type=notify) this is the readiness signal; elsewhere
  // NOTIFY_SOCKET is unset and it does nothing.
  sd_notifyf(0, "READY=1\nSTATUS=serving on port %d\nMAINPID=%lu", server.bound_port(),
             static_cast<unsigned long>(getpid()));
  if (!config.ready_file.empty()) {
    // Write then rename, so a reader never sees a partial file.
    std::string tmp = config.ready_file + ".tmp";
    if (std::FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fprintf(f, "%d\n%d\n", server.bound_port(), server.metrics_port());
      std::fclose(f);
      std::rename(tmp.c_str(), config.ready_file.c_str());
    } else {
      spdlog::error("cannot write --ready-file {}", config.ready_file);
    }
  }

  std::thread signal_waiter([&] {
    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGHUP) {
        // Read flags, environment and --config again; keep everything if
        // they no longer parse.
        spdlog::info("received SIGHUP, reloading");
        sd_notify(0, "RELOADING=1\nSTATUS=reloading");
        ServerConfig fresh;
        auto reparsed = crmsync::server::ParseCommandLine(argc, argv, &fresh);
        if (reparsed.should_exit) {
          spdlog::error("reload: the configuration no longer parses, nothing changed: {}",
                        reparsed.message);
          sd_notify(0, "READY=1\nSTATUS=serving; the last reload failed (see the log)");
          continue;
        }
        server.Reload(fresh);
        sd_notify(0, "READY=1\nSTATUS=serving (reloaded)");
        continue;
      }
      spdlog::info("received {}, shutting down (grace {} s)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                   config.shutdown_grace_seconds);
      sd_notify(0, "STOPPING=1\nSTATUS=draining in-flight calls");
      server.Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(config.shutdown_grace_seconds));
      return;
    }
  });
  server.Wait();
  signal_waiter.join();
  spdlog::info("stopped");
  return 0;
}
