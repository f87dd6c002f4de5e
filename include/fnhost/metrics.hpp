// SPDX-License-Identifier: Apache-2.0
// File: fnhost/metrics.hpp
// A host's metrics at one moment: a snapshot struct for a program that renders its own view (a
// game's debug overlay, a device's status page), and its Prometheus text exposition.
//
//   const fnhost::HostMetrics metrics = host.metrics();
//   for (const fnhost::FunctionStats& function : metrics.functions) draw(function);
//   std::string text = fnhost::prometheus_text(metrics);  // serve it at /metrics
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "fnhost/limits.hpp"
#include "fnhost/executor.hpp"
#include "fnhost/function.hpp"
#include "fnhost/router.hpp"

namespace fnhost {

// The host's log records and spans on their way to the sinks (HostOptions::log_sink,
// TracingOptions::span_sink).
struct TelemetryStats {
  int64_t log_records = 0;           // handed to the log sink
  int64_t log_records_dropped = 0;   // dropped: the queue was full
  int64_t spans = 0;                 // handed to the span sink
  int64_t spans_dropped = 0;         // dropped: the queue was full
  int64_t queued = 0;                // gauge: waiting for their sink now
  int64_t invalid_traceparents = 0;  // events whose traceparent was ignored as invalid
};

struct HostMetrics {
  absl::Time time;                       // when the snapshot was taken (the host's clock)
  std::vector<FunctionStats> functions;  // every registered function, by name
  ExecutorStats executor;
  RouterStats router;
  std::vector<TriggerInfo> triggers;    // by id
  std::vector<ScheduleInfo> schedules;  // by id
  TelemetryStats telemetry;
  LimitStats limits;  // refusals by HostOptions::limits, and what counts against them now
  AccessStats access;  // calls the policy refused (Host::set_policy)
};

// The Prometheus text exposition format (version 0.0.4) of `metrics`: every family with its
// HELP and TYPE lines, counters ending in `_total`, durations in seconds, the duration
// histograms as `_bucket`/`_sum`/`_count`; label values escaped (`\\`, `\"`, `\n`). The
// README lists the families. Serve it with Content-Type `text/plain; version=0.0.4`.
[[nodiscard]] std::string prometheus_text(const HostMetrics& metrics);

}  // namespace fnhost
