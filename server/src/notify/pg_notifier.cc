#include "pg_notifier.h"

#define PQXX_HAVE_OPTIONAL 1
#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

#include <chrono>
#include <set>

namespace crmsync::server {
namespace {

constexpr char kChannel[] = "crmsync_changes";

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, std::function<void(const std::string&)> on_payload)
      : pqxx::notification_receiver(conn, kChannel), on_payload_(std::move(on_payload)) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override {
    on_payload_(payload);
  }

 private:
  std::function<void(const std::string&)> on_payload_;
};

}  // namespace

struct PostgresNotifier::PublishConnection {
  explicit PublishConnection(const std::string& conninfo) : conn(conninfo) {}
  pqxx::connection conn;
};

PostgresNotifier::PostgresNotifier(std::string conninfo)
    : conninfo_(std::move(conninfo)), thread_([this] { ListenLoop(); }) {}

PostgresNotifier::~PostgresNotifier() {
  stop_ = true;
  thread_.join();
}

void PostgresNotifier::Publish(const std::string& tenant_id, int64_t latest_seq) {
  InProcessNotifier::Publish(tenant_id, latest_seq);
  const std::string payload = tenant_id + ":" + std::to_string(latest_seq);
  absl::MutexLock lock(&publish_mu_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (!publish_conn_) publish_conn_ = std::make_unique<PublishConnection>(conninfo_);
      pqxx::nontransaction tx(publish_conn_->conn);
      tx.exec_params("SELECT pg_notify($1, $2)", std::string(kChannel), payload);
      return;
    } catch (const std::exception& e) {
      publish_conn_.reset();  // reconnect once, then give up: streams also poll on heartbeat
      if (attempt == 1) spdlog::warn("NOTIFY failed: {}", e.what());
    }
  }
}

void PostgresNotifier::Wake(const std::string& payload) {
  auto colon = payload.rfind(':');
  if (colon == std::string::npos) return;
  int64_t seq = std::atoll(payload.c_str() + colon + 1);
  Deliver(payload.substr(0, colon), seq);
}

void PostgresNotifier::WakeAll() {
  // Tenants with listeners are not tracked separately; every listener
  // re-checks its own tenant, which is cheap.
  std::set<std::string> tenants = Tenants();
  for (const auto& t : tenants) Deliver(t, 0);
}

void PostgresNotifier::ListenLoop() {
  auto backoff = std::chrono::milliseconds(100);
  bool had_connection = false;
  while (!stop_) {
    try {
      pqxx::connection conn(conninfo_);
      Receiver receiver(conn, [this](const std::string& p) { Wake(p); });
      listening_ = true;
      if (had_connection) WakeAll();
      had_connection = true;
      backoff = std::chrono::milliseconds(100);
      while (!stop_) conn.await_notification(0, 200000);  // 200 ms, to notice stop_
    } catch (const std::exception& e) {
      listening_ = false;
      if (stop_) break;
      spdlog::warn("LISTEN connection lost ({}); reconnecting in {} ms", e.what(), backoff.count());
      auto until = std::chrono::steady_clock::now() + backoff;
      while (!stop_ && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // interruptible backoff
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }
  listening_ = false;
}

}  // namespace crmsync::server
