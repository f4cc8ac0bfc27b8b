// A device that vanishes without closing its connection (its network dies:
// no FIN, no RST, as when a phone loses coverage or a NAT forgets it) must
// not keep its Subscribe stream, and the memory behind it, on the server:
// crm-syncd pings quiet connections (--keepalive-seconds) and closes those
// whose ping goes unanswered (--keepalive-timeout-seconds). The stream's
// own heartbeat events do not notice: they land in socket buffers.
#include <gtest/gtest.h>
#include <signal.h>

#include <httplib.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <string>
#include <thread>

#include "server_process.h"
#include "sync_client.h"
#include "tcp_proxy.h"

namespace crmsync::testing {
namespace {

// crmsync_subscribers from crm-syncd's metrics; -1 if unreadable.
int Subscribers(int metrics_port) {
  httplib::Client http("127.0.0.1", metrics_port);
  auto res = http.Get("/metrics");
  if (!res || res->status != 200) return -1;
  std::smatch m;
  static const std::regex kLine("\ncrmsync_subscribers ([0-9]+)");
  if (!std::regex_search(res->body, m, kLine)) return -1;
  return std::stoi(m[1].str());
}

TEST(KeepaliveTest, ServerDropsTheStreamOfAClientThatVanished) {
  const std::string dir = MakeTempDir("crmsync-keepalive-");
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(
      server.Start({"--dev-insecure", "--dev-identity", "--demo-tenant", "--heartbeat-seconds",
                    "3600", "--keepalive-seconds", "1", "--keepalive-timeout-seconds", "1",
                    "--store", "sqlite:" + dir + "/crm.db"},
                   &error))
      << error;
  TcpProxy proxy;
  ASSERT_TRUE(proxy.Start(server.port()).ok());

  // The phone reaches the server through the proxy, the tablet directly.
  DevSyncClient phone(proxy.address(), "demo", "alice", "alice-phone");
  DevSyncClient tablet(server.address(), "demo", "alice", "alice-tablet");
  grpc::ClientContext phone_ctx, tablet_ctx;
  auto phone_stream = phone.Subscribe(&phone_ctx, "");
  auto tablet_stream = tablet.Subscribe(&tablet_ctx, "");
  v1::SubscribeEvent event;
  // From an empty cursor the demo records are announced at once.
  ASSERT_TRUE(phone_stream->Read(&event));
  // The tablet waits for events as a device does: a thread blocked in Read
  // (which is also what lets this process answer the server's pings).
  std::mutex mu;
  std::condition_variable cv;
  int64_t tablet_latest = -1;
  std::thread tablet_reader([&] {
    v1::SubscribeEvent e;
    while (tablet_stream->Read(&e)) {
      if (!e.has_changes_available()) continue;
      std::lock_guard<std::mutex> lock(mu);
      tablet_latest = std::max(tablet_latest, e.changes_available().latest_seq());
      cv.notify_all();
    }
  });
  auto tablet_sees = [&](int64_t seq) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(20), [&] { return tablet_latest >= seq; });
  };
  ASSERT_TRUE(tablet_sees(0));
  ASSERT_TRUE(Eventually([&] { return Subscribers(server.metrics_port()) == 2; }));

  proxy.Blackhole();  // the phone is gone: its connection stays open, silent
  EXPECT_TRUE(
      Eventually([&] { return Subscribers(server.metrics_port()) == 1; }, std::chrono::seconds(15)))
      << "the vanished phone's stream is still open: " << Subscribers(server.metrics_port());

  // The tablet answered every ping meanwhile and keeps its stream: a change
  // still reaches it.
  v1::PullRequest pull;
  pull.mutable_client()->set_protocol_version(1);
  v1::PullResponse page;
  ASSERT_TRUE(tablet.Pull(pull, &page).ok());
  v1::RecordState lead;
  for (const auto& c : page.changes()) {
    if (c.record().id() == "lead-alice-1") {
      *lead.mutable_ref() = c.record();
      lead.set_version(c.version());
      *lead.mutable_data() = c.values();
    }
  }
  ASSERT_TRUE(lead.has_ref());
  v1::Lead values;
  values.set_phone("+33 6 12 34 56 78");
  v1::PushRequest push;
  push.mutable_client()->set_protocol_version(1);
  *push.add_mutations() = LeadUpdate(1, lead, values, {"phone"}, tablet.device());
  v1::PushResponse pushed;
  ASSERT_TRUE(tablet.Push(push, &pushed).ok());
  EXPECT_TRUE(tablet_sees(pushed.results(0).record().version()));
  EXPECT_EQ(Subscribers(server.metrics_port()), 1);

  phone_ctx.TryCancel();
  tablet_ctx.TryCancel();
  tablet_reader.join();
  server.Stop(SIGTERM);
  RemoveTree(dir);
}

}  // namespace
}  // namespace crmsync::testing
