// TcpProxy against a small echo server: forwarding, cut, stall, delay,
// refused and unreachable upstreams.
#include "tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace crmsync::testing {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// Echoes every byte back, one thread, until destroyed.
class EchoServer {
 public:
  EchoServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = Loopback(0);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd_, 16) != 0) {
      ADD_FAILURE() << "echo server: cannot listen on 127.0.0.1";
    }
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    for (int c : clients_) close(c);
    close(fd_);
  }
  int port() const { return port_; }

 private:
  void Run() {
    while (!stop_) {
      std::vector<pollfd> fds{{fd_, POLLIN, 0}};
      for (int c : clients_) fds.push_back({c, POLLIN, 0});
      if (poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) clients_.push_back(accept(fd_, nullptr, nullptr));
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[4096];
        const ssize_t n = recv(fds[i].fd, buf, sizeof(buf), 0);
        if (n > 0) {
          send(fds[i].fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
        } else {
          close(fds[i].fd);
          clients_.erase(std::find(clients_.begin(), clients_.end(), fds[i].fd));
          break;  // fds no longer matches clients_
        }
      }
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> clients_;
  std::thread thread_;
};

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = Loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads until `want` bytes arrived, the peer closed or reset, or `timeout`.
// Returns what arrived; *error is the errno of a failed read (0 otherwise)
// and *closed tells whether the peer closed.
std::string ReadFor(int fd, size_t want, milliseconds timeout, int* error = nullptr,
                    bool* closed = nullptr) {
  std::string got;
  if (error) *error = 0;
  if (closed) *closed = false;
  const auto deadline = SteadyClock::now() + timeout;
  while (got.size() < want) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (error) *error = errno;
      break;
    }
    if (n == 0) {
      if (closed) *closed = true;
      break;
    }
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

void Send(int fd, const std::string& data) {
  ASSERT_EQ(send(fd, data.data(), data.size(), MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
}

TEST(TcpProxyTest, ForwardsBothWays) {
  EchoServer echo;
  TcpProxy proxy;
  ASSERT_TRUE(proxy.Start(echo.port()).ok());
  const int fd = Connect(proxy.port());
  ASSERT_GE(fd, 0);
  Send(fd, "hello");
  EXPECT_EQ(ReadFor(fd, 5, milliseconds(5000)), "hello");
  const std::string big(300 * 1024, 'x');
  std::thread writer([&] { Send(fd, big); });
  EXPECT_EQ(ReadFor(fd, big.size(), milliseconds(10000)).size(), big.size());
  writer.join();
  close(fd);
  const TcpProxy::Counters c = proxy.counters();
  EXPECT_EQ(c.accepted, 1);
  EXPECT_EQ(c.bytes_up, static_cast<int64_t>(5 + big.size()));
}

TEST(TcpProxyTest, CutResetsOpenConnectionsAndAcceptsNewOnes) {
  EchoServer echo;
  TcpProxy proxy;
  ASSERT_TRUE(proxy.Start(echo.port()).ok());
  const int a = Connect(proxy.port());
  const int b = Connect(proxy.port());
  Send(a, "a");
  Send(b, "b");
  ASSERT_EQ(ReadFor(a, 1, milliseconds(5000)), "a");
  ASSERT_EQ(ReadFor(b, 1, milliseconds(5000)), "b");
  EXPECT_EQ(proxy.Cut(), 2);
  int error = 0;
  bool closed = false;
  EXPECT_EQ(ReadFor(a, 1, milliseconds(5000), &error, &closed), "");
  EXPECT_EQ(error, ECONNRESET) << "closed=" << closed;
  close(a);
  close(b);
  const int c = Connect(proxy.port());
  Send(c, "c");
  EXPECT_EQ(ReadFor(c, 1, milliseconds(5000)), "c");
  close(c);
  EXPECT_EQ(proxy.counters().cut, 2);
}

TEST(TcpProxyTest, StallHoldsBytesUntilHeal) {
  EchoServer echo;
  TcpProxy proxy;
  ASSERT_TRUE(proxy.Start(echo.port()).ok());
  const int fd = Connect(proxy.port());
  Send(fd, "1");
  ASSERT_EQ(ReadFor(fd, 1, milliseconds(5000)), "1");
  proxy.Stall();
  Send(fd, "2");
  EXPECT_EQ(ReadFor(fd, 1, milliseconds(300)), "") << "forwarded while stalled";
  proxy.Heal();
  EXPECT_EQ(ReadFor(fd, 1, milliseconds(5000)), "2");

  // Downstream only: the request reaches the server, the answer waits.
  proxy.Stall(TcpProxy::Direction::kDownstream);
  const int64_t up_before = proxy.counters().bytes_up;
  Send(fd, "3");
  const auto deadline = SteadyClock::now() + milliseconds(5000);
  while (proxy.counters().bytes_up == up_before && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));  // poll interval
  }
  EXPECT_EQ(proxy.counters().bytes_up, up_before + 1);
  EXPECT_EQ(ReadFor(fd, 1, milliseconds(300)), "");
  proxy.Heal();
  EXPECT_EQ(ReadFor(fd, 1, milliseconds(5000)), "3");
  close(fd);
}

// An HTTP/2 frame header plus payload.
std::string Frame(uint8_t type, uint32_t stream, const std::string& payload) {
  std::string f;
  f += static_cast<char>((payload.size() >> 16) & 0xff);
  f += static_cast<char>((payload.size() >> 8) & 0xff);
  f += static_cast<char>(payload.size() & 0xff);
  f += static_cast<char>(type);
  f += '\0';
  for (int shift : {24, 16, 8, 0}) f += static_cast<char>((stream >> shift) & 0xff);
  return f + payload;
}

TEST(TcpProxyTest, HoldRepliesPassesConnectionFramesAndHoldsStreamFrames) {
  EchoServer echo;
  TcpProxy proxy;
  ASSERT_TRUE(proxy.Start(echo.port()).ok());
  proxy.HoldReplies();
  const int fd = Connect(proxy.port());
  const std::string settings = Frame(0x4, 0, std::string(12, 's'));
  const std::string ping = Frame(0x6, 0, std::string(8, 'p'));
  const std::string headers = Frame(0x1, 1, std::string(30, 'h'));
  const std::string data = Frame(0x0, 1, std::string(3000, 'd'));
  // Sent in pieces so frame headers straddle reads.
  const std::string all = settings + ping + headers + data;
  for (size_t i = 0; i < all.size(); i += 7) {
    Send(fd, all.substr(i, 7));
    if (i < 60) std::this_thread::sleep_for(milliseconds(2));  // split the reads
  }
  EXPECT_EQ(ReadFor(fd, all.size(), milliseconds(500)), settings + ping);
  proxy.Heal();
  EXPECT_EQ(ReadFor(fd, headers.size() + data.size(), milliseconds(5000)), headers + data);
  close(fd);
}

TEST(TcpProxyTest, BlackholeFreezesOpenConnectionsOnly) {
  EchoServer echo;
  TcpProxy proxy;
  ASSERT_TRUE(proxy.Start(echo.port()).ok());
  const int old_conn = Connect(proxy.port());
  Send(old_conn, "1");
  ASSERT_EQ(ReadFor(old_conn, 1, milliseconds(5000)), "1");
  proxy.Blackhole();
  Send(old_conn, "2");
  int error = 0;
  bool closed = false;
  EXPECT_EQ(ReadFor(old_conn, 1, milliseconds(300), &error, &closed), "");
  EXPECT_EQ(error, 0);
  EXPECT_FALSE(closed);
  proxy.Heal();  // does not revive it
  EXPECT_EQ(ReadFor(old_conn, 1, milliseconds(300)), "");
  const int new_conn = Connect(proxy.port());
  Send(new_conn, "3");
  EXPECT_EQ(ReadFor(new_conn, 1, milliseconds(5000)), "3");
  EXPECT_EQ(proxy.Cut(), 2);
  EXPECT_EQ(ReadFor(old_conn, 1, milliseconds(5000), &error, &closed), "");
  EXPECT_TRUE(error == ECONNRESET || closed);
  close(old_conn);
  close(new_conn);
}

TEST(TcpProxyTest, DelayAddsLatencyEachWay) {
  EchoServer echo;
  TcpProxy proxy;
  ASSERT_TRUE(proxy.Start(echo.port()).ok());
  proxy.Delay(milliseconds(150));
  const int fd = Connect(proxy.port());
  const auto start = SteadyClock::now();
  Send(fd, "ping");
  EXPECT_EQ(ReadFor(fd, 4, milliseconds(5000)), "ping");
  const auto took = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start);
  EXPECT_GE(took.count(), 300);
  proxy.Heal();
  const auto start2 = SteadyClock::now();
  Send(fd, "pong");
  EXPECT_EQ(ReadFor(fd, 4, milliseconds(5000)), "pong");
  EXPECT_LT(std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start2).count(), 150);
  close(fd);
}

TEST(TcpProxyTest, UnreachableUpstreamAndRefuseResetTheClient) {
  EchoServer echo;
  TcpProxy proxy;
  ASSERT_TRUE(proxy.Start(echo.port()).ok());
  // A port nobody listens on: bind one, close it.
  const int probe = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len);
  const int dead_port = ntohs(addr.sin_port);
  close(probe);

  proxy.SetUpstream(dead_port);
  int fd = Connect(proxy.port());
  int error = 0;
  bool closed = false;
  EXPECT_EQ(ReadFor(fd, 1, milliseconds(5000), &error, &closed), "");
  EXPECT_TRUE(error == ECONNRESET || closed);
  close(fd);
  EXPECT_EQ(proxy.counters().upstream_failed, 1);

  proxy.SetUpstream(echo.port());
  proxy.Refuse(true);
  fd = Connect(proxy.port());
  EXPECT_EQ(ReadFor(fd, 1, milliseconds(5000), &error, &closed), "");
  EXPECT_TRUE(error == ECONNRESET || closed);
  close(fd);
  EXPECT_EQ(proxy.counters().refused, 1);

  proxy.Refuse(false);
  fd = Connect(proxy.port());
  Send(fd, "ok");
  EXPECT_EQ(ReadFor(fd, 2, milliseconds(5000)), "ok");
  close(fd);
}

}  // namespace
}  // namespace crmsync::testing
