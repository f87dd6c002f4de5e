// SPDX-License-Identifier: Apache-2.0
// START, END and REPORT records per invocation, in the spirit of Lambda's (HostOptions::
// invocation_logs): an InvocationObserver, so the invocation path does nothing for them when
// they are off. On the invocation's thread it only copies the facts (no formatting); the
// records are formatted where they are written, on the host's telemetry thread.
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

class InvocationReports final : public InvocationObserver {
 public:
  // Where reports go (the host queues them for its log sink).
  using Writer = std::function<void(PendingReport&&)>;
  // `has_room`: whether the writer would take a report now; when not, the report is counted
  // with `count_dropped` (its number of records) and never built.
  using Room = std::function<bool()>;
  InvocationReports(Writer writer, Room has_room, std::function<void(int64_t)> count_dropped)
      : writer_(std::move(writer)),
        has_room_(std::move(has_room)),
        count_dropped_(std::move(count_dropped)) {}

  void on_started(const StartedInvocation& started) override;
  void on_finished(const FinishedInvocation& finished) override;

  // Whole milliseconds billed for `duration`: rounded up, at least 1 (Lambda's rule).
  static int64_t billed_ms(absl::Duration duration);
  // The same for a duration in nanoseconds (what the meter sums, without Duration arithmetic).
  static int64_t billed_ms_of_ns(int64_t duration_ns) {
    constexpr int64_t kNsPerMs = 1'000'000;
    if (duration_ns <= kNsPerMs) return 1;
    return duration_ns / kNsPerMs + (duration_ns % kNsPerMs != 0 ? 1 : 0);
  }
  // The REPORT message of `finished`.
  static std::string report(const FinishedInvocation& finished);

 private:
  Writer writer_;
  Room has_room_;
  std::function<void(int64_t)> count_dropped_;
};

}  // namespace fnhost::detail
