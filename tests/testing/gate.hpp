// SPDX-License-Identifier: Apache-2.0
// Test helpers for holding handlers and tasks at a known point: the one Gate the tests use, and
// a guard that opens it on scope exit so a failing REQUIRE never leaves a handler blocked while
// the host drains.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "testing/wait.hpp"

namespace fnhost::testing {

// A one-shot gate: handlers wait() until the test calls open(). Waits are bounded by a
// generous timeout so a broken test fails instead of hanging forever.
class Gate {
 public:
  // Opens the gate and wakes every waiter. Idempotent.
  void open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

  [[nodiscard]] bool is_open() const {
    std::lock_guard<std::mutex> lock(mu_);
    return open_;
  }

  // Blocks until the gate is open or `timeout` passed; returns whether it is open.
  bool wait(std::chrono::milliseconds timeout = kGenerousTimeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    ++waiting_;
    const bool opened = cv_.wait_for(lock, timeout, [this] { return open_; });
    --waiting_;
    return opened;
  }

  // Threads inside wait() now.
  [[nodiscard]] int waiting() const {
    std::lock_guard<std::mutex> lock(mu_);
    return waiting_;
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool open_ = false;
  mutable int waiting_ = 0;
};

// Opens `gate` when it goes out of scope. Declare it *after* the Host so that, on any exit
// (including a failed REQUIRE), the gate opens before the host's destructor drains.
class GateOpener {
 public:
  explicit GateOpener(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}
  ~GateOpener() { gate_->open(); }
  GateOpener(const GateOpener&) = delete;
  GateOpener& operator=(const GateOpener&) = delete;

 private:
  std::shared_ptr<Gate> gate_;
};

}  // namespace fnhost::testing
