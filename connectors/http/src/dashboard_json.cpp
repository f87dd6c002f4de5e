// SPDX-License-Identifier: Apache-2.0
#include "dashboard_json.hpp"

#include <nlohmann/json.hpp>

namespace fnhost::http::detail {
namespace {

using nlohmann::json;

// A percentile in milliseconds; null until an invocation finished (a 0 would read as "fast").
json milliseconds_or_null(const DurationSummary& summary, absl::Duration value) {
  if (summary.count == 0) return nullptr;
  return absl::ToDoubleMilliseconds(value);
}

json function_json(const FunctionStats& stats) {
  return {
      {"name", stats.name},
      {"version", stats.version},
      {"invocations", stats.invocations},
      {"successes", stats.successes},
      {"errors", stats.errors},
      {"throttles", stats.throttles},
      {"timeouts", stats.timeouts},
      {"cold_starts", stats.cold_starts},
      {"p50_ms", milliseconds_or_null(stats.duration, stats.duration.p50)},
      {"p99_ms", milliseconds_or_null(stats.duration, stats.duration.p99)},
      {"concurrent_executions", stats.in_flight},
      {"queue_depth", stats.queued},
  };
}

json executor_json(const ExecutorStats& stats) {
  return {
      {"threads", stats.threads}, {"busy", stats.busy},
      {"blocked", stats.blocked}, {"idle", stats.idle},
      {"queued", stats.queued},   {"peak_threads", stats.peak_threads},
      {"spawned", stats.spawned}, {"reclaimed", stats.reclaimed},
  };
}

json sample_json(const ExecutorSample& sample) {
  return {{"unix_ms", sample.unix_ms},
          {"threads", sample.threads},
          {"busy", sample.busy},
          {"queued", sample.queued}};
}

}  // namespace

std::string dashboard_json(const HostMetrics& metrics, const std::vector<ExecutorSample>& history,
                           absl::Duration refresh) {
  json functions = json::array();
  for (const FunctionStats& stats : metrics.functions) functions.push_back(function_json(stats));
  json samples = json::array();
  for (const ExecutorSample& sample : history) samples.push_back(sample_json(sample));
  const json body = {
      {"time", absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", metrics.time, absl::UTCTimeZone())},
      {"refresh_ms", absl::ToInt64Milliseconds(refresh)},
      {"functions", std::move(functions)},
      {"executor", executor_json(metrics.executor)},
      {"executor_history", std::move(samples)},
  };
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace fnhost::http::detail
