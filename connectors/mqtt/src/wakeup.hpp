// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/mqtt/src/wakeup.hpp).
// An eventfd one thread polls and others signal: how a host thread's settlement, or stop(),
// wakes the connector's thread out of poll().
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace fnhost::mqtt::detail {

class Wakeup {
 public:
  Wakeup() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~Wakeup() {
    if (fd_ >= 0) ::close(fd_);
  }
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  // Whether the eventfd could be created (the process may be out of descriptors).
  [[nodiscard]] bool ok() const { return fd_ >= 0; }
  // Makes fd() readable until clear().
  void signal() {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(fd_, &one, sizeof(one));
  }
  // Makes fd() unreadable again.
  void clear() {
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t got = ::read(fd_, &count, sizeof(count));
  }
  [[nodiscard]] int fd() const { return fd_; }

 private:
  int fd_;
};

}  // namespace fnhost::mqtt::detail
