// SPDX-License-Identifier: Apache-2.0
#include "observability/invocation_reports.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "fmt/format.h"

namespace fnhost::detail {

namespace {
double milliseconds(absl::Duration duration) { return absl::ToDoubleMilliseconds(duration); }
}  // namespace

int64_t InvocationReports::billed_ms(absl::Duration duration) {
  const int64_t whole = absl::ToInt64Milliseconds(duration);
  const bool remainder = duration > absl::Milliseconds(whole);
  return std::max<int64_t>(1, whole + (remainder ? 1 : 0));
}

std::string InvocationReports::report(const FinishedInvocation& finished) {
  std::string out = fmt::format(
      "REPORT RequestId: {} Duration: {:.2f} ms Billed Duration: {} ms Memory Size: {} MB",
      finished.invocation_id, milliseconds(finished.duration), billed_ms(finished.duration),
      finished.memory_mb);
  if (finished.cold_start) {
    fmt::format_to(std::back_inserter(out), " Init Duration: {:.2f} ms",
                   milliseconds(finished.init_duration));
  }
  fmt::format_to(std::back_inserter(out), " CPU Time: {:.2f} ms Outcome: {}",
                 milliseconds(finished.cpu_time), to_string(finished.outcome));
  return out;
}

void InvocationReports::on_started(const StartedInvocation& started) {
  writer_(LogLevel::kInfo, started.function, started.invocation_id,
          fmt::format("START RequestId: {} Version: {}", started.invocation_id, started.version),
          started.span);
}

void InvocationReports::on_finished(const FinishedInvocation& finished) {
  // One that never started had no START: it gets no END or REPORT either (the host logs the
  // drop itself).
  if (finished.outcome == InvocationOutcome::kDropped) return;
  writer_(LogLevel::kInfo, finished.function, finished.invocation_id,
          fmt::format("END RequestId: {}", finished.invocation_id), finished.span);
  const LogLevel level =
      finished.outcome == InvocationOutcome::kSuccess ? LogLevel::kInfo : LogLevel::kWarning;
  writer_(level, finished.function, finished.invocation_id, report(finished), finished.span);
}

}  // namespace fnhost::detail
