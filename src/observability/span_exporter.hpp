// SPDX-License-Identifier: Apache-2.0
// Internal (src/observability/span_exporter.hpp).
// Turns each finished, sampled invocation into a span for HostOptions::tracing.span_sink: an
// InvocationObserver, so the invocation path only keeps the span's ids (begin_span) and this
// does the rest. The span is copied and handed to `queue` (the host's telemetry queue), which
// calls the sink on its own thread.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "common/short_text.hpp"
#include "fnhost/observability.hpp"
#include "fnhost/tracing.hpp"

namespace fnhost::detail {

// A span as it waits in the telemetry queue: the facts copied out of the observer call, no
// formatting; export_to() makes the SpanRecord (and its attributes) on the telemetry thread.
struct QueuedSpan {
  std::string name;
  InvocationSpan span;
  SpanKind kind = SpanKind::kInternal;
  absl::Time start;
  absl::Time end;
  SpanStatusCode status = SpanStatusCode::kUnset;
  std::string status_message;
  ShortText<32> invocation_id;
  bool cold_start = false;
  int64_t version = 0;
  int memory_mb = 0;
  InvocationOutcome outcome = InvocationOutcome::kSuccess;
  int attempt = 1;
  absl::Duration queue_wait;
  absl::Duration cpu_time;
  int64_t billed_ms = 0;

  // Calls `sink` with a SpanRecord viewing this span.
  void export_to(SpanSink& sink) const;
};

class SpanExporter final : public InvocationObserver {
 public:
  using Queue = std::function<void(QueuedSpan&&)>;
  // `has_room`: whether `queue` would take a span now; when not, `count_dropped` counts it and
  // the span is never built.
  SpanExporter(Queue queue, std::function<bool()> has_room, std::function<void()> count_dropped)
      : queue_(std::move(queue)),
        has_room_(std::move(has_room)),
        count_dropped_(std::move(count_dropped)) {}
  void on_finished(const FinishedInvocation& finished) override;

 private:
  Queue queue_;
  std::function<bool()> has_room_;
  std::function<void()> count_dropped_;
};

}  // namespace fnhost::detail
