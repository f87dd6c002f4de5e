// SPDX-License-Identifier: Apache-2.0
// The host's side of the public ManualClock: its steady reading, an adapter the timer service
// reads, and attaching a host's timer service so that advance() fires its timers.
#pragma once

#include <cstdint>

#include "absl/time/time.h"
#include "fnhost/clock.hpp"
#include "host/timer_service.hpp"

namespace fnhost::detail {

struct ManualClockAccess {
  // The clock's steady reading in nanoseconds: a fixed base (never 0, which the host reads as
  // "not set") plus the time advanced. Cheap: one atomic load.
  static constexpr int64_t kSteadyBaseNs = 1'000'000'000;
  static int64_t steady_ns(const fnhost::ManualClock& clock) {
    return kSteadyBaseNs + clock.elapsed_ns_.load();
  }
  // The steady reading at which the clock's wall time is `wall` (the two move together).
  static int64_t steady_ns_at(const fnhost::ManualClock& clock, absl::Time wall) {
    return kSteadyBaseNs + absl::ToInt64Nanoseconds(wall - clock.start_);
  }
  // advance() fires `timers` until detach(); detach() waits for an advance() firing them.
  static void attach(fnhost::ManualClock& clock, TimerService* timers);
  static void detach(fnhost::ManualClock& clock, TimerService* timers);
};

// The public ManualClock as the timer service's Clock.
class ManualClockAdapter final : public Clock {
 public:
  explicit ManualClockAdapter(const fnhost::ManualClock* clock) : clock_(clock) {}
  [[nodiscard]] int64_t now_ns() const override { return ManualClockAccess::steady_ns(*clock_); }

 private:
  const fnhost::ManualClock* clock_;
};

}  // namespace fnhost::detail
