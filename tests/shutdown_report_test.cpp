// SPDX-License-Identifier: Apache-2.0
// Regression tests for the ShutdownReport: with thousands of quick invocations queued and a tiny
// shutdown deadline, the report counts every invocation that did not end on its own — exactly,
// and finally: nothing is dropped (or answered) after shutdown() returned.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"
#include "testing/blocking_tasks.hpp"
#include "testing/capture_log_sink.hpp"
#include "testing/host_helpers.hpp"
#include "testing/scale.hpp"
#include "testing/wait.hpp"
#include "testing/watchdog.hpp"

namespace {

using fnhost::Completion;
using fnhost::Context;
using fnhost::Event;
using fnhost::FunctionStats;
using fnhost::Result;
using fnhost::ShutdownReport;
using fnhost::testing::CaptureLogSink;
using fnhost::testing::CapturedLogRecord;
using fnhost::testing::describe;
using fnhost::testing::make_host;
using fnhost::testing::quiet_options;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

const std::vector<std::string> kFunctions = {"noop", "spin", "limited"};

struct Totals {
  int64_t invocations = 0;
  int64_t ended = 0;  // successes + errors + timeouts
  int64_t dropped = 0;
  int64_t queued = 0;
};

Totals totals_of(const fnhost::Host& host) {
  Totals totals;
  for (const std::string& name : kFunctions) {
    const FunctionStats stats = stats_of(host, name);
    totals.invocations += stats.invocations;
    totals.ended += stats.successes + stats.errors + stats.timeouts;
    totals.dropped += stats.dropped;
    totals.queued += stats.queued;
  }
  return totals;
}

// Everything one run found; checked by the caller, which counts the runs that broke each rule.
struct RunResult {
  int64_t not_ready = 0;            // sync completions not answered when shutdown() returned
  int64_t sync_unavailable = 0;     // sync callers answered Unavailable
  int64_t async_abandoned = 0;      // async invocations logged as failed (dropped / cancelled)
  int64_t sync_other_errors = 0;
  int64_t accepted = 0;
  int64_t entered = 0;              // handler runs that started (all returned by the end)
  ShutdownReport report;
  Totals right_after;               // counters right after shutdown() returned
  Totals later;                     // and once the executor went quiet
  std::string describe() const {
    return "accepted=" + std::to_string(accepted) + " entered=" + std::to_string(entered) +
           " report{completed=" + std::to_string(report.completed) +
           " dropped=" + std::to_string(report.dropped) +
           " unfinished=" + std::to_string(report.unfinished) + "}" +
           " not_ready=" + std::to_string(not_ready) +
           " sync_unavailable=" + std::to_string(sync_unavailable) +
           " async_abandoned=" + std::to_string(async_abandoned) +
           " sync_other_errors=" + std::to_string(sync_other_errors) +
           " stats.dropped right after=" + std::to_string(right_after.dropped) +
           " later=" + std::to_string(later.dropped) +
           " stats.ended right after=" + std::to_string(right_after.ended) +
           " later=" + std::to_string(later.ended);
  }
};

RunResult run_once(int invocations, absl::Duration timeout) {
  RunResult run;
  std::atomic<int64_t> entered{0};
  auto sink = std::make_shared<CaptureLogSink>();
  std::vector<Completion> completions;
  {
    std::optional<fnhost::Host> host(make_host(quiet_options(8, sink)));
    const auto handler = [&entered](int spin_us) {
      return [&entered, spin_us](const Event&, Context&) -> Result {
        entered.fetch_add(1);
        if (spin_us > 0) {
          fnhost::testing::blocking_tasks::spin_for(std::chrono::microseconds(spin_us));
        }
        return "";
      };
    };
    REQUIRE(host->register_function({.name = "noop", .handler = handler(0)}).ok());
    REQUIRE(host->register_function({.name = "spin", .handler = handler(5)}).ok());
    REQUIRE(host->register_function(
                    {.name = "limited", .handler = handler(20), .max_concurrency = 1})
                .ok());
    completions.reserve(static_cast<std::size_t>(invocations));
    for (int i = 0; i < invocations; ++i) {
      const std::string& name = kFunctions[static_cast<std::size_t>(i) % kFunctions.size()];
      if (i % 4 == 0) {
        completions.push_back(host->invoke(name, {}));
        ++run.accepted;  // nothing refuses before shutdown: no limits on the queues
      } else if (host->invoke_async(name, {}).ok()) {
        ++run.accepted;
      }
    }
    run.report = host->shutdown(timeout);
    // Right when shutdown() returned: every sync caller has its answer, the drops are final.
    for (const Completion& done : completions) {
      if (!done.is_ready()) ++run.not_ready;
    }
    run.right_after = totals_of(*host);
    // Once runner tasks left in the executor ended, no more drops may have been counted.
    wait_until(
        [&] {
          const fnhost::ExecutorStats executor = host->executor_stats();
          return executor.busy == 0 && executor.queued == 0;
        },
        std::chrono::seconds(10));
    run.later = totals_of(*host);
    // The error records reach the sink on the host's background export thread, which a loaded
    // machine may starve for longer than the destructor's one-second flush.
    host->flush_telemetry(absl::Seconds(120));
    host.reset();
  }
  run.entered = entered.load();
  for (const Completion& done : completions) {
    if (!done.is_ready()) continue;
    const Result& result = done.get();
    if (result.ok()) continue;
    if (result.status().code() == absl::StatusCode::kUnavailable) {
      ++run.sync_unavailable;
    } else {
      ++run.sync_other_errors;
    }
  }
  // The handlers never fail, so every error record is an async invocation shutdown dropped or
  // cancelled (late results of cancelled handlers are warnings).
  run.async_abandoned = static_cast<int64_t>(sink->count_if([](const CapturedLogRecord& record) {
    return record.level == fnhost::LogLevel::kError && !record.invocation_id.empty();
  }));
  return run;
}

TEST_CASE("the shutdown report counts exactly the invocations that did not end and is final",
          "[shutdown][regression][stress]") {
  const int runs = fnhost::testing::scaled(200, 20);
  const int invocations = fnhost::testing::scaled(3000, 1000);
  const absl::Duration timeout = GENERATE(absl::ZeroDuration(), absl::Milliseconds(1));
  INFO("shutdown timeout " << absl::FormatDuration(timeout));
  fnhost::testing::Watchdog watchdog("shutdown report runs", std::chrono::seconds(500));

  int not_ready_runs = 0;
  int unavailable_mismatch_runs = 0;
  int stats_dropped_mismatch_runs = 0;
  int dropped_after_return_runs = 0;
  int drained_mismatch_runs = 0;
  int ended_mismatch_runs = 0;
  int ran_or_dropped_mismatch_runs = 0;
  int other_error_runs = 0;
  int undrained_runs = 0;
  std::string first_problem;
  for (int i = 0; i < runs; ++i) {
    const RunResult run = run_once(invocations, timeout);
    const ShutdownReport& report = run.report;
    const int64_t abandoned = report.dropped + report.unfinished;
    const int64_t answered_unavailable = run.sync_unavailable + run.async_abandoned;
    bool problem = false;
    const auto flag = [&](bool broken, int& counter) {
      if (broken) {
        ++counter;
        problem = true;
      }
    };
    flag(run.not_ready != 0, not_ready_runs);
    flag(answered_unavailable != abandoned, unavailable_mismatch_runs);
    flag(run.right_after.dropped != report.dropped, stats_dropped_mismatch_runs);
    flag(run.later.dropped != run.right_after.dropped, dropped_after_return_runs);
    flag(report.drained() != (answered_unavailable == 0), drained_mismatch_runs);
    flag(run.later.ended != run.accepted - report.dropped - report.unfinished,
         ended_mismatch_runs);
    // Each accepted invocation started exactly once, unless it was dropped.
    flag(run.entered + report.dropped != run.accepted ||
             run.right_after.invocations != run.accepted,
         ran_or_dropped_mismatch_runs);
    flag(run.sync_other_errors != 0, other_error_runs);
    if (!report.drained()) ++undrained_runs;
    if (problem && first_problem.empty()) {
      first_problem = "run " + std::to_string(i) + ": " + run.describe();
    }
  }
  INFO("runs=" << runs << " (" << undrained_runs << " not drained); first problem: "
               << first_problem);
  CHECK(not_ready_runs == 0);
  CHECK(unavailable_mismatch_runs == 0);
  CHECK(stats_dropped_mismatch_runs == 0);
  CHECK(dropped_after_return_runs == 0);
  CHECK(drained_mismatch_runs == 0);
  CHECK(ended_mismatch_runs == 0);
  CHECK(ran_or_dropped_mismatch_runs == 0);
  CHECK(other_error_runs == 0);
}

}  // namespace
