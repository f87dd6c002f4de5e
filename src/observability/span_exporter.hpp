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
#include "fnhost/observability.hpp"
#include "fnhost/tracing.hpp"

namespace fnhost::detail {

// A span as it waits in the telemetry queue: owned copies of what SpanRecord views.
struct QueuedSpan {
  std::string name;
  InvocationSpan span;
  SpanKind kind = SpanKind::kInternal;
  absl::Time start;
  absl::Time end;
  SpanStatusCode status = SpanStatusCode::kUnset;
  std::string status_message;
  // Keys are string literals; string values are owned here.
  struct Attribute {
    const char* key;
    std::variant<std::string, int64_t, bool> value;
  };
  std::vector<Attribute> attributes;

  // Calls `sink` with a SpanRecord viewing this span.
  void export_to(SpanSink& sink) const;
};

class SpanExporter final : public InvocationObserver {
 public:
  using Queue = std::function<void(QueuedSpan&&)>;
  explicit SpanExporter(Queue queue) : queue_(std::move(queue)) {}
  void on_finished(const FinishedInvocation& finished) override;

 private:
  Queue queue_;
};

}  // namespace fnhost::detail
