// SPDX-License-Identifier: Apache-2.0
// Regression tests for the host's threads: user code (Completion callbacks, log sinks) never
// runs on the timer thread; an idle host keeps no threads at all (no timer, no workers once
// idle_timeout passed); a flood of no-op events does not make the executor add threads beyond
// what the CPUs can use.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"
#include "testing/capture_log_sink.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/scale.hpp"
#include "testing/thread_names.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Completion;
using fnhost::Context;
using fnhost::Event;
using fnhost::Result;
using fnhost::testing::CapturedLogRecord;
using fnhost::testing::CaptureLogSink;
using fnhost::testing::code_of;
using fnhost::testing::count_threads_named;
using fnhost::testing::count_threads_with_prefix;
using fnhost::testing::current_thread_name;
using fnhost::testing::describe;
using fnhost::testing::describe_thread_names;
using fnhost::testing::Gate;
using fnhost::testing::GateOpener;
using fnhost::testing::make_host;
using fnhost::testing::wait_until;

constexpr const char* kTimerThread = "fnhost-timer";

// A handler that holds while the event says "hold" (at `gate`), and otherwise sleeps through
// its cancellation (so its deadline answers the caller).
fnhost::Handler hold_or_sleep(std::shared_ptr<Gate> gate, std::atomic<int>& held) {
  return [gate = std::move(gate), &held](const Event& event, Context& ctx) -> Result {
    if (event.data == "hold") {
      held.fetch_add(1);
      gate->wait();
      return "released";
    }
    ctx.sleep_for(absl::Seconds(60));
    return "slept";
  };
}

TEST_CASE("a then() callback of a timed-out invocation does not run on the timer thread",
          "[threads][regression]") {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> held{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host.register_function({.name = "slow",
                                  .handler = hold_or_sleep(gate, held),
                                  .timeout = absl::Milliseconds(20),
                                  .max_concurrency = 1})
              .ok());
  // The first invocation holds the only slot, so the second cannot start (and so cannot time
  // out) before its callback is registered.
  Completion first = host.invoke("slow", Event::with_data("hold"));
  REQUIRE(wait_until([&] { return held.load() == 1; }));
  Completion second = host.invoke("slow", {});
  std::mutex mu;
  std::string callback_thread;
  std::atomic<bool> called{false};
  std::atomic<bool> called_with_timeout{false};
  const std::thread::id test_thread = std::this_thread::get_id();
  std::atomic<bool> called_on_test_thread{false};
  second.then([&](const Result& result) {
    {
      std::lock_guard<std::mutex> lock(mu);
      callback_thread = current_thread_name();
    }
    called_on_test_thread.store(std::this_thread::get_id() == test_thread);
    called_with_timeout.store(!result.ok() &&
                              result.status().code() == absl::StatusCode::kDeadlineExceeded);
    called.store(true);
  });
  REQUIRE_FALSE(second.is_ready());
  gate->open();
  REQUIRE(wait_until([&] { return called.load(); }));
  CHECK(called_with_timeout.load());
  CHECK_FALSE(called_on_test_thread.load());
  std::lock_guard<std::mutex> lock(mu);
  INFO("callback ran on thread \"" << callback_thread << "\"");
  CHECK(callback_thread != kTimerThread);
}

TEST_CASE("the log sink is never called on the timer thread", "[threads][regression]") {
  constexpr int kTimeouts = 5;
  auto sink = std::make_shared<CaptureLogSink>();
  fnhost::Host host = make_host(fnhost::testing::quiet_options(8, sink));
  REQUIRE(host.register_function({.name = "sleepy",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    ctx.sleep_for(absl::Seconds(60));
                                    return "slept";
                                  },
                                  .timeout = absl::Milliseconds(20)})
              .ok());
  // Async invocations that time out: the host logs each failure (and each late result).
  for (int i = 0; i < kTimeouts; ++i) REQUIRE(host.invoke_async("sleepy", {}).ok());
  REQUIRE(wait_until([&] {
    return sink->count_if([](const CapturedLogRecord& record) {
      return record.level == fnhost::LogLevel::kError;
    }) >= static_cast<std::size_t>(kTimeouts);
  }));
  REQUIRE(wait_until([&] { return fnhost::testing::stats_of(host, "sleepy").in_flight == 0; }));
  const std::vector<CapturedLogRecord> records = sink->records();
  std::size_t on_timer = 0;
  std::string where;
  for (const CapturedLogRecord& record : records) {
    if (record.thread_name == kTimerThread) ++on_timer;
    where += "[" + record.thread_name + "] " + record.message + "\n";
  }
  INFO(where);
  CHECK(on_timer == 0);
}

TEST_CASE("an idle host keeps no timer thread and no worker threads", "[threads][regression]") {
  constexpr const char* kPrefix = "fnidle-w";
  auto gate = std::make_shared<Gate>();
  std::atomic<int> held{0};
  fnhost::Host host =
      make_host(fnhost::HostOptions{.executor_options = {.max_threads = 8,
                                                         .idle_timeout = absl::Milliseconds(50),
                                                         .thread_name_prefix = kPrefix},
                                    .log_sink = nullptr});
  GateOpener open_on_exit(gate);
  REQUIRE(
      host.register_function(
              {.name = "work", .handler = hold_or_sleep(gate, held), .timeout = absl::Seconds(30)})
          .ok());
  // A sync invocation with its deadline pending (a timer may exist meanwhile), then quick ones.
  Completion pending = host.invoke("work", Event::with_data("hold"));
  REQUIRE(wait_until([&] { return held.load() == 1; }));
  CHECK(count_threads_with_prefix(kPrefix) >= 1);
  gate->open();
  REQUIRE(pending.wait_for(absl::Seconds(60)));
  INFO(describe(pending.get()));
  CHECK(pending.get().ok());
  for (int i = 0; i < 10; ++i) REQUIRE(host.invoke_async("work", Event::with_data("hold")).ok());
  REQUIRE(wait_until([&] { return fnhost::testing::stats_of(host, "work").successes == 11; }));

  const bool no_timer =
      wait_until([] { return count_threads_named(kTimerThread) == 0; }, std::chrono::seconds(20));
  const bool no_workers =
      wait_until([&] { return count_threads_with_prefix(kPrefix) == 0; }, std::chrono::seconds(20));
  INFO("threads: " << describe_thread_names());
  CHECK(no_timer);
  CHECK(no_workers);
  CHECK(host.executor_stats().threads == 0);
  // And it still works afterwards.
  const Result again = host.invoke("work", Event::with_data("hold")).get();
  CHECK(again.ok());
}

// Hidden ([.soak]): the bound holds in release and debug builds on a quiet machine, but under
// other CPU load about one debug run in a hundred briefly reaches 5 threads, and sanitizer
// builds slow workers enough to look blocked. Run it with fnhost_tests "[.soak]".
TEST_CASE("a flood of no-op events from four producers stays within cpu_count + 2 threads",
          "[threads][regression][.soak]") {
  constexpr int kRuns = 5;
  constexpr int kProducers = 4;
  const auto load_duration = std::chrono::milliseconds(fnhost::testing::scaled(1000, 300));
  for (int run = 0; run < kRuns; ++run) {
    fnhost::Host host = make_host(fnhost::HostOptions{
        .executor_options = {.max_threads = 4096, .cpu_count = 2}, .log_sink = nullptr});
    REQUIRE(host.register_function({.name = "noop",
                                    .handler = [](const Event&, Context&) -> Result { return ""; }})
                .ok());
    std::atomic<int64_t> accepted{0};
    std::atomic<int64_t> refused{0};
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&] {
        // A bounded load: for a fixed time, not a synchronisation.
        const auto end = std::chrono::steady_clock::now() + load_duration;
        while (std::chrono::steady_clock::now() < end) {
          for (int i = 0; i < 64; ++i) {
            if (host.invoke_async("noop", {}).ok()) {
              accepted.fetch_add(1, std::memory_order_relaxed);
            } else {
              refused.fetch_add(1, std::memory_order_relaxed);
            }
          }
        }
      });
    }
    for (std::thread& producer : producers) producer.join();
    REQUIRE(wait_until(
        [&] { return fnhost::testing::stats_of(host, "noop").successes == accepted.load(); }));
    const fnhost::ExecutorStats stats = host.executor_stats();
    INFO("run " << run << ": accepted=" << accepted.load() << " " << describe(stats));
    CHECK(refused.load() == 0);
    if (!fnhost::testing::kSanitized) CHECK(stats.peak_threads <= 2 + 2);
  }
}

}  // namespace
