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
  return billed_ms_of_ns(absl::ToInt64Nanoseconds(duration));
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

namespace {
PendingReport pending(std::string_view function, std::string_view id, int64_t version,
                      const InvocationSpan* span) {
  PendingReport report{
      .function = std::string(function), .invocation_id = ShortText<32>(id), .version = version};
  if (span != nullptr) {
    report.traced = true;
    report.trace_id = span->context.trace_id;
    report.span_id = span->context.span_id;
  }
  return report;
}
}  // namespace

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
        InvocationReports::report(facts));
}

void InvocationReports::on_started(const StartedInvocation& started) {
  // Without an id the host found no room already (needs_invocation_id).
  if (started.invocation_id.empty() || !has_room_()) {
    count_dropped_(1);
    return;
  }
  writer_(pending(started.function, started.invocation_id, started.version, started.span));
}

void InvocationReports::on_finished(const FinishedInvocation& finished) {
  // One that never started had no START: it gets no END or REPORT either (the host logs the
  // drop itself).
  if (finished.outcome == InvocationOutcome::kDropped) return;
  if (finished.invocation_id.empty() || !has_room_()) {
    count_dropped_(2);
    return;
  }
  PendingReport report =
      pending(finished.function, finished.invocation_id, finished.version, finished.span);
  report.finished = true;
  report.outcome = finished.outcome;
  report.duration = finished.duration;
  report.cold_start = finished.cold_start;
  report.init_duration = finished.init_duration;
  report.cpu_time = finished.cpu_time;
  report.memory_mb = finished.memory_mb;
  writer_(std::move(report));
}

}  // namespace fnhost::detail
