// SPDX-License-Identifier: Apache-2.0
// Test helpers for waiting on conditions instead of sleeping.
#pragma once

#include <chrono>
#include <thread>

namespace fnhost::testing {

// Generous bound for conditions that should become true quickly: a slow or loaded machine (or a
// sanitizer build) must never fail a test by being slow.
inline constexpr std::chrono::seconds kGenerousTimeout{60};

// Polls `predicate` until it returns true or `timeout` passes; returns its last value. Polling
// backs off from busy checks to 1 ms naps, so it costs little CPU while the code under test runs.
template <class Predicate>
bool wait_until(Predicate&& predicate, std::chrono::milliseconds timeout = kGenerousTimeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int round = 0;; ++round) {
    if (predicate()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return predicate();
    if (round < 100) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

}  // namespace fnhost::testing
