// SPDX-License-Identifier: Apache-2.0
// Turning a duration into a point in time without overflow. absl::InfiniteDuration() (and any
// duration longer than a century) means "never": added naively to a clock reading it wraps
// into the past and "wait forever" becomes "don't wait". Every duration that reaches a clock
// goes through these helpers.
#pragma once

#include <chrono>
#include <cstdint>

#include "absl/time/time.h"

namespace fnhost::detail {

// Far enough ahead to be "never" for any process, near enough that adding it to a steady-clock
// reading (nanoseconds since boot) or converting it between clocks cannot overflow.
inline constexpr int64_t kNeverNs = int64_t{100} * 365 * 24 * 3600 * 1'000'000'000;

// `duration` in nanoseconds, clamped to [0, kNeverNs]: negative means now, infinite or huge
// means never.
inline int64_t saturated_ns(absl::Duration duration) {
  if (duration <= absl::ZeroDuration()) return 0;
  if (duration >= absl::Nanoseconds(kNeverNs)) return kNeverNs;
  return absl::ToInt64Nanoseconds(duration);
}

// `now_ns + duration`, saturating at now_ns + kNeverNs.
inline int64_t deadline_ns_after(int64_t now_ns, absl::Duration duration) {
  return now_ns + saturated_ns(duration);
}

// The steady-clock time `duration` from now, saturating as above.
inline std::chrono::steady_clock::time_point steady_deadline_after(absl::Duration duration) {
  return std::chrono::steady_clock::now() + std::chrono::nanoseconds(saturated_ns(duration));
}

}  // namespace fnhost::detail
