// SPDX-License-Identifier: Apache-2.0
// Regression tests for durations at the host's entry points: absl::InfiniteDuration() (and
// huge finite durations) mean "wait forever", never "don't wait"; a negative shutdown timeout
// means "now"; a spec's timeout stays limited to one hour.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"
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
using fnhost::testing::code_of;
using fnhost::testing::describe;
using fnhost::testing::Gate;
using fnhost::testing::GateOpener;
using fnhost::testing::make_host;
using fnhost::testing::quiet_options;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

// "Forever": infinite, and finite ones too long to add to a clock reading naively.
absl::Duration forever_duration() {
  return GENERATE(absl::InfiniteDuration(), absl::Hours(1e6), absl::Hours(1e8));
}

TEST_CASE("shutdown with an infinite timeout waits for a held handler and reports a drain",
          "[durations][regression]") {
  const absl::Duration forever = forever_duration();
  INFO("timeout " << absl::FormatDuration(forever));
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host.register_function({.name = "held",
                                  .handler = fnhost::testing::gated_handler(gate, started, "done"),
                                  .timeout = absl::Hours(1)})
              .ok());
  Completion running = host.invoke("held", {});
  REQUIRE(wait_until([&] { return started.load() == 1; }));

  ShutdownReport report;
  std::atomic<bool> returned{false};
  std::atomic<bool> returned_before_release{false};
  std::thread stopper([&] {
    report = host.shutdown(forever);
    returned.store(true);
  });
  // Release the handler only once shutdown is under way.
  REQUIRE(wait_until([&] { return !host.is_accepting(); }));
  returned_before_release.store(returned.load());
  gate->open();
  stopper.join();

  INFO("report: completed=" << report.completed << " dropped=" << report.dropped
                            << " unfinished=" << report.unfinished);
  CHECK(report.drained());
  CHECK(report.unfinished == 0);
  CHECK(report.completed == 1);
  REQUIRE(running.wait_for(absl::Seconds(60)));
  INFO(describe(running.get()));
  CHECK(running.get().ok());
  CHECK_FALSE(returned_before_release.load());
}

TEST_CASE("a host whose drain_timeout is infinite runs all queued work when destroyed",
          "[durations][regression]") {
  const absl::Duration forever = forever_duration();
  INFO("drain_timeout " << absl::FormatDuration(forever));
  constexpr int kQueued = 20;
  std::atomic<int> work_runs{0};
  std::atomic<int> probe_runs{0};
  std::atomic<int> probes_accepted{0};
  std::atomic<bool> saw_shutdown{false};
  std::atomic<bool> holding{false};
  int accepted = 0;
  {
    fnhost::testing::Watchdog watchdog("destroying a host with an infinite drain_timeout",
                              std::chrono::seconds(240));
    fnhost::HostOptions options = quiet_options(4);
    options.drain_timeout = forever;
    absl::StatusOr<fnhost::Host> created = fnhost::Host::create(std::move(options));
    REQUIRE(created.ok());
    std::optional<fnhost::Host> host(std::move(created).value());
    REQUIRE(host->register_function({.name = "probe",
                                     .handler = [&probe_runs](const Event&, Context&) -> Result {
                                       probe_runs.fetch_add(1);
                                       return "";
                                     }})
                .ok());
    // The first invocation holds the function (max_concurrency 1) until the host stops
    // accepting, i.e. until the destructor's drain has begun: it polls by invoking "probe".
    REQUIRE(host->register_function(
                    {.name = "work",
                     .handler = [&](const Event& event, Context& ctx) -> Result {
                       if (event.data == "hold") {
                         holding.store(true);
                         for (;;) {
                           const absl::Status probe = ctx.invoke_async("probe", {});
                           if (probe.ok()) {
                             probes_accepted.fetch_add(1);
                           } else {
                             saw_shutdown.store(probe.code() == absl::StatusCode::kUnavailable);
                             break;
                           }
                           ctx.sleep_for(absl::Milliseconds(1));
                         }
                       }
                       work_runs.fetch_add(1);
                       return "";
                     },
                     .timeout = absl::Hours(1),
                     .max_concurrency = 1})
                .ok());
    if (host->invoke_async("work", Event::with_data("hold")).ok()) ++accepted;
    for (int i = 1; i < kQueued; ++i) {
      if (host->invoke_async("work", {}).ok()) ++accepted;
    }
    REQUIRE(wait_until([&] { return holding.load(); }));
    host.reset();
  }
  CHECK(accepted == kQueued);
  CHECK(saw_shutdown.load());
  CHECK(work_runs.load() == accepted);
  CHECK(probe_runs.load() == probes_accepted.load());
}

TEST_CASE("Completion::wait_for with an infinite timeout returns true once answered",
          "[durations][regression]") {
  const absl::Duration forever = forever_duration();
  INFO("wait_for " << absl::FormatDuration(forever));
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host.register_function({.name = "held",
                                  .handler = fnhost::testing::gated_handler(gate, started, "late"),
                                  .timeout = absl::Hours(1)})
              .ok());
  Completion done = host.invoke("held", {});
  REQUIRE(wait_until([&] { return started.load() == 1; }));

  std::atomic<bool> waiting{false};
  std::atomic<bool> returned{false};
  std::atomic<bool> wait_result{false};
  std::thread waiter([&] {
    waiting.store(true);
    wait_result.store(done.wait_for(forever));
    returned.store(true);
  });
  REQUIRE(wait_until([&] { return waiting.load(); }));
  const bool returned_early = returned.load();
  // Answer it from another thread, later.
  gate->open();
  waiter.join();
  CHECK(wait_result.load());
  CHECK(done.is_ready());
  CHECK_FALSE(returned_early);
}

TEST_CASE("ctx.sleep_for an infinite duration returns false only once the deadline cancels it",
          "[durations][regression]") {
  const absl::Duration forever = forever_duration();
  INFO("sleep_for " << absl::FormatDuration(forever));
  const bool use_token = GENERATE(false, true);
  INFO((use_token ? "ctx.cancellation().wait_for" : "ctx.sleep_for"));
  std::atomic<int> returned{0};
  std::atomic<bool> slept_fully{true};
  std::atomic<bool> cancelled_at_return{false};
  fnhost::Host host = make_host();
  REQUIRE(host.register_function({.name = "sleeper",
                                  .handler = [&, forever, use_token](const Event&,
                                                                     Context& ctx) -> Result {
                                    if (use_token) {
                                      // wait_for returns whether it was cancelled.
                                      slept_fully.store(!ctx.cancellation().wait_for(forever));
                                    } else {
                                      slept_fully.store(ctx.sleep_for(forever));
                                    }
                                    cancelled_at_return.store(ctx.is_cancelled());
                                    returned.fetch_add(1);
                                    return "woke";
                                  },
                                  .timeout = absl::Milliseconds(300)})
              .ok());
  const Result& result = host.invoke("sleeper", {}).get();
  INFO(describe(result));
  CHECK(code_of(result) == absl::StatusCode::kDeadlineExceeded);
  REQUIRE(wait_until([&] { return returned.load() == 1; }));
  CHECK_FALSE(slept_fully.load());
  CHECK(cancelled_at_return.load());
}

TEST_CASE("a spec whose timeout is infinite or over an hour is refused with InvalidArgument",
          "[durations][regression]") {
  const absl::Duration timeout =
      GENERATE(absl::InfiniteDuration(), absl::Hours(1e6), absl::Hours(1) + absl::Nanoseconds(1));
  INFO("timeout " << absl::FormatDuration(timeout));
  fnhost::FunctionSpec spec = fnhost::testing::echo_spec("forever");
  spec.timeout = timeout;
  CHECK(fnhost::validate_function_spec(spec).code() == absl::StatusCode::kInvalidArgument);
  fnhost::Host host = make_host();
  const absl::Status registered = host.register_function(spec);
  INFO(registered.ToString());
  CHECK(registered.code() == absl::StatusCode::kInvalidArgument);
  CHECK(fnhost::testing::message_contains(registered, "timeout"));
  CHECK_FALSE(host.has_function("forever"));

  // Exactly one hour is the limit and is accepted; an update to infinity is refused too.
  spec.timeout = absl::Hours(1);
  REQUIRE(host.register_function(spec).ok());
  spec.timeout = timeout;
  CHECK(host.update_function(spec).code() == absl::StatusCode::kInvalidArgument);
  CHECK(stats_of(host, "forever").version == 1);
}

TEST_CASE("shutdown with a negative timeout behaves like zero: it drops and counts at once",
          "[durations][regression]") {
  constexpr int kQueuedSync = 2;
  constexpr int kQueuedAsync = 3;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  std::optional<fnhost::Host> host(make_host());
  std::optional<GateOpener> open_on_exit(std::in_place, gate);
  REQUIRE(host->register_function({.name = "held",
                                   .handler = fnhost::testing::gated_handler(gate, started),
                                   .timeout = absl::Hours(1),
                                   .max_concurrency = 1})
              .ok());
  Completion running = host->invoke("held", {});
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  std::vector<Completion> queued;
  for (int i = 0; i < kQueuedSync; ++i) queued.push_back(host->invoke("held", {}));
  for (int i = 0; i < kQueuedAsync; ++i) REQUIRE(host->invoke_async("held", {}).ok());
  REQUIRE(wait_until(
      [&] { return stats_of(*host, "held").queued == kQueuedSync + kQueuedAsync; }));

  // The handler stays held: a shutdown that waited would not return until the gate opens.
  const ShutdownReport report = host->shutdown(absl::Seconds(-1));
  CHECK(report.dropped == kQueuedSync + kQueuedAsync);
  CHECK(report.unfinished == 1);
  CHECK_FALSE(report.drained());
  CHECK(running.is_ready());
  for (const Completion& done : queued) {
    REQUIRE(done.is_ready());
    CHECK(code_of(done.get()) == absl::StatusCode::kUnavailable);
  }
  CHECK(stats_of(*host, "held").dropped == kQueuedSync + kQueuedAsync);
  open_on_exit.reset();
  host.reset();
  CHECK(started.load() == 1);
}

}  // namespace
