// SPDX-License-Identifier: Apache-2.0
// Regression tests for admission racing shutdown: an invocation that admission refuses (queue
// full, shutting down) must never be counted anywhere — not in the queued gauge, not in another
// caller's "N invocations waiting", not as work a runner or shutdown() waits for — and every
// accepted invocation ends exactly once.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"
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
using fnhost::testing::describe;
using fnhost::testing::make_host;
using fnhost::testing::quiet_options;
using fnhost::testing::scaled;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;
using fnhost::testing::Watchdog;

// The N of a ResourceExhausted message's "(N invocations waiting", or -1 if absent.
int64_t quoted_waiting(const absl::Status& status) {
  const absl::string_view message = status.message();
  const std::string text(message.data(), message.size());
  const std::size_t at = text.find(" invocations waiting");
  if (at == std::string::npos) return -1;
  std::size_t begin = at;
  while (begin > 0 && text[begin - 1] >= '0' && text[begin - 1] <= '9') --begin;
  if (begin == at) return -1;
  return std::stoll(text.substr(begin, at - begin));
}

// What producers saw, merged after they joined.
struct Outcomes {
  std::atomic<int64_t> async_accepted{0};
  std::atomic<int64_t> async_exhausted{0};
  std::atomic<int64_t> async_unavailable{0};
  std::atomic<int64_t> async_other{0};
  std::atomic<int64_t> sync_calls{0};
  std::atomic<int64_t> exhausted_quotes_over_limit{0};  // "N invocations waiting" with N > limit
  std::atomic<int64_t> exhausted_without_quote{0};
  std::atomic<int64_t> worst_quote{0};
  std::mutex completions_mu;
  std::vector<Completion> completions;  // every sync call's Completion
};

void note_exhausted(Outcomes& outcomes, const absl::Status& status, int max_queued) {
  const int64_t quoted = quoted_waiting(status);
  if (quoted < 0) {
    outcomes.exhausted_without_quote.fetch_add(1);
    return;
  }
  if (quoted > max_queued) outcomes.exhausted_quotes_over_limit.fetch_add(1);
  int64_t worst = outcomes.worst_quote.load();
  while (quoted > worst && !outcomes.worst_quote.compare_exchange_weak(worst, quoted)) {
  }
}

// One run: `producers` threads (half invoke_async on "async", half invoke on "sync"; both
// functions max_concurrency 1 and `max_queued`), a monitor sampling both queued gauges, and a
// thread that calls shutdown(`shutdown_timeout`) after a random number of attempts.
void race_producers_against_shutdown(int producers, int max_queued, absl::Duration shutdown_timeout,
                                     uint32_t seed) {
  INFO("producers=" << producers << " max_queued=" << max_queued << " shutdown timeout="
                    << absl::FormatDuration(shutdown_timeout) << " seed=" << seed);
  constexpr int kMaxAttemptsPerProducer = 4000;
  std::atomic<int64_t> async_entered{0};
  std::atomic<int64_t> sync_entered{0};
  std::atomic<int64_t> async_returned{0};
  std::atomic<int64_t> sync_returned{0};
  Outcomes outcomes;
  std::atomic<int64_t> attempts{0};
  std::atomic<bool> shutdown_returned{false};
  std::atomic<bool> monitoring{true};
  std::atomic<int64_t> peak_queued{0};
  std::atomic<int64_t> samples{0};
  std::atomic<int64_t> stats_failures{0};
  ShutdownReport report;
  FunctionStats sync_stats;
  FunctionStats async_stats;

  // A hang here is the defect under test (a phantom count a runner or shutdown waits for).
  Watchdog watchdog("admission race (shutdown or the host destructor)", std::chrono::seconds(240));
  {
    std::optional<fnhost::Host> host(make_host(quiet_options(8)));
    const auto make_spec = [max_queued](std::string name, std::atomic<int64_t>& entered,
                                        std::atomic<int64_t>& returned) {
      return fnhost::FunctionSpec{
          .name = std::move(name),
          .handler = [&entered, &returned](const Event&, Context&) -> Result {
            entered.fetch_add(1);
            // A little work, so the queue fills up.
            for (int i = 0; i < 200; ++i) std::this_thread::yield();
            returned.fetch_add(1);
            return "";
          },
          .timeout = absl::Seconds(60),
          .max_concurrency = 1,
          .max_queued = max_queued};
    };
    REQUIRE(host->register_function(make_spec("async", async_entered, async_returned)).ok());
    REQUIRE(host->register_function(make_spec("sync", sync_entered, sync_returned)).ok());

    std::thread monitor([&] {
      while (monitoring.load()) {
        for (const char* name : {"async", "sync"}) {
          absl::StatusOr<FunctionStats> stats = host->function_stats(name);
          if (!stats.ok()) {
            stats_failures.fetch_add(1);
            continue;
          }
          samples.fetch_add(1);
          int64_t peak = peak_queued.load();
          while (stats->queued > peak && !peak_queued.compare_exchange_weak(peak, stats->queued)) {
          }
        }
        std::this_thread::yield();
      }
    });

    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      const bool async = p % 2 == 0;
      threads.emplace_back([&, async] {
        std::vector<Completion> mine;
        for (int i = 0; i < kMaxAttemptsPerProducer && !shutdown_returned.load(); ++i) {
          attempts.fetch_add(1);
          if (async) {
            const absl::Status status = host->invoke_async("async", {});
            if (status.ok()) {
              outcomes.async_accepted.fetch_add(1);
            } else if (status.code() == absl::StatusCode::kResourceExhausted) {
              outcomes.async_exhausted.fetch_add(1);
              note_exhausted(outcomes, status, max_queued);
            } else if (status.code() == absl::StatusCode::kUnavailable) {
              outcomes.async_unavailable.fetch_add(1);
            } else {
              outcomes.async_other.fetch_add(1);
            }
          } else {
            outcomes.sync_calls.fetch_add(1);
            Completion done = host->invoke("sync", {});
            if (done.is_ready() && !done.get().ok() &&
                done.get().status().code() == absl::StatusCode::kResourceExhausted) {
              note_exhausted(outcomes, done.get().status(), max_queued);
            }
            mine.push_back(std::move(done));
          }
        }
        std::lock_guard<std::mutex> lock(outcomes.completions_mu);
        for (Completion& done : mine) outcomes.completions.push_back(std::move(done));
      });
    }

    std::mt19937 random(seed);
    const int64_t trigger = std::uniform_int_distribution<int64_t>(
        0, int64_t{producers} * kMaxAttemptsPerProducer / 4)(random);
    std::thread stopper([&] {
      wait_until([&] { return attempts.load() >= trigger; });
      report = host->shutdown(shutdown_timeout);
      shutdown_returned.store(true);
    });
    stopper.join();
    for (std::thread& thread : threads) thread.join();
    monitoring.store(false);
    monitor.join();
    // Every accepted sync invocation was answered by the time shutdown() returned.
    int64_t not_ready = 0;
    for (const Completion& done : outcomes.completions) {
      if (!done.is_ready()) ++not_ready;
    }
    CHECK(not_ready == 0);
    // Let runner tasks still in the executor end (bounded: a spinning one is the defect), then
    // read the counters the report must agree with.
    // With the generous default timeout: a loaded machine can keep runners busy for long.
    wait_until([&] {
      const fnhost::ExecutorStats executor = host->executor_stats();
      return executor.busy == 0 && executor.queued == 0;
    });
    sync_stats = stats_of(*host, "sync");
    async_stats = stats_of(*host, "async");
    host.reset();  // the destructor returns (the watchdog fails the run if it does not)
  }

  INFO("report: completed=" << report.completed << " dropped=" << report.dropped
                            << " unfinished=" << report.unfinished);
  INFO("after shutdown: " << describe(sync_stats) << " " << describe(async_stats));
  CHECK(stats_failures.load() == 0);
  CHECK(samples.load() > 0);
  // The queued gauge never counted a refused invocation (nor wrapped below zero).
  CHECK(peak_queued.load() <= max_queued);
  CHECK(sync_stats.queued == 0);
  CHECK(async_stats.queued == 0);
  // Refusals quote at most max_queued waiting invocations.
  INFO("worst quoted 'N invocations waiting': " << outcomes.worst_quote.load());
  CHECK(outcomes.exhausted_quotes_over_limit.load() == 0);
  CHECK(outcomes.exhausted_without_quote.load() == 0);
  CHECK(outcomes.async_other.load() == 0);

  // The host accepted exactly what producers were told was accepted.
  CHECK(async_stats.invocations == outcomes.async_accepted.load());

  // Async: each accepted invocation ran once (to its end: all handlers returned when the host
  // was destroyed) or was dropped by shutdown, never both, never neither.
  CHECK(async_entered.load() == async_returned.load());
  CHECK(async_entered.load() + async_stats.dropped == outcomes.async_accepted.load());
  // Sync: every completion is answered; the answers match the host's counters.
  int64_t sync_ok = 0;
  int64_t sync_exhausted = 0;
  int64_t sync_unavailable = 0;
  int64_t sync_other = 0;
  for (const Completion& done : outcomes.completions) {
    if (!done.is_ready()) continue;  // counted above
    const Result& result = done.get();
    if (result.ok()) {
      ++sync_ok;
    } else if (result.status().code() == absl::StatusCode::kResourceExhausted) {
      ++sync_exhausted;
    } else if (result.status().code() == absl::StatusCode::kUnavailable) {
      ++sync_unavailable;
    } else {
      ++sync_other;
    }
  }
  CHECK(static_cast<int64_t>(outcomes.completions.size()) == outcomes.sync_calls.load());
  CHECK(sync_other == 0);
  CHECK(sync_ok == sync_stats.successes);
  CHECK(sync_entered.load() == sync_returned.load());
  CHECK(sync_entered.load() + sync_stats.dropped == sync_stats.invocations);
  // Accepted sync invocations answered Unavailable (dropped or cancelled by shutdown) are among
  // the Unavailable answers; the rest of those were refusals.
  CHECK(sync_stats.invocations - sync_ok - sync_stats.errors - sync_stats.timeouts <=
        sync_unavailable);
  CHECK(sync_exhausted == sync_stats.throttles);
  CHECK(outcomes.async_exhausted.load() == async_stats.throttles);

  // The report accounts for everything that did not end on its own.
  const int64_t ended = sync_stats.successes + sync_stats.errors + sync_stats.timeouts +
                        async_stats.successes + async_stats.errors + async_stats.timeouts;
  const int64_t accepted = sync_stats.invocations + async_stats.invocations;
  CHECK(report.dropped == sync_stats.dropped + async_stats.dropped);
  CHECK(ended + report.dropped + report.unfinished == accepted);
}

TEST_CASE("refused invocations are never counted while producers race shutdown",
          "[admission][regression][stress]") {
  const int producers = GENERATE(8, 16);
  const int max_queued = GENERATE(1, 2);
  const int rounds = scaled(12, 3);
  std::random_device device;
  const uint32_t base_seed = device();
  for (int round = 0; round < rounds; ++round) {
    // Shutdown deadlines from "drop everything now" to "long enough to drain".
    const absl::Duration timeout = round % 3 == 0   ? absl::ZeroDuration()
                                   : round % 3 == 1 ? absl::Milliseconds(1)
                                                    : absl::Seconds(30);
    race_producers_against_shutdown(producers, max_queued, timeout,
                                    base_seed + static_cast<uint32_t>(round));
  }
}

TEST_CASE("one producer in a tight invoke_async loop racing shutdown never hangs the host",
          "[admission][regression][stress]") {
  const int iterations = scaled(200, 40);
  const int max_queued = GENERATE(0, 1);
  std::random_device device;
  std::mt19937 random(device());
  int hosts_with_wrong_counts = 0;
  int hosts_with_queued_left = 0;
  std::string first_problem;
  for (int iteration = 0; iteration < iterations; ++iteration) {
    std::atomic<int64_t> runs{0};
    std::atomic<int64_t> accepted{0};
    std::atomic<bool> stop{false};
    ShutdownReport report;
    FunctionStats stats;
    const int64_t trigger = std::uniform_int_distribution<int64_t>(0, 200)(random);
    Watchdog watchdog("iteration " + std::to_string(iteration) + " of shutdown racing a producer",
                      std::chrono::seconds(120));
    {
      std::optional<fnhost::Host> host(make_host(quiet_options(4)));
      REQUIRE(host->register_function({.name = "tight",
                                       .handler = [&runs](const Event&, Context&) -> Result {
                                         runs.fetch_add(1);
                                         return "";
                                       },
                                       .max_concurrency = 1,
                                       .max_queued = max_queued})
                  .ok());
      std::atomic<int64_t> attempts{0};
      std::thread producer([&] {
        // Until shutdown returned, and then a few more refusals.
        int after = 0;
        while (after < 50) {
          if (stop.load()) ++after;
          attempts.fetch_add(1);
          if (host->invoke_async("tight", {}).ok()) accepted.fetch_add(1);
        }
      });
      wait_until([&] { return attempts.load() >= trigger; });
      report = host->shutdown(iteration % 2 == 0 ? absl::ZeroDuration() : absl::Milliseconds(1));
      stop.store(true);
      producer.join();
      wait_until(
          [&] {
            const fnhost::ExecutorStats executor = host->executor_stats();
            return executor.busy == 0 && executor.queued == 0;
          },
          std::chrono::seconds(10));
      stats = stats_of(*host, "tight");
      host.reset();
    }
    // Each accepted invocation either ran (its handler started; all returned before the host
    // was destroyed) or was dropped; and it ended either on its own or in the report.
    const bool counts_ok =
        stats.invocations == accepted.load() && runs.load() + report.dropped == accepted.load() &&
        stats.successes + stats.errors + stats.timeouts + report.dropped + report.unfinished ==
            accepted.load();
    if (!counts_ok) ++hosts_with_wrong_counts;
    if (stats.queued != 0) ++hosts_with_queued_left;
    if ((!counts_ok || stats.queued != 0) && first_problem.empty()) {
      first_problem = "iteration " + std::to_string(iteration) +
                      ": accepted=" + std::to_string(accepted.load()) +
                      " runs=" + std::to_string(runs.load()) +
                      " dropped=" + std::to_string(report.dropped) +
                      " unfinished=" + std::to_string(report.unfinished) + " " + describe(stats);
    }
  }
  INFO("max_queued=" << max_queued << "; first problem: " << first_problem);
  CHECK(hosts_with_wrong_counts == 0);
  CHECK(hosts_with_queued_left == 0);
}

}  // namespace
