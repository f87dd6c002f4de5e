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

int64_t billed_ms(absl::Duration duration) {
  return billed_ms_of_ns(absl::ToInt64Nanoseconds(duration));
}

std::string report_message(const FinishedInvocation& finished) {
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

void PendingReport::emit(const std::function<void(LogLevel, std::string_view)>& write) const {
  if (!finished) {
    write(LogLevel::kInfo,
          fmt::format("START RequestId: {} Version: {}", invocation_id.view(), version));
    return;
  }
  write(LogLevel::kInfo, fmt::format("END RequestId: {}", invocation_id.view()));
  const FinishedInvocation facts{.function = function,
                                 .version = version,
                                 .outcome = outcome,
                                 .duration = duration,
                                 .cold_start = cold_start,
                                 .init_duration = init_duration,
                                 .invocation_id = invocation_id.view(),
                                 .cpu_time = cpu_time,
                                 .memory_mb = memory_mb};
  write(outcome == InvocationOutcome::kSuccess ? LogLevel::kInfo : LogLevel::kWarning,
        report_message(facts));
}

}  // namespace fnhost::detail
