// SPDX-License-Identifier: Apache-2.0
#include "connection_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "common/sync.hpp"
#include "fmt/format.h"
#include "status_mapping.hpp"

namespace fnhost::http::detail {
namespace {

using Clock = std::chrono::steady_clock;

// Requests one connection may carry before it is closed (cpp-httplib's default is 5).
constexpr int kMaxRequestsPerConnection = 1000;
// Longest a rejected request's remaining body is drained before the connection closes.
constexpr absl::Duration kMaxLinger = absl::Seconds(5);

struct ConnectionState {
  bool routed = false;
  bool close = false;
};

// The state of the request the calling connection thread is serving (null elsewhere):
// cpp-httplib runs the handlers of a request on the thread that reads it, and gives them no
// other way to talk to the connection loop.
thread_local ConnectionState* t_connection = nullptr;

int poll_timeout_ms(absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(timeout) + 1, 1 << 30));
}

int poll_timeout_ms(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30));
}

bool wait_ready(socket_t sock, short events, int timeout_ms) {
  pollfd descriptor{.fd = sock, .events = events, .revents = 0};
  int ready = 0;
  do {
    ready = ::poll(&descriptor, 1, timeout_ms);
  } while (ready < 0 && errno == EINTR);
  return ready > 0;
}

void address_of(socket_t sock, bool peer, std::string& ip, int& port) {
  sockaddr_storage address{};
  socklen_t size = sizeof(address);
  auto* raw = reinterpret_cast<sockaddr*>(&address);
  if ((peer ? ::getpeername(sock, raw, &size) : ::getsockname(sock, raw, &size)) != 0) return;
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &v4->sin_addr, text.data(), text.size());
    port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text.data(), text.size());
    port = ntohs(v6->sin6_port);
  }
  ip = text.data();
}

// A connected socket as cpp-httplib reads and writes it: reads wait at most until the request's
// deadline, each write at most the request timeout.
class SocketStream final : public httplib::Stream {
 public:
  SocketStream(socket_t sock, absl::Duration write_timeout)
      : sock_(sock), write_timeout_ms_(poll_timeout_ms(write_timeout)) {}

  void set_read_deadline(Clock::time_point deadline) { read_deadline_ = deadline; }

  bool is_readable() const override {
    return wait_ready(sock_, POLLIN, poll_timeout_ms(read_deadline_));
  }
  bool is_writable() const override { return wait_ready(sock_, POLLOUT, write_timeout_ms_); }
  ssize_t read(char* ptr, size_t size) override {
    if (!is_readable()) return -1;
    ssize_t got = 0;
    do {
      got = ::recv(sock_, ptr, size, 0);
    } while (got < 0 && errno == EINTR);
    return got;
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t sent = 0;
    do {
      sent = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    return sent;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(sock_, true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(sock_, false, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  socket_t sock_;
  int write_timeout_ms_;
  Clock::time_point read_deadline_ = Clock::now();
};

// A request held in memory, for parse_static_tables(); what is written back is dropped.
class MemoryStream final : public httplib::Stream {
 public:
  explicit MemoryStream(std::string_view request) : request_(request) {}

  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t taken = std::min(size, request_.size());
    request_.copy(ptr, taken);
    request_.remove_prefix(taken);
    return static_cast<ssize_t>(taken);
  }
  ssize_t write(const char* /*ptr*/, size_t size) override { return static_cast<ssize_t>(size); }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 0;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    get_remote_ip_and_port(ip, port);
  }
  socket_t socket() const override { return INVALID_SOCKET; }

 private:
  std::string_view request_;
};

// cpp-httplib's task queue for accepted connections: threads are created as connections
// arrive, up to `max_threads`, and kept until shutdown(), which runs every queued connection
// (each answered or served) and joins them.
class ConnectionPool final : public httplib::TaskQueue {
 public:
  explicit ConnectionPool(size_t max_threads) : max_threads_(max_threads) {}
  ~ConnectionPool() override { shutdown(); }

  void enqueue(std::function<void()> job) override {
    {
      fnhost::detail::MutexLock lock(mu_);
      jobs_.push_back(std::move(job));
      if (idle_ > 0 || threads_.size() >= max_threads_) {
        work_.notify_one();
        return;
      }
      try {
        threads_.emplace_back([this] { work(); });
        return;
      } catch (const std::system_error&) {
        if (!threads_.empty()) return;  // the threads there are take it
      }
    }
    run_one_inline();  // no thread at all: serve it on the listener rather than leak the socket
  }

  void shutdown() override {
    std::vector<std::thread> threads;
    {
      fnhost::detail::MutexLock lock(mu_);
      shutdown_ = true;
      threads.swap(threads_);
    }
    work_.notify_all();
    for (std::thread& thread : threads) thread.join();
    while (run_one_inline()) {
    }
  }

 private:
  std::function<void()> take() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    return job;
  }

  bool run_one_inline() {
    std::function<void()> job;
    {
      fnhost::detail::MutexLock lock(mu_);
      if (jobs_.empty()) return false;
      job = take();
    }
    job();
    return true;
  }

  void work() {
    pthread_setname_np(pthread_self(), "fnhost-http");
    for (;;) {
      std::function<void()> job;
      {
        fnhost::detail::MutexLock lock(mu_);
        ++idle_;
        while (jobs_.empty() && !shutdown_) work_.wait(mu_);
        --idle_;
        if (jobs_.empty()) return;  // shut down and nothing left
        job = take();
      }
      job();
    }
  }

  const size_t max_threads_;
  fnhost::detail::Mutex mu_;
  fnhost::detail::CondVar work_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

void mark_request_routed() {
  if (t_connection != nullptr) t_connection->routed = true;
}

bool is_request_routed() { return t_connection != nullptr && t_connection->routed; }

void close_connection_after_response() {
  if (t_connection != nullptr) t_connection->close = true;
}

ConnectionServer::ConnectionServer(Limits limits)
    : limits_(std::move(limits)), wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  // One thread more than connections: it answers the connection over the limit.
  const auto threads = static_cast<size_t>(limits_.max_connections) + 1;
  new_task_queue = [threads] { return new ConnectionPool(threads); };
  parse_static_tables();
}

void ConnectionServer::parse_static_tables() {
  // cpp-httplib builds function-local statics (the set of known methods) on the first request
  // it parses. Parsing one here, before any connection thread exists, builds them on this
  // thread, so connections only ever read them; a ThreadSanitizer build (the library itself is
  // not instrumented, so TSan cannot see the statics' guards) then has nothing to report.
  MemoryStream request("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  bool client_closed = false;
  process_request(request, true, client_closed, nullptr);
}

ConnectionServer::~ConnectionServer() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void ConnectionServer::stop_serving() {
  if (stopping_.exchange(true)) return;
  // What httplib::Server::stop() does, but also before listen_after_bind() started running
  // (stop() does nothing until then, and the listener would then wait for ever).
  const socket_t listener = svr_sock_.exchange(INVALID_SOCKET);
  if (listener != INVALID_SOCKET) {
    ::shutdown(listener, SHUT_RDWR);
    ::close(listener);
  }
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(wake_fd_, &one, sizeof(one));
  }
}

bool ConnectionServer::try_acquire_connection() {
  int open = connections_.load();
  while (open < limits_.max_connections) {
    if (connections_.compare_exchange_weak(open, open + 1)) return true;
  }
  return false;
}

bool ConnectionServer::process_and_close_socket(socket_t sock) {
  if (stopping_.load()) {
    reject(sock, "the gateway is shutting down");
  } else if (!try_acquire_connection()) {
    reject(sock, "too many connections");
  } else {
    serve(sock);
    connections_.fetch_sub(1);
  }
  return true;
}

void ConnectionServer::serve(socket_t sock) {
  SocketStream stream(sock, limits_.request_timeout);
  ConnectionState state;
  t_connection = &state;
  const auto request_timeout = absl::ToChronoNanoseconds(limits_.request_timeout);
  for (int served = 0; served < kMaxRequestsPerConnection; ++served) {
    if (!wait_for_request(sock)) break;
    state = ConnectionState{};
    stream.set_read_deadline(Clock::now() + request_timeout);
    const bool last = stopping_.load() || served + 1 == kMaxRequestsPerConnection;
    bool client_closed = false;
    const bool answered = process_request(stream, last, client_closed, nullptr);
    if (!answered || client_closed || last || state.close || stopping_.load()) break;
  }
  t_connection = nullptr;
  if (state.close) {
    lingering_close(sock);
  } else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
}

bool ConnectionServer::wait_for_request(socket_t sock) const {
  std::array<pollfd, 2> descriptors{pollfd{.fd = sock, .events = POLLIN, .revents = 0},
                                    pollfd{.fd = wake_fd_, .events = POLLIN, .revents = 0}};
  int ready = 0;
  do {
    ready = ::poll(descriptors.data(), wake_fd_ >= 0 ? 2 : 1,
                   poll_timeout_ms(limits_.keep_alive_timeout));
  } while (ready < 0 && errno == EINTR);
  // A request already arriving is served (and answered 503 while draining) even at stop.
  return ready > 0 && descriptors[0].revents != 0;
}

void ConnectionServer::reject(socket_t sock, const char* reason) const {
  const std::string body = error_body(absl::StatusCode::kUnavailable, reason);
  const std::string response = fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
      "Retry-After: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{}",
      limits_.retry_after_seconds, body.size(), body);
  size_t sent = 0;
  while (sent < response.size() &&
         wait_ready(sock, POLLOUT, poll_timeout_ms(limits_.request_timeout))) {
    const ssize_t n = ::send(sock, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  lingering_close(sock);
}

void ConnectionServer::lingering_close(socket_t sock) const {
  ::shutdown(sock, SHUT_WR);
  const auto deadline =
      Clock::now() + absl::ToChronoNanoseconds(std::min(limits_.request_timeout, kMaxLinger));
  std::array<char, 16384> discard{};
  while (wait_ready(sock, POLLIN, poll_timeout_ms(deadline))) {
    const ssize_t n = ::recv(sock, discard.data(), discard.size(), 0);
    if (n <= 0) break;
  }
  ::close(sock);
}

}  // namespace fnhost::http::detail
