// SPDX-License-Identifier: Apache-2.0
// Shared helpers for the Host tests: quiet host creation, small specs, readable statuses.
#pragma once

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "fnhost/completion.hpp"
#include "fnhost/executor.hpp"
#include "fnhost/function.hpp"
#include "fnhost/host.hpp"
#include "fnhost/observability.hpp"
#include "testing/gate.hpp"

// The tests build FunctionSpec and HostOptions with designated initializers, naming only the
// fields a case cares about; the others keep their documented defaults. GCC 12's -Wextra flags
// every omitted field (-Wmissing-field-initializers), which with -Werror would force each spec
// to spell out all fields and hide what the case is about. Clarity wins: silence it here, for
// the test files that include this header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif

namespace Catch {
template <>
struct StringMaker<absl::StatusCode> {
  static std::string convert(absl::StatusCode code) { return absl::StatusCodeToString(code); }
};
}  // namespace Catch

namespace fnhost::testing {

// Options for a host that logs nowhere (or to `sink`) and runs on at most `max_threads` workers.
inline HostOptions quiet_options(int max_threads = 8, std::shared_ptr<LogSink> sink = nullptr) {
  return HostOptions{.executor_options = {.max_threads = max_threads}, .log_sink = std::move(sink)};
}

// Options for a host that runs on `executor` (e.g. a ManualExecutor) and logs nowhere.
inline HostOptions manual_options(std::shared_ptr<Executor> executor,
                                  std::shared_ptr<LogSink> sink = nullptr) {
  return HostOptions{.executor = std::move(executor), .log_sink = std::move(sink)};
}

// Creates a host, failing the test if that fails.
inline Host make_host(HostOptions options = quiet_options()) {
  absl::StatusOr<Host> host = Host::create(std::move(options));
  REQUIRE(host.ok());
  return std::move(host).value();
}

// A host on a manual clock — deadlines, schedules, retry backoffs, batch windows and event
// ages follow `clock` — with `options` otherwise (real worker threads unless they name an
// executor).
struct ClockedHost {
  std::shared_ptr<ManualClock> clock = ManualClock::create();
  Host host;

  explicit ClockedHost(HostOptions options = quiet_options())
      : host(with_clock(std::move(options), clock)) {}

 private:
  static Host with_clock(HostOptions options, const std::shared_ptr<ManualClock>& clock) {
    options.clock = clock;
    return make_host(std::move(options));
  }
};

// A handler that counts itself in `started`, waits at `gate` and returns `output`: holds
// invocations running while a test looks at queues, limits and gauges.
inline Handler gated_handler(std::shared_ptr<Gate> gate, std::atomic<int>& started,
                             std::string output = "") {
  return [gate = std::move(gate), &started, output = std::move(output)](const Event&,
                                                                        Context&) -> Result {
    started.fetch_add(1);
    gate->wait();
    return output;
  };
}

// "OK: <value>" or the status as text, for INFO() and failure messages.
inline std::string describe(const Result& result) {
  if (result.ok()) return "OK: " + *result;
  return result.status().ToString();
}

// One line with every ExecutorStats field, for INFO() when a wait on the executor fails.
inline std::string describe(const ExecutorStats& stats) {
  return "executor{threads=" + std::to_string(stats.threads) +
         " busy=" + std::to_string(stats.busy) + " blocked=" + std::to_string(stats.blocked) +
         " stuck=" + std::to_string(stats.stuck) + " idle=" + std::to_string(stats.idle) +
         " queued=" + std::to_string(stats.queued) + " spawned=" + std::to_string(stats.spawned) +
         " reclaimed=" + std::to_string(stats.reclaimed) +
         " completed=" + std::to_string(stats.completed) +
         " peak_threads=" + std::to_string(stats.peak_threads) +
         " peak_running=" + std::to_string(stats.peak_running) + "}";
}

// One line with the counters and gauges of a FunctionStats, for INFO().
inline std::string describe(const FunctionStats& stats) {
  return "function{" + stats.name + " v" + std::to_string(stats.version) +
         " invocations=" + std::to_string(stats.invocations) +
         " successes=" + std::to_string(stats.successes) +
         " errors=" + std::to_string(stats.errors) +
         " throttles=" + std::to_string(stats.throttles) +
         " timeouts=" + std::to_string(stats.timeouts) +
         " cold_starts=" + std::to_string(stats.cold_starts) +
         " late_results=" + std::to_string(stats.late_results) +
         " dropped=" + std::to_string(stats.dropped) +
         " in_flight=" + std::to_string(stats.in_flight) +
         " queued=" + std::to_string(stats.queued) +
         " instances=" + std::to_string(stats.instances) + "}";
}

// Executor and function state of `host` in one line, for INFO() after a failed wait.
inline std::string describe_state(const Host& host, std::string_view name) {
  absl::StatusOr<FunctionStats> stats = host.function_stats(name);
  return describe(host.executor_stats()) + " " +
         (stats.ok() ? describe(*stats) : stats.status().ToString());
}

inline absl::StatusCode code_of(const Result& result) { return result.status().code(); }

inline std::string message_of(const Result& result) {
  const absl::string_view message = result.status().message();
  return std::string(message.data(), message.size());
}

inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Whether `status`'s message contains `needle` (absl::string_view is not std::string_view in
// Debian's Abseil, so take the Status itself).
inline bool message_contains(const absl::Status& status, std::string_view needle) {
  const absl::string_view message = status.message();
  return contains(std::string_view(message.data(), message.size()), needle);
}

// A handler that returns the event's data.
inline Handler echo_handler() {
  return [](const Event& event, Context&) -> Result { return event.data; };
}

// A handler that counts its runs in `runs` and returns nothing.
inline Handler counting_handler(std::atomic<int>& runs) {
  return [&runs](const Event&, Context&) -> Result {
    runs.fetch_add(1);
    return std::string();
  };
}

// A spec for `name` that echoes its event's data.
inline FunctionSpec echo_spec(std::string name) {
  return FunctionSpec{.name = std::move(name), .handler = echo_handler()};
}

// A spec for `name` whose handler returns `value`.
inline FunctionSpec constant_spec(std::string name, std::string value) {
  return FunctionSpec{
      .name = std::move(name),
      .handler = [value = std::move(value)](const Event&, Context&) -> Result { return value; }};
}

// Current stats of `name`; fails the test if the function is unknown.
inline FunctionStats stats_of(const Host& host, std::string_view name) {
  absl::StatusOr<FunctionStats> stats = host.function_stats(name);
  REQUIRE(stats.ok());
  return *std::move(stats);
}

}  // namespace fnhost::testing
