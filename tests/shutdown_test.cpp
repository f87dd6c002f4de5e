// SPDX-License-Identifier: Apache-2.0
// Tests for Host::shutdown and the destructor: refusing new work, draining, dropping what is
// still queued at the deadline, cancelling what still runs, and reporting every count.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"
#include "testing/capture_log_sink.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"
#include "testing/watchdog.hpp"

namespace {

using fnhost::Completion;
using fnhost::Context;
using fnhost::Event;
using fnhost::Result;
using fnhost::ShutdownReport;
using fnhost::testing::CaptureLogSink;
using fnhost::testing::code_of;
using fnhost::testing::describe;
using fnhost::testing::echo_spec;
using fnhost::testing::Gate;
using fnhost::testing::GateOpener;
using fnhost::testing::make_host;
using fnhost::testing::manual_options;
using fnhost::testing::quiet_options;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

void check_all_zero(const ShutdownReport& report) {
  CHECK(report.completed == 0);
  CHECK(report.dropped == 0);
  CHECK(report.unfinished == 0);
  CHECK(report.drained());
}

TEST_CASE("shutdown with nothing pending reports a clean drain and refuses new work",
          "[shutdown]") {
  fnhost::Host host = make_host();
  REQUIRE(host.register_function(echo_spec("echo")).ok());
  REQUIRE(host.invoke("echo", Event::with_data("before")).get().ok());
  CHECK(host.is_accepting());

  const absl::Duration timeout = GENERATE(absl::ZeroDuration(), absl::Seconds(5));
  ShutdownReport report = host.shutdown(timeout);
  CHECK(report.dropped == 0);
  CHECK(report.unfinished == 0);
  CHECK(report.drained());
  CHECK_FALSE(host.is_accepting());

  Completion refused = host.invoke("echo", Event::with_data("after"));
  REQUIRE(refused.is_ready());
  CHECK(code_of(refused.get()) == absl::StatusCode::kUnavailable);
  CHECK(host.invoke_async("echo", {}).code() == absl::StatusCode::kUnavailable);
  CHECK(host.register_function(echo_spec("late")).code() == absl::StatusCode::kUnavailable);
  CHECK_FALSE(host.has_function("late"));

  check_all_zero(host.shutdown(absl::Seconds(1)));
}

TEST_CASE("shutdown waits for running and queued invocations that finish in time", "[shutdown]") {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host
              .register_function({
                  .name = "held",
                  .handler = [gate, &started, &finished](const Event&, Context&) -> Result {
                    started.fetch_add(1);
                    gate->wait();
                    finished.fetch_add(1);
                    return "done";
                  },
                  .timeout = absl::Hours(1),
                  .max_concurrency = 1,
              })
              .ok());
  Completion running = host.invoke("held", {});
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  Completion queued = host.invoke("held", {});
  REQUIRE(host.invoke_async("held", {}).ok());
  REQUIRE(wait_until([&] { return stats_of(host, "held").queued == 2; }));

  ShutdownReport report;
  std::thread stopper([&] { report = host.shutdown(absl::Seconds(60)); });
  // Shutdown stops accepting before it waits; only then let the work finish.
  REQUIRE(wait_until([&] { return !host.is_accepting(); }));
  gate->open();
  stopper.join();

  CHECK(report.completed == 3);
  CHECK(report.dropped == 0);
  CHECK(report.unfinished == 0);
  CHECK(report.drained());
  CHECK(finished.load() == 3);
  const Result& first = running.get();
  INFO(describe(first));
  CHECK(first.ok());
  CHECK(queued.get().ok());
  check_all_zero(host.shutdown(absl::Seconds(1)));
}

TEST_CASE("at the shutdown deadline queued work is dropped and running work is cancelled",
          "[shutdown]") {
  constexpr int kQueuedSync = 2;
  constexpr int kQueuedAsync = 2;
  constexpr int kQueued = kQueuedSync + kQueuedAsync;
  auto gate = std::make_shared<Gate>();
  auto sink = std::make_shared<CaptureLogSink>();
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  std::atomic<bool> saw_cancellation{false};
  std::optional<fnhost::Host> host(make_host(quiet_options(8, sink)));
  std::optional<GateOpener> open_on_exit(std::in_place, gate);
  REQUIRE(host->register_function({
                                      .name = "held",
                                      .handler = [gate, &started, &finished, &saw_cancellation](
                                                     const Event&, Context& ctx) -> Result {
                                        started.fetch_add(1);
                                        gate->wait();
                                        saw_cancellation.store(ctx.is_cancelled());
                                        finished.fetch_add(1);
                                        return "finished late";
                                      },
                                      .timeout = absl::Hours(1),
                                      .max_concurrency = 1,
                                  })
              .ok());
  Completion running = host->invoke("held", {});
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  std::vector<Completion> queued;
  for (int i = 0; i < kQueuedSync; ++i) queued.push_back(host->invoke("held", {}));
  for (int i = 0; i < kQueuedAsync; ++i) REQUIRE(host->invoke_async("held", {}).ok());
  REQUIRE(wait_until([&] { return stats_of(*host, "held").queued == kQueued; }));

  ShutdownReport report = host->shutdown(absl::Milliseconds(100));
  CHECK(report.unfinished == 1);
  CHECK(report.dropped == kQueued);
  CHECK(report.completed == 0);
  CHECK_FALSE(report.drained());
  CHECK_FALSE(host->is_accepting());

  // Every sync caller is answered Unavailable, without waiting for the blocked handler.
  REQUIRE(running.wait_for(absl::Seconds(60)));
  INFO(describe(running.get()));
  CHECK(code_of(running.get()) == absl::StatusCode::kUnavailable);
  for (const Completion& done : queued) {
    REQUIRE(done.wait_for(absl::Seconds(60)));
    CHECK(code_of(done.get()) == absl::StatusCode::kUnavailable);
  }
  fnhost::FunctionStats stats = stats_of(*host, "held");
  CHECK(stats.dropped == kQueued);
  CHECK(stats.queued == 0);
  CHECK(finished.load() == 0);
  // The dropped async invocations are not lost silently: the log says so.
  CHECK(wait_until([&] {
    return sink->count_if([](const fnhost::testing::CapturedLogRecord& record) {
      return record.function == "held";
    }) >= static_cast<std::size_t>(kQueuedAsync);
  }));

  // A second shutdown has nothing left to report.
  check_all_zero(host->shutdown(absl::Milliseconds(10)));

  // Let the cancelled handler return: it saw its cancellation; its result goes nowhere.
  gate->open();
  REQUIRE(wait_until([&] { return finished.load() == 1; }));
  CHECK(saw_cancellation.load());
  CHECK(code_of(running.get()) == absl::StatusCode::kUnavailable);
  // Destroying the host waits for that handler; the dropped invocations never run.
  open_on_exit.reset();
  host.reset();
  CHECK(started.load() == 1);
  CHECK(finished.load() == 1);
}

TEST_CASE("shutdown cancels a running handler that waits on its cancellation", "[shutdown]") {
  std::atomic<int> started{0};
  std::atomic<int> sleep_result{0};  // 1: slept to the end, 2: cancelled
  fnhost::Host host = make_host();
  REQUIRE(host.register_function({
                                     .name = "sleeper",
                                     .handler = [&](const Event&, Context& ctx) -> Result {
                                       started.fetch_add(1);
                                       sleep_result.store(ctx.sleep_for(absl::Seconds(60)) ? 1 : 2);
                                       return "woke";
                                     },
                                     .timeout = absl::Hours(1),
                                 })
              .ok());
  REQUIRE(host.invoke_async("sleeper", {}).ok());
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  ShutdownReport report = host.shutdown(absl::Milliseconds(50));
  CHECK(report.unfinished == 1);
  CHECK(report.dropped == 0);
  CHECK(wait_until([&] { return sleep_result.load() != 0; }));
  CHECK(sleep_result.load() == 2);
}

TEST_CASE("destroying a host drains its queued async work", "[shutdown]") {
  constexpr int kEvents = 300;
  std::atomic<int> runs{0};
  int accepted = 0;
  {
    fnhost::Host host = make_host(quiet_options(2));
    REQUIRE(host.register_function({
                                       .name = "slowish",
                                       .handler = [&runs](const Event&, Context&) -> Result {
                                         runs.fetch_add(1);
                                         return "";
                                       },
                                       .max_concurrency = 1,
                                   })
                .ok());
    for (int i = 0; i < kEvents; ++i) {
      if (host.invoke_async("slowish", {}).ok()) ++accepted;
    }
  }
  CHECK(accepted == kEvents);
  CHECK(runs.load() == accepted);
}

TEST_CASE("a host on a ManualExecutor pumps the executor itself while shutting down",
          "[shutdown]") {
  constexpr int kSync = 5;
  constexpr int kAsync = 5;
  auto executor = std::make_shared<fnhost::ManualExecutor>();
  int runs = 0;  // handlers run on this thread: shutdown pumps the executor here
  fnhost::Host host = make_host(manual_options(executor));
  REQUIRE(host.register_function({.name = "count",
                                  .handler = [&runs](const Event& event, Context&) -> Result {
                                    ++runs;
                                    return event.data;
                                  }})
              .ok());
  std::vector<Completion> completions;
  for (int i = 0; i < kSync; ++i) {
    completions.push_back(host.invoke("count", Event::with_data(std::to_string(i))));
  }
  for (int i = 0; i < kAsync; ++i) REQUIRE(host.invoke_async("count", {}).ok());
  CHECK(runs == 0);

  ShutdownReport report = host.shutdown(absl::Seconds(60));
  CHECK(report.completed == kSync + kAsync);
  CHECK(report.drained());
  CHECK(runs == kSync + kAsync);
  for (int i = 0; i < kSync; ++i) {
    const Completion& done = completions[static_cast<std::size_t>(i)];
    REQUIRE(done.is_ready());
    INFO(describe(done.get()));
    REQUIRE(done.get().ok());
    CHECK(*done.get() == std::to_string(i));
  }
}

TEST_CASE("destroying a host on a ManualExecutor runs its queued work", "[shutdown]") {
  auto executor = std::make_shared<fnhost::ManualExecutor>();
  int runs = 0;
  {
    fnhost::Host host = make_host(manual_options(executor));
    REQUIRE(host.register_function({.name = "count",
                                    .handler = [&runs](const Event&, Context&) -> Result {
                                      ++runs;
                                      return "";
                                    }})
                .ok());
    for (int i = 0; i < 4; ++i) REQUIRE(host.invoke_async("count", {}).ok());
    CHECK(runs == 0);
  }
  CHECK(runs == 4);
}

TEST_CASE("shutdown leaves an executor the host did not create running", "[shutdown]") {
  absl::StatusOr<std::unique_ptr<fnhost::AutoscalingExecutor>> created =
      fnhost::AutoscalingExecutor::create({.max_threads = 2});
  REQUIRE(created.ok());
  std::shared_ptr<fnhost::Executor> executor = std::move(*created);
  fnhost::Host host = make_host(manual_options(executor));
  REQUIRE(host.register_function(echo_spec("echo")).ok());
  REQUIRE(host.invoke("echo", {}).get().ok());
  CHECK(host.shutdown(absl::Seconds(5)).drained());

  std::atomic<bool> ran{false};
  REQUIRE(executor->submit([&ran] { ran.store(true); }).ok());
  CHECK(wait_until([&] { return ran.load(); }));
  CHECK(executor->shutdown().ok());
}

}  // namespace

TEST_CASE("shutdown called from a then() callback does not wait for the invocation delivering it",
          "[shutdown]") {
  fnhost::testing::Watchdog watchdog("shutdown from a then() callback", std::chrono::seconds(120));
  fnhost::Host host = fnhost::testing::make_host();
  REQUIRE(host.register_function(fnhost::testing::echo_spec("echo")).ok());
  std::atomic<bool> returned{false};
  std::atomic<int64_t> dropped{-1};
  fnhost::Completion done = host.invoke("echo", fnhost::Event::with_data("x"));
  done.then([&](const fnhost::Result&) {
    // An infinite timeout: waiting for the delivering invocation itself would never end.
    const fnhost::ShutdownReport report = host.shutdown(absl::InfiniteDuration());
    dropped.store(report.dropped);
    returned.store(true);
  });
  REQUIRE(fnhost::testing::wait_until([&] { return returned.load(); }));
  CHECK(dropped.load() == 0);
  CHECK(done.get().ok());
  CHECK_FALSE(host.is_accepting());
}
