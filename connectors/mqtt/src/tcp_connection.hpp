// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/mqtt/src/tcp_connection.hpp).
// A non-blocking TCP connection with bounded waits: connect, write everything, read what is
// there. Every wait also watches an optional wake descriptor (an eventfd another thread writes
// to), so a thread blocked here can be told to give up.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fnhost::mqtt::detail {

class TcpConnection {
 public:
  TcpConnection() = default;
  TcpConnection(TcpConnection&& other) noexcept;
  TcpConnection& operator=(TcpConnection&& other) noexcept;
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;
  ~TcpConnection();

  // Resolves `host` and connects to the first address that accepts before `deadline`, with
  // TCP_NODELAY. Unavailable (with the system's reason) when none does; Cancelled when
  // `wake_fd` (-1: none) became readable first.
  [[nodiscard]] static absl::StatusOr<TcpConnection> open(const std::string& host, int port,
                                                          absl::Time deadline, int wake_fd);

  // Writes all of `bytes` before `deadline`: Unavailable if the peer is gone or the deadline
  // passed (the connection is then unusable), Cancelled when `wake_fd` became readable.
  [[nodiscard]] absl::Status write_all(std::string_view bytes, absl::Time deadline, int wake_fd);

  // Appends what can be read now (up to `limit` bytes) to `out`, without waiting: the count
  // (0 when nothing is there), or Unavailable when the peer closed or the read failed.
  [[nodiscard]] absl::StatusOr<size_t> read_available(std::string& out, size_t limit);

  // Shuts both directions down (a poll on it wakes up); the descriptor stays open.
  void shutdown();

  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] bool is_open() const { return fd_ >= 0; }

 private:
  explicit TcpConnection(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Waits until `fd` is ready for `events` (POLLIN/POLLOUT), `wake_fd` is readable, or `deadline`
// passes. Returns the ready events of `fd` (0 on timeout or wake), or Cancelled on a wake.
[[nodiscard]] absl::StatusOr<short> wait_ready(int fd, short events, absl::Time deadline,
                                               int wake_fd);

// A poll timeout in milliseconds for `deadline`: 0 if passed, -1 if infinite, rounded up.
[[nodiscard]] int poll_timeout_ms(absl::Time deadline);

}  // namespace fnhost::mqtt::detail
