// End to end over gRPC against a real crm-syncd process on the embedded
// store with the demo tenant.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <httplib.h>

#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "crmsync/build_info.h"
#include "crmsync/v1/auth.grpc.pb.h"
#include "server_process.h"
#include "sync_client.h"

namespace crmsync::testing {
namespace {

v1::PullResponse PullEverything(DevSyncClient& client, std::string* cursor) {
  v1::PullResponse all;
  for (int i = 0; i < 1000; ++i) {
    v1::PullRequest req;
    req.mutable_client()->set_protocol_version(1);
    req.set_cursor(*cursor);
    v1::PullResponse page;
    grpc::Status s = client.Pull(req, &page);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok()) break;
    for (const auto& c : page.changes()) *all.add_changes() = c;
    *cursor = page.next_cursor();
    if (!page.has_more()) break;
  }
  return all;
}

class SyncE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("crmsync-e2e-");
    std::string error;
    ASSERT_TRUE(
        server_.Start({"--dev-insecure", "--dev-identity", "--demo-tenant", "--heartbeat-seconds",
                       "1", "--coupon-sweep-seconds", "1", "--store", "sqlite:" + dir_ + "/crm.db"},
                      &error))
        << error;
  }
  void TearDown() override {
    server_.Stop(SIGTERM);
    RemoveTree(dir_);
  }
  std::string dir_;
  ServerProcess server_;
};

TEST_F(SyncE2eTest, DemoTenantBootstrapsPerRoleScope) {
  DevSyncClient alice(server_.address(), "demo", "alice", "alice-phone");
  DevSyncClient till(server_.address(), "demo", "till-paris", "till-1");
  std::string c1, c2;
  auto alice_view = PullEverything(alice, &c1);
  auto till_view = PullEverything(till, &c2);
  int leads = 0, coupons = 0;
  for (const auto& c : alice_view.changes()) {
    if (c.record().entity_type() == v1::ENTITY_TYPE_LEAD) {
      ++leads;
      EXPECT_EQ(c.values().lead().owner_user_id(), "u-alice");
    }
    EXPECT_NE(c.record().entity_type(), v1::ENTITY_TYPE_COUPON);
  }
  for (const auto& c : till_view.changes()) {
    EXPECT_NE(c.record().entity_type(), v1::ENTITY_TYPE_LEAD);
    if (c.record().entity_type() == v1::ENTITY_TYPE_COUPON) ++coupons;
  }
  EXPECT_EQ(leads, 3);
  // coupon-welcome names store-paris; coupon-louvre-area's geofence holds it.
  EXPECT_EQ(coupons, 2);
}

// A coupon whose validity ends leaves the tills' scope by itself: the
// server's sweep (every second here) writes the change.
TEST_F(SyncE2eTest, ExpiredCouponLeavesTheTillThroughTheSweep) {
  DevSyncClient admin(server_.address(), "demo", "admin", "admin-console-1");
  DevSyncClient till(server_.address(), "demo", "till-paris", "till-1");
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  v1::Mutation m;
  m.set_client_seq(1);
  m.mutable_record()->set_entity_type(v1::ENTITY_TYPE_COUPON);
  m.mutable_record()->set_id("coupon-flash");
  m.set_operation(v1::OPERATION_UPSERT);
  v1::Coupon* c = m.mutable_values()->mutable_coupon();
  c->set_id("coupon-flash");
  c->set_code("FLASH");
  c->set_active(true);
  c->set_percent_off_bp(2000);
  c->mutable_valid_until()->set_seconds(now_ms / 1000 + 2);
  c->mutable_geofence()->mutable_circle()->mutable_center()->set_latitude(48.8606);
  c->mutable_geofence()->mutable_circle()->mutable_center()->set_longitude(2.3376);
  c->mutable_geofence()->mutable_circle()->set_radius_m(300);
  for (const char* p : {"id", "code", "active", "percent_off_bp", "valid_until", "geofence"}) {
    m.mutable_update_mask()->add_paths(p);
  }
  m.mutable_hlc()->set_wall_time_ms(now_ms);
  m.mutable_hlc()->set_node_id(admin.device());
  v1::PushRequest push;
  push.mutable_client()->set_protocol_version(1);
  *push.add_mutations() = m;
  v1::PushResponse pushed;
  grpc::Status st = admin.Push(push, &pushed);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(pushed.results_size(), 1);
  ASSERT_EQ(pushed.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED)
      << pushed.results(0).message();

  std::string cursor;
  bool held = false;
  const v1::PullResponse first = PullEverything(till, &cursor);
  for (const auto& ch : first.changes()) {
    held |= ch.record().id() == "coupon-flash" && ch.kind() == v1::CHANGE_KIND_UPSERT;
  }
  ASSERT_TRUE(held) << "store-paris lies inside the coupon's geofence";
  bool left = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!left && std::chrono::steady_clock::now() < deadline) {
    const v1::PullResponse more = PullEverything(till, &cursor);
    for (const auto& ch : more.changes()) {
      left |= ch.record().id() == "coupon-flash" && ch.kind() == v1::CHANGE_KIND_LEFT_SCOPE;
    }
    if (!left) std::this_thread::sleep_for(std::chrono::milliseconds(200));  // poll
  }
  EXPECT_TRUE(left) << "the expired coupon never left the till's scope";
}

TEST_F(SyncE2eTest, EditOnOneDeviceReachesASubscribedDevice) {
  DevSyncClient phone(server_.address(), "demo", "alice", "alice-phone");
  DevSyncClient tablet(server_.address(), "demo", "alice", "alice-tablet");
  std::string phone_cursor, tablet_cursor;
  auto snapshot = PullEverything(phone, &phone_cursor);
  PullEverything(tablet, &tablet_cursor);

  grpc::ClientContext stream_ctx;
  auto stream = tablet.Subscribe(&stream_ctx, tablet_cursor);
  v1::SubscribeEvent first;
  // A heartbeat proves the stream is established before the push.
  ASSERT_TRUE(stream->Read(&first));

  v1::RecordState lead;
  for (const auto& c : snapshot.changes()) {
    if (c.record().id() == "lead-alice-1") {
      lead.mutable_ref()->CopyFrom(c.record());
      lead.set_version(c.version());
      *lead.mutable_data() = c.values();
    }
  }
  ASSERT_TRUE(lead.has_ref());
  v1::Lead values;
  values.set_phone("+33 6 12 34 56 78");
  v1::PushRequest push;
  push.mutable_client()->set_protocol_version(1);
  *push.add_mutations() = LeadUpdate(1, lead, values, {"phone"}, phone.device());
  v1::PushResponse pushed;
  ASSERT_TRUE(phone.Push(push, &pushed).ok());
  ASSERT_EQ(pushed.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED)
      << pushed.results(0).message();

  bool notified = false;
  v1::SubscribeEvent event;
  for (int i = 0; i < 20 && stream->Read(&event); ++i) {
    if (event.has_changes_available()) {
      notified = true;
      break;
    }
  }
  ASSERT_TRUE(notified) << "no ChangesAvailable on the subscribed device";
  auto delta = PullEverything(tablet, &tablet_cursor);
  ASSERT_EQ(delta.changes_size(), 1);
  EXPECT_EQ(delta.changes(0).values().lead().phone(), "+33 6 12 34 56 78");
  EXPECT_THAT(delta.changes(0).changed_fields().paths(), ::testing::ElementsAre("phone"));
  stream_ctx.TryCancel();
}

TEST_F(SyncE2eTest, UnknownUserIsUnauthenticatedAndRepCannotReadOthersLeads) {
  DevSyncClient stranger(server_.address(), "demo", "mallory", "m-1");
  v1::PullRequest req;
  req.mutable_client()->set_protocol_version(1);
  v1::PullResponse resp;
  EXPECT_EQ(stranger.Pull(req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  DevSyncClient bob(server_.address(), "demo", "bob", "bob-phone");
  std::string cursor;
  const v1::PullResponse bob_view = PullEverything(bob, &cursor);
  int bob_leads = 0;
  for (const auto& c : bob_view.changes()) {
    if (c.record().entity_type() == v1::ENTITY_TYPE_LEAD) {
      EXPECT_EQ(c.values().lead().owner_user_id(), "u-bob");
      ++bob_leads;
    }
  }
  EXPECT_EQ(bob_leads, 3);
}

TEST_F(SyncE2eTest, OldProtocolGetsUpgradeDirective) {
  DevSyncClient alice(server_.address(), "demo", "alice", "alice-phone");
  v1::PullRequest req;  // protocol_version 0
  v1::PullResponse resp;
  std::multimap<std::string, std::string> trailers;
  grpc::Status s = alice.Pull(req, &resp, &trailers);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  auto it = trailers.find("crmsync-directive");
  ASSERT_NE(it, trailers.end());
  EXPECT_EQ(it->second, "upgrade-required");
}

TEST_F(SyncE2eTest, MetricsEndpointExposesSyncSeries) {
  DevSyncClient alice(server_.address(), "demo", "alice", "alice-phone");
  std::string cursor;
  v1::PullResponse snapshot = PullEverything(alice, &cursor);
  v1::RecordState lead;
  for (const auto& c : snapshot.changes()) {
    if (c.record().id() == "lead-alice-3") {
      *lead.mutable_ref() = c.record();
      lead.set_version(c.version());
      *lead.mutable_data() = c.values();
    }
  }
  v1::Lead values;
  values.set_rating(5);
  v1::PushRequest push;
  push.mutable_client()->set_protocol_version(1);
  *push.add_mutations() = LeadUpdate(1, lead, values, {"rating"}, alice.device());
  v1::PushResponse pushed;
  ASSERT_TRUE(alice.Push(push, &pushed).ok());

  ASSERT_GT(server_.metrics_port(), 0);
  httplib::Client http("127.0.0.1", server_.metrics_port());
  auto res = http.Get("/metrics");
  ASSERT_TRUE(res) << "metrics endpoint unreachable";
  EXPECT_EQ(res->status, 200);
  const std::string& body = res->body;
  for (const char* series :
       {"crmsync_pushes_total 1", "crmsync_mutations_total{outcome=\"applied\"} 1",
        "crmsync_rpc_total{method=\"/crmsync.v1.SyncService/Push\",code=\"OK\"} 1",
        "crmsync_rpc_duration_seconds_bucket{method=\"/crmsync.v1.SyncService/Pull\",le=\"+Inf\"}",
        "crmsync_pull_changes_count", "crmsync_store_write_seconds_count 1",
        "crmsync_device_lag_changes_count", "crmsync_subscribers 0", "crmsync_uptime_seconds"}) {
    EXPECT_NE(body.find(series), std::string::npos) << "missing: " << series << "\n" << body;
  }
}

// The value of the series `series` (name and labels exactly as exported),
// or NaN when absent.
double SeriesValue(const std::string& body, const std::string& series) {
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nan("");
}

// The conventions operators' dashboards and alerts rely on: process_*,
// build info, serving state, pool and worker gauges, auth failures by
// kind, and a Subscribe stream the device closes counted as a disconnect,
// not as a failed RPC.
TEST_F(SyncE2eTest, MetricsFollowPrometheusConventions) {
  auto auth = v1::AuthService::NewStub(
      grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext ctx;
    v1::LoginRequest login;
    login.set_tenant("demo");
    login.set_username("alice");
    login.set_password("not-her-password");
    v1::LoginResponse tokens;
    EXPECT_EQ(auth->Login(&ctx, login, &tokens).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  DevSyncClient tablet(server_.address(), "demo", "alice", "alice-tablet");
  {
    grpc::ClientContext ctx;
    auto stream = tablet.Subscribe(&ctx, "");
    v1::SubscribeEvent event;
    ASSERT_TRUE(stream->Read(&event));
    ctx.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  httplib::Client http("127.0.0.1", server_.metrics_port());
  std::string body;
  ASSERT_TRUE(Eventually([&] {
    auto res = http.Get("/metrics");
    body = res ? res->body : "";
    return SeriesValue(body, "crmsync_subscribe_disconnects_total{code=\"CANCELLED\"}") == 1;
  })) << "the closed stream was not counted as a disconnect:\n"
      << body;
  EXPECT_EQ(body.find("Subscribe\",code=\"CANCELLED\""), std::string::npos)
      << "a stream the device closed counted as a failed RPC";
  EXPECT_EQ(SeriesValue(body, "crmsync_auth_failures_total{kind=\"password\"}"), 2);

  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_NE(body.find("# TYPE process_cpu_seconds_total counter"), std::string::npos);
  EXPECT_GE(SeriesValue(body, "process_cpu_seconds_total"), 0);
  const double start = SeriesValue(body, "process_start_time_seconds");
  EXPECT_GT(start, now - 600) << "started more than 10 minutes ago?";
  EXPECT_LE(start, now + 5);
  const double fds = SeriesValue(body, "process_open_fds");
  EXPECT_GT(fds, 3);  // at least the listening sockets and the store
  EXPECT_GE(SeriesValue(body, "process_max_fds"), fds);
  EXPECT_GT(SeriesValue(body, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(SeriesValue(body, "process_virtual_memory_bytes"),
            SeriesValue(body, "process_resident_memory_bytes"));

  const std::string build_info = std::string("crmsync_build_info{version=\"") + ProductVersion() +
                                 "\",revision=\"" + GitRevision() + "\",store=\"sqlite\"}";
  EXPECT_EQ(SeriesValue(body, build_info), 1) << build_info << "\n" << body;
  EXPECT_EQ(SeriesValue(body, "crmsync_serving"), 1);
  EXPECT_EQ(SeriesValue(body, "crmsync_store_pool_size"), 8);
  EXPECT_GE(SeriesValue(body, "crmsync_store_pool_connections{state=\"idle\"}"), 1);
  EXPECT_GE(SeriesValue(body, "crmsync_store_pool_connections{state=\"in_use\"}"), 0);
  EXPECT_GE(SeriesValue(body, "crmsync_worker_threads"), 1);
  EXPECT_EQ(SeriesValue(body, "crmsync_worker_queue_depth"), 0);
  EXPECT_EQ(SeriesValue(body, "crmsync_worker_rejected_total"), 0);
}

TEST_F(SyncE2eTest, GrafanaDashboardUsesOnlyExportedMetrics) {
  std::ifstream in(std::string(CRMSYNC_SOURCE_DIR) + "/deploy/grafana/crmsync-dashboard.json");
  ASSERT_TRUE(in);
  std::stringstream text;
  text << in.rdbuf();
  httplib::Client http("127.0.0.1", server_.metrics_port());
  auto res = http.Get("/metrics");
  ASSERT_TRUE(res);
  std::regex name("crmsync_[a-z_]+");
  std::set<std::string> used;
  const std::string dashboard = text.str();
  for (auto it = std::sregex_iterator(dashboard.begin(), dashboard.end(), name);
       it != std::sregex_iterator(); ++it) {
    std::string n = it->str();
    for (const char* suffix : {"_bucket", "_count", "_sum"}) {
      if (n.size() > strlen(suffix) &&
          n.compare(n.size() - strlen(suffix), strlen(suffix), suffix) == 0) {
        n.resize(n.size() - strlen(suffix));
      }
    }
    if (n != "crmsync_overview") used.insert(n);
  }
  EXPECT_GE(used.size(), 8u);
  for (const auto& n : used) {
    EXPECT_NE(res->body.find("# TYPE " + n + " "), std::string::npos)
        << "the dashboard queries " << n << ", which crm-syncd does not export";
  }
}

TEST_F(SyncE2eTest, SubscribeStreamEndsCleanlyOnServerShutdown) {
  DevSyncClient tablet(server_.address(), "demo", "alice", "alice-tablet");
  grpc::ClientContext ctx;
  auto stream = tablet.Subscribe(&ctx, "");
  v1::SubscribeEvent event;
  ASSERT_TRUE(stream->Read(&event));
  int exit_status = server_.Stop(SIGTERM);
  ASSERT_NE(exit_status, -1);
  EXPECT_EQ(WEXITSTATUS(exit_status), 0);
  while (stream->Read(&event)) {
  }
  grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

}  // namespace
}  // namespace crmsync::testing
