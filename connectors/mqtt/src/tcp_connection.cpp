// SPDX-License-Identifier: Apache-2.0
// TcpConnection: getaddrinfo, a non-blocking connect, poll-bounded writes and reads.
#include "tcp_connection.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <memory>
#include <utility>

#include "fmt/format.h"

namespace fnhost::mqtt::detail {
namespace {

std::string system_error(int error) { return std::strerror(error); }

}  // namespace

int poll_timeout_ms(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  const double ms = std::ceil(absl::ToDoubleMilliseconds(left));
  return ms >= INT_MAX ? INT_MAX : static_cast<int>(ms);
}

absl::StatusOr<short> wait_ready(int fd, short events, absl::Time deadline, int wake_fd) {
  for (;;) {
    pollfd fds[2] = {{.fd = fd, .events = events, .revents = 0},
                     {.fd = wake_fd, .events = POLLIN, .revents = 0}};
    const int ready = ::poll(fds, wake_fd >= 0 ? 2 : 1, poll_timeout_ms(deadline));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(fmt::format("poll: {}", system_error(errno)));
    }
    if (wake_fd >= 0 && (fds[1].revents & POLLIN) != 0) return absl::CancelledError("woken");
    return fds[0].revents;
  }
}

TcpConnection::TcpConnection(TcpConnection&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

TcpConnection& TcpConnection::operator=(TcpConnection&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

TcpConnection::~TcpConnection() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<TcpConnection> TcpConnection::open(const std::string& host, int port,
                                                  absl::Time deadline, int wake_fd) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int error = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); error != 0) {
    return absl::UnavailableError(
        fmt::format("cannot resolve {}: {}", host.substr(0, 255), ::gai_strerror(error)));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  std::string last_error = "no address";
  for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
    const int fd = ::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            address->ai_protocol);
    if (fd < 0) {
      last_error = system_error(errno);
      continue;
    }
    TcpConnection connection(fd);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (::connect(fd, address->ai_addr, address->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_error = system_error(errno);
        continue;
      }
      absl::StatusOr<short> ready = wait_ready(fd, POLLOUT, deadline, wake_fd);
      if (!ready.ok()) return ready.status();
      if (*ready == 0) return absl::UnavailableError("connect timed out");
      int error = 0;
      socklen_t length = sizeof(error);
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
      if (error != 0) {
        last_error = system_error(error);
        continue;
      }
    }
    return connection;
  }
  return absl::UnavailableError(
      fmt::format("cannot connect to {}:{}: {}", host.substr(0, 255), port, last_error));
}

absl::Status TcpConnection::write_all(std::string_view bytes, absl::Time deadline, int wake_fd) {
  while (!bytes.empty()) {
    const ssize_t written = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (written > 0) {
      bytes.remove_prefix(static_cast<size_t>(written));
      continue;
    }
    if (written < 0 && errno == EINTR) continue;
    if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      absl::StatusOr<short> ready = wait_ready(fd_, POLLOUT, deadline, wake_fd);
      if (!ready.ok()) return ready.status();
      if (*ready == 0) return absl::UnavailableError("write timed out");
      continue;
    }
    return absl::UnavailableError(fmt::format("write: {}", system_error(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> TcpConnection::read_available(std::string& out, size_t limit) {
  const size_t before = out.size();
  out.resize(before + limit);
  for (;;) {
    const ssize_t got = ::recv(fd_, out.data() + before, limit, 0);
    if (got > 0) {
      out.resize(before + static_cast<size_t>(got));
      return static_cast<size_t>(got);
    }
    const int error = errno;
    out.resize(before);
    if (got == 0) return absl::UnavailableError("the broker closed the connection");
    if (error == EINTR) continue;
    if (error == EAGAIN || error == EWOULDBLOCK) return size_t{0};
    return absl::UnavailableError(fmt::format("read: {}", system_error(error)));
  }
}

void TcpConnection::shutdown() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

}  // namespace fnhost::mqtt::detail
