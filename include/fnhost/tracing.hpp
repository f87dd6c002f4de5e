// SPDX-License-Identifier: Apache-2.0
// File: fnhost/tracing.hpp
// Traces: with HostOptions::tracing.span_sink set, every invocation that starts is a span.
// Its parent comes from the event's `traceparent` extension attribute (with `tracestate`: the
// CloudEvents distributed-tracing extension); an event without one, or with an invalid one
// (counted in TelemetryStats::invalid_traceparents and logged as a warning, never trusted),
// starts a new trace. Context::invoke, invoke_async and publish, destinations and retries write
// the invocation's own span into the events they send as `traceparent` (and its `tracestate`),
// so a chain of calls is one trace; a retry's span is a child of the attempt before it.
// Sampling: a span with a parent follows the parent's sampled flag; a new trace is sampled
// with probability sample_ratio. Spans not sampled still pass their context on, with the
// sampled flag clear; only sampled spans reach the sink.
//
//   fnhost::HostOptions options;
//   options.tracing.span_sink = fnhost::make_json_span_sink();  // OTLP/JSON lines on stderr
//   options.tracing.sample_ratio = 0.1;
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "absl/time/time.h"
#include "fnhost/trace.hpp"

namespace fnhost {

// An invocation's span: its trace (the trace id, its own span id, the flags and the tracestate
// it passes on) and the span it was called from (all zero for the root of a trace).
struct InvocationSpan {
  TraceContext context;
  std::array<uint8_t, 8> parent_span_id{};
  [[nodiscard]] bool has_parent() const { return parent_span_id != std::array<uint8_t, 8>{}; }
};

// OpenTelemetry's span kinds and status codes, with OTLP's numbers.
enum class SpanKind { kInternal = 1, kServer = 2, kClient = 3, kProducer = 4, kConsumer = 5 };
enum class SpanStatusCode { kUnset = 0, kOk = 1, kError = 2 };

struct SpanAttribute {
  std::string_view key;
  std::variant<std::string_view, int64_t, bool> value;
};

// One finished span, as a SpanSink receives it. The views are valid only during export().
//   name: the function; kind: kServer for invoke(), kConsumer for asynchronous invocations;
//   status: kUnset on success, kError (with a message) on error, timeout or cancellation;
//   attributes: faas.invocation_id, faas.coldstart, faas.version, faas.max_memory (bytes),
//   fnhost.outcome, fnhost.attempt, fnhost.queue_wait_ns, fnhost.cpu_time_ns,
//   fnhost.billed_duration_ms.
struct SpanRecord {
  std::string_view name;
  InvocationSpan span;
  SpanKind kind = SpanKind::kInternal;
  absl::Time start;
  absl::Time end;
  SpanStatusCode status = SpanStatusCode::kUnset;
  std::string_view status_message;
  std::span<const SpanAttribute> attributes;
};

// Receives sampled spans on the host's "fnhost-export" thread, through the same bounded queue
// as log records (HostOptions::telemetry_queue_capacity; overflow is dropped and counted in
// TelemetryStats::spans_dropped). An exception it throws is caught and the span dropped.
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  virtual void export_span(const SpanRecord& span) = 0;
};

// One span as one line of OTLP/JSON (an ExportTraceServiceRequest holding one span, as the
// OpenTelemetry Collector's otlpjsonfile receiver reads): hex ids, kind and status code as
// numbers, times as decimal strings of Unix nanoseconds, int attributes as decimal strings,
// and the resource attribute service.name = `service_name`. No trailing newline.
[[nodiscard]] std::string format_span_json(const SpanRecord& span, std::string_view service_name);

// A sink that writes format_span_json lines to `out` (not closed by it; default stderr), whole
// lines never interleaved, flushed after each line.
[[nodiscard]] std::shared_ptr<SpanSink> make_json_span_sink(std::FILE* out = stderr,
                                                            std::string service_name = "fnhost");

struct TracingOptions {
  // Where sampled spans go. Null (the default): tracing is off — no span, no trace ids in log
  // records, no traceparent written into events.
  std::shared_ptr<SpanSink> span_sink;
  // Share of new traces sampled: 0..1.
  double sample_ratio = 1.0;
};

}  // namespace fnhost
