// A TCP proxy on loopback for network fault tests.
//
// TcpProxy listens on 127.0.0.1 (a port the kernel picks) and forwards every
// accepted connection to 127.0.0.1:<upstream port>. Between the two it can
// inject the faults a mobile link or a load balancer produces:
//
//   Cut()        resets every open connection (RST to both ends, as a
//                crashed middlebox does); new connections are accepted.
//   Stall(dir)   stops forwarding in one or both directions; sockets stay
//                open and bytes wait (in the kernel and the proxy's
//                buffers) until Heal().
//   HoldReplies() holds server -> client bytes from the first HTTP/2 frame
//                that belongs to a stream on (a reply or stream event),
//                passing the connection-level frames before it (SETTINGS,
//                PING): new connections still become ready and requests
//                reach the server, but no reply comes back. With Cut()
//                after the server committed, this loses a reply exactly.
//   Blackhole()  the connections open now stop forwarding for good: sockets
//                stay open, nothing passes either way, no FIN or RST (a
//                NAT that forgot them, a phone that changed networks). New
//                connections are not affected; Cut() still resets them.
//   Delay(ms)    forwards each chunk `ms` after it was read (per direction,
//                order kept).
//   Refuse(on)   while on, new connections are reset at once (nothing
//                listening behind the balancer).
//   Heal()       forwards normally again (ends Stall, HoldReplies and
//                Delay; Refuse stays as set).
//
// SetUpstream() changes where new connections go (a restarted server on a
// new port); open connections keep their upstream. If the upstream refuses
// the connection, the client's connection is reset.
//
// Only loopback addresses are used, on both sides.
//
// Every control takes effect before it returns. Thread-safety: every method
// may be called from any thread. One
// background thread does the forwarding (poll loop); the destructor stops
// it and closes every socket.
#ifndef CRMSYNC_TESTS_SUPPORT_TCP_PROXY_H_
#define CRMSYNC_TESTS_SUPPORT_TCP_PROXY_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace crmsync::testing {

class TcpProxy {
 public:
  enum class Direction {
    kUpstream,    // client -> server (requests)
    kDownstream,  // server -> client (responses, stream events)
    kBoth,
  };

  // What went through, for assertions and reports.
  struct Counters {
    int64_t accepted = 0;         // client connections accepted
    int64_t upstream_failed = 0;  // connections reset because the upstream refused
    int64_t refused = 0;          // connections reset while Refuse(true)
    int64_t cut = 0;              // connections reset by Cut()
    int64_t bytes_up = 0;         // bytes delivered to the server
    int64_t bytes_down = 0;       // bytes delivered to clients
    int64_t open = 0;             // connections open now
  };

  TcpProxy();
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // Binds 127.0.0.1:0 and starts forwarding to 127.0.0.1:upstream_port.
  absl::Status Start(int upstream_port);
  // The port clients connect to.
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  void SetUpstream(int upstream_port);
  // Resets every open connection; returns how many were cut.
  int Cut();
  void Stall(Direction direction = Direction::kBoth);
  void HoldReplies();
  void Blackhole();
  void Delay(std::chrono::milliseconds per_chunk);
  void Refuse(bool on);
  void Heal();

  Counters counters() const;

 private:
  struct Connection;
  struct Control;
  void Loop();
  void Wake();
  // Changes the controls and returns once the forwarding loop runs with
  // them: after Stall() returns, no further byte goes that way.
  void Apply(const std::function<void(Control&)>& change);

  int port_ = 0;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  std::unique_ptr<Control> control_;
  std::thread thread_;
};

}  // namespace crmsync::testing

#endif  // CRMSYNC_TESTS_SUPPORT_TCP_PROXY_H_
