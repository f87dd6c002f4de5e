// SPDX-License-Identifier: Apache-2.0
// Internal (src/observability/span_exporter.hpp).
// A finished, sampled invocation's span as it waits in the telemetry queue for
// HostOptions::tracing.span_sink (RunTelemetry, run_telemetry.hpp, queues it), and the default
// OTLP/JSON sink.
#pragma once

#include <array>
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

}  // namespace fnhost::detail
