// SPDX-License-Identifier: Apache-2.0
// Internal (src/security/rate_gate.hpp).
// A token bucket as one atomic word: the generic cell rate algorithm (GCRA). The gate keeps the
// "theoretical arrival time" (TAT) of the next call: each admitted call moves it one emission
// interval (1 / rate) later, and a call is admitted while the TAT is at most the burst's
// tolerance ((burst - 1) intervals) ahead of now. That is exactly a bucket of `burst` tokens
// refilled at `rate`, but taking a token is one compare-and-swap, so the limit holds exactly
// under any number of concurrent callers with no lock and no refill thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "fnhost/limits.hpp"

namespace fnhost::detail {

// Checks a RateLimit: per_second 0 (none) or 0.001..1e9, burst 1..1e9. `field` names it in the
// message ("FunctionSpec.rate_limit").
absl::Status validate_rate_limit(const RateLimit& limit, std::string_view field);

// ResourceExhausted with `message` and the retry-after hint retry_after() reads.
absl::Status rate_limited_error(std::string message, int64_t retry_after_ns);

class RateGate {
 public:
  // Takes effect for the calls that start after it; the calls already counted stay counted
  // (the TAT is kept), so changing a limit neither refills nor drains the bucket. `limit` must
  // be valid (validate_rate_limit).
  void configure(const RateLimit& limit) {
    if (limit.per_second <= 0) {
      interval_ns_.store(0, std::memory_order_relaxed);
      return;
    }
    const int64_t interval = std::max<int64_t>(1, std::llround(1e9 / limit.per_second));
    int64_t tolerance = 0;
    if (__builtin_mul_overflow(interval, limit.burst - 1, &tolerance)) {
      tolerance = std::numeric_limits<int64_t>::max() / 2;
    }
    tolerance_ns_.store(tolerance, std::memory_order_relaxed);
    interval_ns_.store(interval, std::memory_order_relaxed);
  }

  bool limited() const { return interval_ns_.load(std::memory_order_relaxed) != 0; }

  // Takes one token at host time `now_ns`: 0 if the call may go ahead, else how many
  // nanoseconds until it would (nothing taken).
  int64_t try_take(int64_t now_ns) const {
    const int64_t interval = interval_ns_.load(std::memory_order_relaxed);
    if (interval == 0) return 0;
    const int64_t tolerance = tolerance_ns_.load(std::memory_order_relaxed);
    int64_t tat = tat_ns_.load(std::memory_order_relaxed);
    for (;;) {
      const int64_t start = std::max(tat, now_ns);
      if (start - now_ns > tolerance) return start - now_ns - tolerance;
      if (tat_ns_.compare_exchange_weak(tat, start + interval, std::memory_order_relaxed)) {
        return 0;
      }
    }
  }

 private:
  std::atomic<int64_t> interval_ns_{0};  // 0: no limit
  std::atomic<int64_t> tolerance_ns_{0};
  // Mutable: taking a token is not a change of the gate's configuration (callers hold it const).
  mutable std::atomic<int64_t> tat_ns_{0};
};

}  // namespace fnhost::detail
