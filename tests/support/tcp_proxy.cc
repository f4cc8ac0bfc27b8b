#include "tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <list>
#include <string>
#include <vector>

namespace crmsync::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Bytes read from one side and not yet written to the other, per direction;
// reading pauses above this.
constexpr size_t kMaxBuffered = 1 << 20;
constexpr size_t kReadChunk = 64 * 1024;
// Longest poll wait: how soon control changes are noticed even without a
// wake-up, and the granularity of Delay().
constexpr std::chrono::milliseconds kMaxPollWait{50};

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK); }

// Closes with RST instead of FIN.
void Reset(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

struct Chunk {
  std::string data;
  size_t offset = 0;
  Clock::time_point release;
};

// One direction of a connection: from `src` to `dst`.
struct Pipe {
  std::deque<Chunk> chunks;
  size_t buffered = 0;
  bool src_eof = false;   // src sent FIN
  bool dst_shut = false;  // FIN forwarded to dst
  Clock::time_point last_release;
  int64_t read_total = 0;     // bytes read from src so far
  int64_t written_total = 0;  // bytes written to dst so far

  // HTTP/2 framing of the server's byte stream (down pipe only): where the
  // next frame header starts, its bytes so far, and the start offsets of
  // frames that belong to a stream (replies) not yet written.
  bool scan_frames = false;
  int64_t next_frame = 0;
  std::string header;
  std::deque<int64_t> stream_frames;

  void Scan(const char* data, size_t n) {
    const int64_t begin = read_total - static_cast<int64_t>(n);
    for (int64_t pos = std::max(begin, next_frame); pos < read_total;) {
      const size_t take =
          std::min<size_t>(9 - header.size(), static_cast<size_t>(read_total - pos));
      header.append(data + (pos - begin), take);
      pos += static_cast<int64_t>(take);
      if (header.size() < 9) break;
      const auto byte = [&](int i) {
        return static_cast<uint32_t>(static_cast<uint8_t>(header[i]));
      };
      const uint32_t length = (byte(0) << 16) | (byte(1) << 8) | byte(2);
      const uint32_t stream = ((byte(5) & 0x7f) << 24) | (byte(6) << 16) | (byte(7) << 8) | byte(8);
      if (stream != 0) stream_frames.push_back(next_frame);
      next_frame += 9 + static_cast<int64_t>(length);
      header.clear();
      pos = std::max(pos, next_frame);
    }
  }

  // With replies held, bytes stay from the first stream frame on, and from
  // the first frame whose header has not fully arrived (it may be one).
  int64_t Limit(bool hold_replies) {
    while (!stream_frames.empty() && stream_frames.front() < written_total) {
      stream_frames.pop_front();
    }
    if (!hold_replies) return INT64_MAX;
    return stream_frames.empty() ? next_frame : std::min(stream_frames.front(), next_frame);
  }

  bool Drained() const { return chunks.empty(); }
  bool Done() const { return src_eof && Drained() && dst_shut; }
};

}  // namespace

struct TcpProxy::Connection {
  int client = -1;
  int server = -1;
  bool connecting = true;
  bool frozen = false;  // blackholed: nothing passes, ever
  bool client_hup = false;
  bool server_hup = false;
  Pipe up;    // client -> server
  Pipe down;  // server -> client
  bool closed = false;

  void ResetBoth() {
    Reset(client);
    Reset(server);
    client = server = -1;
    closed = true;
  }
};

struct TcpProxy::Control {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  int upstream_port = 0;
  bool stall_up = false;
  bool stall_down = false;
  bool hold_replies = false;
  std::chrono::milliseconds delay{0};
  bool refuse = false;
  int64_t cut_requests = 0;
  int64_t cuts_done = 0;
  // Control changes take effect at the top of a loop round; callers wait
  // until the loop has started a round after their change.
  int64_t generation = 0;
  int64_t seen_generation = 0;
  int last_cut_count = 0;
  Counters counters;
  std::list<Connection> connections;  // touched by the loop thread only
};

TcpProxy::TcpProxy() : control_(std::make_unique<Control>()) {}

TcpProxy::~TcpProxy() {
  {
    std::lock_guard<std::mutex> lock(control_->mu);
    control_->stop = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
  for (Connection& c : control_->connections) c.ResetBoth();
  if (listen_fd_ >= 0) close(listen_fd_);
  for (int fd : wake_fds_) {
    if (fd >= 0) close(fd);
  }
}

absl::Status TcpProxy::Start(int upstream_port) {
  if (thread_.joinable()) return absl::FailedPreconditionError("proxy already started");
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) return absl::InternalError(std::string("socket: ") + strerror(errno));
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 128) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(std::string("bind/listen on 127.0.0.1: ") + strerror(errno));
  }
  port_ = ntohs(addr.sin_port);
  SetNonBlocking(listen_fd_);
  if (pipe(wake_fds_) != 0) return absl::InternalError(std::string("pipe: ") + strerror(errno));
  SetNonBlocking(wake_fds_[0]);
  SetNonBlocking(wake_fds_[1]);
  control_->upstream_port = upstream_port;
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void TcpProxy::Wake() {
  if (wake_fds_[1] >= 0) {
    char c = 1;
    (void)!write(wake_fds_[1], &c, 1);
  }
}

void TcpProxy::SetUpstream(int upstream_port) {
  Apply([upstream_port](Control& c) { c.upstream_port = upstream_port; });
}

int TcpProxy::Cut() {
  std::unique_lock<std::mutex> lock(control_->mu);
  const int64_t ticket = ++control_->cut_requests;
  Wake();
  // The loop owns the sockets; it performs the cut within one poll round.
  control_->cv.wait_for(lock, std::chrono::seconds(10),
                        [&] { return control_->cuts_done >= ticket || control_->stop; });
  return control_->last_cut_count;
}

void TcpProxy::Apply(const std::function<void(Control&)>& change) {
  std::unique_lock<std::mutex> lock(control_->mu);
  change(*control_);
  const int64_t ticket = ++control_->generation;
  if (!thread_.joinable()) return;
  Wake();
  control_->cv.wait_for(lock, std::chrono::seconds(10),
                        [&] { return control_->seen_generation >= ticket || control_->stop; });
}

void TcpProxy::Stall(Direction direction) {
  Apply([direction](Control& c) {
    if (direction != Direction::kDownstream) c.stall_up = true;
    if (direction != Direction::kUpstream) c.stall_down = true;
  });
}

void TcpProxy::HoldReplies() {
  Apply([](Control& c) { c.hold_replies = true; });
}

void TcpProxy::Blackhole() {
  Apply([](Control& c) {
    for (Connection& conn : c.connections) conn.frozen = true;
  });
}

void TcpProxy::Delay(std::chrono::milliseconds per_chunk) {
  Apply([per_chunk](Control& c) { c.delay = per_chunk; });
}

void TcpProxy::Refuse(bool on) {
  Apply([on](Control& c) { c.refuse = on; });
}

void TcpProxy::Heal() {
  Apply([](Control& c) {
    c.stall_up = c.stall_down = c.hold_replies = false;
    c.delay = std::chrono::milliseconds(0);
  });
}

TcpProxy::Counters TcpProxy::counters() const {
  std::lock_guard<std::mutex> lock(control_->mu);
  return control_->counters;
}

namespace {

// Reads what `fd` has into `pipe`. Returns false when the connection must be
// reset (read error).
bool ReadInto(int fd, Pipe* pipe, std::chrono::milliseconds delay) {
  char buf[kReadChunk];
  const ssize_t n = recv(fd, buf, sizeof(buf), 0);
  if (n > 0) {
    Chunk c;
    c.data.assign(buf, static_cast<size_t>(n));
    pipe->read_total += n;
    if (pipe->scan_frames) pipe->Scan(buf, static_cast<size_t>(n));
    c.release = std::max(Clock::now() + delay, pipe->last_release);
    pipe->last_release = c.release;
    pipe->buffered += c.data.size();
    pipe->chunks.push_back(std::move(c));
    return true;
  }
  if (n == 0) {
    pipe->src_eof = true;
    return true;
  }
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

// Writes released chunks of `pipe` to `fd`; forwards FIN once drained.
// Returns false when the connection must be reset.
bool WriteFrom(int fd, Pipe* pipe, int64_t* delivered, bool hold_replies) {
  const auto now = Clock::now();
  const int64_t limit = pipe->Limit(hold_replies);
  while (!pipe->chunks.empty() && pipe->chunks.front().release <= now &&
         pipe->written_total < limit) {
    Chunk& c = pipe->chunks.front();
    const size_t want = static_cast<size_t>(std::min<int64_t>(
        static_cast<int64_t>(c.data.size() - c.offset), limit - pipe->written_total));
    const ssize_t n = send(fd, c.data.data() + c.offset, want, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    c.offset += static_cast<size_t>(n);
    pipe->buffered -= static_cast<size_t>(n);
    pipe->written_total += n;
    *delivered += n;
    if (c.offset < c.data.size()) return true;  // socket full, or held
    pipe->chunks.pop_front();
  }
  if (pipe->src_eof && pipe->Drained() && !pipe->dst_shut) {
    shutdown(fd, SHUT_WR);
    pipe->dst_shut = true;
  }
  return true;
}

bool HasReleased(Pipe& pipe, Clock::time_point now, bool hold_replies) {
  return !pipe.chunks.empty() && pipe.chunks.front().release <= now &&
         pipe.written_total < pipe.Limit(hold_replies);
}

}  // namespace

void TcpProxy::Loop() {
  Control& ctl = *control_;
  std::unique_lock<std::mutex> lock(ctl.mu);
  while (!ctl.stop) {
    if (ctl.seen_generation < ctl.generation) {
      ctl.seen_generation = ctl.generation;
      ctl.cv.notify_all();
    }
    // Control requests.
    if (ctl.cuts_done < ctl.cut_requests) {
      int count = 0;
      for (Connection& c : ctl.connections) {
        if (!c.closed) {
          c.ResetBoth();
          ++count;
        }
      }
      ctl.counters.cut += count;
      ctl.last_cut_count = count;
      ctl.cuts_done = ctl.cut_requests;
      ctl.cv.notify_all();
    }
    ctl.connections.remove_if([](const Connection& c) { return c.closed; });
    ctl.counters.open = static_cast<int64_t>(ctl.connections.size());

    const bool stall_up = ctl.stall_up, stall_down = ctl.stall_down;
    const bool hold = ctl.hold_replies;
    const auto delay = ctl.delay;
    const auto now = Clock::now();
    auto wait = kMaxPollWait;

    // Poll set: wake pipe, listener, then two entries per connection.
    std::vector<pollfd> fds;
    fds.push_back({wake_fds_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    std::vector<Connection*> order;
    for (Connection& c : ctl.connections) {
      order.push_back(&c);
      if (c.frozen) {
        fds.push_back({-1, 0, 0});
        fds.push_back({-1, 0, 0});
        continue;
      }
      short client_events = 0, server_events = 0;
      if (c.connecting) {
        server_events = POLLOUT;
      } else {
        if (!stall_up) {
          if (!c.up.src_eof && c.up.buffered < kMaxBuffered) client_events |= POLLIN;
          if (HasReleased(c.up, now, false)) server_events |= POLLOUT;
        }
        if (!stall_down) {
          if (!c.down.src_eof && c.down.buffered < kMaxBuffered) server_events |= POLLIN;
          if (HasReleased(c.down, now, hold)) client_events |= POLLOUT;
        }
        for (const Pipe* p : {&c.up, &c.down}) {
          const bool stalled = p == &c.up ? stall_up : stall_down;
          if (!stalled && !p->chunks.empty() && p->chunks.front().release > now) {
            wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                      p->chunks.front().release - now) +
                                      std::chrono::milliseconds(1));
          }
        }
      }
      // A hung-up socket we are not reading would make poll return at once.
      fds.push_back({client_events == 0 && c.client_hup ? -1 : c.client, client_events, 0});
      fds.push_back({server_events == 0 && c.server_hup ? -1 : c.server, server_events, 0});
    }

    lock.unlock();
    const int ready = poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    lock.lock();
    if (ctl.stop) break;
    if (ready < 0) continue;

    if (fds[0].revents & POLLIN) {
      char buf[64];
      while (read(wake_fds_[0], buf, sizeof(buf)) > 0) {
      }
    }
    if (fds[1].revents & POLLIN) {
      for (int accepted = 0; accepted < 64; ++accepted) {
        const int client = accept(listen_fd_, nullptr, nullptr);
        if (client < 0) break;
        ++ctl.counters.accepted;
        if (ctl.refuse) {
          ++ctl.counters.refused;
          Reset(client);
          continue;
        }
        SetNonBlocking(client);
        int one = 1;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        const int server = socket(AF_INET, SOCK_STREAM, 0);
        if (server < 0) {
          Reset(client);
          continue;
        }
        SetNonBlocking(server);
        setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        sockaddr_in addr = Loopback(ctl.upstream_port);
        if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
            errno != EINPROGRESS) {
          ++ctl.counters.upstream_failed;
          Reset(client);
          close(server);
          continue;
        }
        Connection c;
        c.client = client;
        c.server = server;
        c.down.scan_frames = true;
        ctl.connections.push_back(std::move(c));
      }
    }

    for (size_t i = 0; i < order.size(); ++i) {
      Connection& c = *order[i];
      if (c.closed || c.frozen) continue;
      const short crev = fds[2 + 2 * i].revents;
      const short srev = fds[3 + 2 * i].revents;
      if (c.connecting) {
        if (srev == 0) continue;
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c.server, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          ++ctl.counters.upstream_failed;
          c.ResetBoth();
          continue;
        }
        c.connecting = false;
        continue;
      }
      if ((crev | srev) & POLLERR) {
        c.ResetBoth();
        continue;
      }
      c.client_hup |= (crev & POLLHUP) != 0;
      c.server_hup |= (srev & POLLHUP) != 0;
      bool ok = true;
      if (crev & (POLLIN | POLLHUP)) {
        if (!stall_up && !c.up.src_eof) ok = ok && ReadInto(c.client, &c.up, delay);
      }
      if (srev & (POLLIN | POLLHUP)) {
        if (!stall_down && !c.down.src_eof) ok = ok && ReadInto(c.server, &c.down, delay);
      }
      if (ok && !stall_up) ok = WriteFrom(c.server, &c.up, &ctl.counters.bytes_up, false);
      if (ok && !stall_down) ok = WriteFrom(c.client, &c.down, &ctl.counters.bytes_down, hold);
      if (!ok) {
        c.ResetBoth();
        continue;
      }
      if (c.up.Done() && c.down.Done()) {
        close(c.client);
        close(c.server);
        c.client = c.server = -1;
        c.closed = true;
      }
    }
  }
  ctl.cv.notify_all();
}

}  // namespace crmsync::testing
