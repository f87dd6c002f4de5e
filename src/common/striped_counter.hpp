// SPDX-License-Identifier: Apache-2.0
// Internal (src/common/striped_counter.hpp).
// A counter that many threads bump often (records dropped by a full telemetry queue: under
// load, every invocation on every worker): each thread adds to one of a few stripes on lines of
// their own, so the adds do not bounce one cache line between CPUs; reading sums the stripes.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "common/sync.hpp"

namespace fnhost::detail {

class StripedCounter {
 public:
  void add(int64_t value) { stripes_[stripe()].value.fetch_add(value, std::memory_order_relaxed); }
  [[nodiscard]] int64_t load() const {
    int64_t sum = 0;
    for (const Stripe& stripe : stripes_) sum += stripe.value.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  static constexpr size_t kStripes = 8;
  struct alignas(kCacheLine) Stripe {
    std::atomic<int64_t> value{0};
  };
  // Each thread's stripe, chosen once, round robin.
  static size_t stripe() {
    static std::atomic<size_t> next{0};
    thread_local const size_t mine = next.fetch_add(1, std::memory_order_relaxed) % kStripes;
    return mine;
  }

  std::array<Stripe, kStripes> stripes_;
};

}  // namespace fnhost::detail
