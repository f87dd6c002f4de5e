// SPDX-License-Identifier: Apache-2.0
// Internal (src/observability/run_telemetry.hpp).
// START, END and REPORT records per invocation, in the spirit of Lambda's
// (HostOptions::invocation_logs), and a span per sampled invocation (HostOptions::tracing): a
// HostObserver, so the invocation path does nothing for them when both are off. On the
// invocation's thread it only copies the facts (no formatting) and queues them, START as the
// invocation starts and everything else in one item as it ends; the records and the span are
// formatted and handed to their sinks on the host's telemetry thread.
#pragma once

#include <functional>

#include "absl/time/time.h"
#include "fnhost/observability.hpp"
#include "fnhost/tracing.hpp"
#include "observability/host_observer.hpp"
#include "observability/invocation_reports.hpp"
#include "observability/telemetry_counters.hpp"
#include "observability/telemetry_queue.hpp"

namespace fnhost::detail {

class RunTelemetry final : public HostObserver {
 public:
  struct Options {
    // Where START/END/REPORT go; null: none are written.
    LogSink* log_sink = nullptr;
    // Where spans go; null: none are exported.
    SpanSink* span_sink = nullptr;
    TelemetryQueue* queue = nullptr;
    TelemetryCounters* counters = nullptr;
    // The host's wall time of a steady time (the records' time, the span's start and end).
    std::function<absl::Time(int64_t steady_ns)> wall_at;
  };
  explicit RunTelemetry(Options options) : options_(std::move(options)) {}

  // False when START found the queue full: END, REPORT and the span are counted dropped with it.
  // The dropping paths are inline: under load they are what almost every invocation takes.
  bool run_started(const RunFacts& run) override {
    if (!run.keeps_records) return drop_all(run);
    return options_.log_sink == nullptr || queue_start(run) || drop_all(run);
  }
  void run_finished(const RunFacts& run) override {
    if (run.keeps_records) queue_finish(run);  // else counted as it started
  }

  // Frees the record boxes a burst left beyond what their pools keep.
  static void trim_pools();

 private:
  [[nodiscard]] bool exports_span(const RunFacts& run) const {
    return options_.span_sink != nullptr && run.span != nullptr && run.span->context.sampled();
  }
  void count_dropped(int64_t log_records, bool span) const {
    if (log_records > 0) options_.counters->log_records_dropped.add(log_records);
    if (span) options_.counters->spans_dropped.add(1);
  }
  // Counts all of a run's records dropped at once (START, END, REPORT and the span).
  bool drop_all(const RunFacts& run) const {
    count_dropped(options_.log_sink != nullptr ? 3 : 0, exports_span(run));
    return false;
  }
  // Queue START, or END, REPORT and the span in one item; false when the queue is full.
  bool queue_start(const RunFacts& run);
  void queue_finish(const RunFacts& run);
  // On the telemetry thread: START, or END and REPORT, to the log sink.
  void write_report(const PendingReport& report) const;

  const Options options_;
};

}  // namespace fnhost::detail
