// SPDX-License-Identifier: Apache-2.0
// Test helpers for holding tasks inside an executor: the one-shot Gate, a Rendezvous that releases
// once N threads have arrived, a ScopeExit guard, and a CPU spin that does not sleep.
//
// Every wait here is bounded (kEscapeTimeout) and can be released from outside, so a test that
// fails while tasks are blocked can still let them finish and have the executor's destructor join
// its threads instead of hanging the test binary. Declare the Gate/Rendezvous before the executor
// and a ScopeExit that releases it after the executor, so the release runs first on every exit
// path (including a failed REQUIRE):
//
//   fnhost::testing::blocking_tasks::Gate gate;
//   auto executor = ...;
//   fnhost::testing::blocking_tasks::ScopeExit release([&] { gate.open(); });
//
// Built on std::mutex / std::condition_variable, not Abseil's, so ThreadSanitizer sees them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <utility>

#include "testing/gate.hpp"

namespace fnhost::testing::blocking_tasks {

// How long a helper wait blocks before giving up on its own: far longer than any test's deadline,
// so it only matters when the test has already failed and forgot to release.
inline constexpr std::chrono::seconds kEscapeTimeout{180};

// The one Gate (testing/gate.hpp), under the name these helpers have always used.
using Gate = ::fnhost::testing::Gate;

// Holds every arriving thread until `expected` threads have arrived (like std::latch's
// arrive_and_wait), or until release() is called, or kEscapeTimeout passed.
class Rendezvous {
 public:
  explicit Rendezvous(int expected) : expected_(expected) {}

  // Counts the caller in and blocks until everyone arrived or release(); returns false when it
  // was released early or timed out instead.
  bool arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mu_);
    ++arrived_;
    if (arrived_ >= expected_) {
      cv_.notify_all();
      return true;
    }
    cv_.wait_for(lock, kEscapeTimeout, [&] { return arrived_ >= expected_ || released_; });
    return arrived_ >= expected_;
  }

  // Escape hatch: lets every current and future waiter go. Thread-safe; idempotent.
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

  int arrived() const {
    std::lock_guard<std::mutex> lock(mu_);
    return arrived_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  const int expected_;
  int arrived_ = 0;
  bool released_ = false;
};

// Runs a callable when the scope ends.
template <class F>
class ScopeExit {
 public:
  explicit ScopeExit(F f) : f_(std::move(f)) {}
  ~ScopeExit() { f_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;

 private:
  F f_;
};

// Keeps the CPU busy with arithmetic for `duration` of steady-clock time (never sleeps), like a
// CPU-bound handler. Returns a value derived from the work so it is not optimised away.
inline std::uint64_t spin_for(std::chrono::microseconds duration) {
  const auto end = std::chrono::steady_clock::now() + duration;
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  do {
    for (int i = 0; i < 256; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
    }
  } while (std::chrono::steady_clock::now() < end);
  return x;
}

}  // namespace fnhost::testing::blocking_tasks
