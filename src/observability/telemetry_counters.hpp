// SPDX-License-Identifier: Apache-2.0
// Internal (src/observability/telemetry_counters.hpp).
// What a host's telemetry did (TelemetryStats): records and spans handed to their sinks, and
// those dropped because the telemetry queue was full.
#pragma once

#include <atomic>
#include <cstdint>

#include "common/striped_counter.hpp"

namespace fnhost::detail {

struct TelemetryCounters {
  std::atomic<int64_t> log_records{0};  // written by the export thread only
  std::atomic<int64_t> spans{0};        // written by the export thread only
  // Striped: every worker may count drops at once when the queue is full.
  StripedCounter log_records_dropped;
  StripedCounter spans_dropped;
  std::atomic<int64_t> invalid_traceparents{0};
};

}  // namespace fnhost::detail
