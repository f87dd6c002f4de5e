// SPDX-License-Identifier: Apache-2.0
// START, END and REPORT records per invocation, in the spirit of Lambda's (HostOptions::
// invocation_logs): the facts each one says, as they wait in the telemetry queue, and their
// messages (formatted where they are written, on the host's telemetry thread). RunTelemetry
// (run_telemetry.hpp) queues them.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "common/short_text.hpp"
#include "fnhost/observability.hpp"

namespace fnhost::detail {

// What START, or END and REPORT, say about one invocation, copied out of the observer call.
struct PendingReport {
  bool finished = false;  // false: START; true: END and REPORT
  std::string function;
  ShortText<32> invocation_id;
  int64_t version = 0;
  bool traced = false;
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  // END and REPORT only.
  InvocationOutcome outcome = InvocationOutcome::kSuccess;
  absl::Duration duration;
  bool cold_start = false;
  absl::Duration init_duration;
  absl::Duration cpu_time;
  int memory_mb = 0;
  // When the host queued it: the records' time.
  absl::Time queued_at;

  // Calls `write(level, message)` for each of its records, in order.
  void emit(const std::function<void(LogLevel, std::string_view)>& write) const;
};

// Whole milliseconds billed for `duration`: rounded up, at least 1 (Lambda's rule).
int64_t billed_ms(absl::Duration duration);
// The same for a duration in nanoseconds (what the host measures, without Duration arithmetic).
inline int64_t billed_ms_of_ns(int64_t duration_ns) {
  constexpr int64_t kNsPerMs = 1'000'000;
  if (duration_ns <= kNsPerMs) return 1;
  return duration_ns / kNsPerMs + (duration_ns % kNsPerMs != 0 ? 1 : 0);
}
// The REPORT message of `finished`.
std::string report_message(const FinishedInvocation& finished);

}  // namespace fnhost::detail
