// SPDX-License-Identifier: Apache-2.0
#include "observability/run_telemetry.hpp"

#include <string>
#include <utility>

#include "common/pooled_box.hpp"
#include "observability/invocation_reports.hpp"
#include "observability/span_exporter.hpp"

namespace fnhost::detail {

namespace {

// What an invocation's end queues, in one item: END and REPORT, and its span.
struct FinishedRecords {
  bool has_report = false;
  PendingReport report;
  bool has_span = false;
  QueuedSpan span;
};

PendingReport report_of(const RunFacts& run, absl::Time at) {
  PendingReport report{.function = std::string(run.function),
                       .invocation_id = ShortText<32>(run.invocation_id),
                       .version = run.version,
                       .queued_at = at};
  if (run.span != nullptr) {
    report.traced = true;
    report.trace_id = run.span->context.trace_id;
    report.span_id = run.span->context.span_id;
  }
  return report;
}

}  // namespace

void RunTelemetry::trim_pools() {
  PooledBox<PendingReport>::trim_excess();
  PooledBox<FinishedRecords>::trim_excess();
}

void RunTelemetry::write_report(const PendingReport& report) const {
  const std::string trace_id = report.traced ? trace_id_hex(report.trace_id) : "";
  const std::string span_id = report.traced ? span_id_hex(report.span_id) : "";
  report.emit([&](LogLevel level, std::string_view message) {
    options_.log_sink->write(LogRecord{.time = report.queued_at,
                                       .level = level,
                                       .function = report.function,
                                       .invocation_id = report.invocation_id.view(),
                                       .message = message,
                                       .trace_id = trace_id,
                                       .span_id = span_id});
    options_.counters->log_records.fetch_add(1, std::memory_order_relaxed);
  });
}

bool RunTelemetry::queue_start(const RunFacts& run) {
  // Boxed: the closure then fits the queue item's inline storage (no allocation per record).
  return options_.queue->push(
      [this, boxed = PooledBox<PendingReport>(report_of(run, options_.wall_at(run.start_ns)))]() {
        write_report(*boxed);
      });
}

void RunTelemetry::queue_finish(const RunFacts& run) {
  const int64_t log_records = options_.log_sink != nullptr ? 2 : 0;
  const bool span = exports_span(run);
  const int64_t duration_ns = run.end_ns - run.start_ns;
  FinishedRecords records;
  if (log_records > 0) {
    records.has_report = true;
    records.report = report_of(run, options_.wall_at(run.end_ns));
    PendingReport& report = records.report;
    report.finished = true;
    report.outcome = run.outcome;
    report.duration = absl::Nanoseconds(duration_ns);
    report.cold_start = run.cold_start;
    report.init_duration = absl::Nanoseconds(run.init_ns);
    report.cpu_time = absl::Nanoseconds(run.cpu_ns);
    report.memory_mb = run.memory_mb;
  }
  if (span) {
    records.has_span = true;
    const absl::Time start = options_.wall_at(run.start_ns);
    records.span = QueuedSpan{.name = std::string(run.function),
                              .span = *run.span,
                              .kind = run.is_async ? SpanKind::kConsumer : SpanKind::kServer,
                              .start = start,
                              .end = start + absl::Nanoseconds(duration_ns),
                              .invocation_id = ShortText<32>(run.invocation_id),
                              .cold_start = run.cold_start,
                              .version = run.version,
                              .memory_mb = run.memory_mb,
                              .outcome = run.outcome,
                              .attempt = run.attempt,
                              .queue_wait = absl::Nanoseconds(run.start_ns - run.admitted_ns),
                              .cpu_time = absl::Nanoseconds(run.cpu_ns),
                              .billed_ms = billed_ms_of_ns(duration_ns)};
    if (run.outcome != InvocationOutcome::kSuccess) {
      records.span.status = SpanStatusCode::kError;
      records.span.status_message =
          run.error.empty() ? std::string(to_string(run.outcome)) : std::string(run.error);
    }
  }
  const bool pushed =
      options_.queue->push([this, boxed = PooledBox<FinishedRecords>(std::move(records))]() {
        const FinishedRecords& finished = *boxed;
        if (finished.has_span) {
          try {
            finished.span.export_to(*options_.span_sink);
            options_.counters->spans.fetch_add(1, std::memory_order_relaxed);
          } catch (...) {
            // A failing span sink loses the span, not the records queued with it.
          }
        }
        if (!finished.has_report) return;
        write_report(finished.report);
      });
  if (!pushed) count_dropped(log_records, span);
}

}  // namespace fnhost::detail
