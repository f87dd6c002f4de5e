// SPDX-License-Identifier: Apache-2.0
// Metering: requests, billed duration (each invocation rounded up to a whole millisecond, at
// least 1), GB-seconds, CPU time and cost per function; windows between two reports; exact
// under many threads.
#include <atomic>
#include <catch2/catch.hpp>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "fnhost/fnhost.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::CostReport;
using fnhost::Event;
using fnhost::FunctionCost;
using fnhost::Result;
using fnhost::testing::wait_until;

fnhost::HostOptions metered(fnhost::MeteringOptions metering = {.enabled = true}) {
  fnhost::HostOptions options = fnhost::testing::quiet_options(4);
  options.metering = metering;
  return options;
}

const FunctionCost* find(const CostReport& report, const std::string& name) {
  for (const FunctionCost& cost : report.functions) {
    if (cost.function == name) return &cost;
  }
  return nullptr;
}

TEST_CASE("billed duration rounds each invocation up to a whole millisecond", "[metering]") {
  fnhost::testing::ClockedHost clocked(
      metered({.enabled = true, .price_per_gb_second = 2.0, .price_per_million_requests = 1e6}));
  const std::shared_ptr<fnhost::ManualClock> clock = clocked.clock;
  REQUIRE(clocked.host
              .register_function({.name = "resize",
                                  .handler = [clock](const Event&, Context&) -> Result {
                                    // 2.5 ms on the host's clock: billed 3 ms.
                                    clock->advance(absl::Microseconds(2500));
                                    return "";
                                  },
                                  .timeout = absl::Hours(1),
                                  .memory_mb = 512})
              .ok());
  REQUIRE(clocked.host
              .register_function(
                  {.name = "noop", .handler = [](const Event&, Context&) -> Result { return ""; }})
              .ok());
  for (int i = 0; i < 4; ++i) REQUIRE(clocked.host.invoke("resize", {}).get().ok());
  REQUIRE(clocked.host.invoke("noop", {}).get().ok());
  // An invocation is metered as it ends, moments after its caller got the answer.
  REQUIRE(wait_until([&] { return clocked.host.cost_report().total.requests == 5; }));
  const CostReport report = clocked.host.cost_report();
  const FunctionCost* resize = find(report, "resize");
  REQUIRE(resize != nullptr);
  CHECK(resize->requests == 4);
  CHECK(resize->duration == absl::Milliseconds(10));
  CHECK(resize->billed_duration == absl::Milliseconds(12));
  CHECK(resize->gb_seconds == Approx(12.0 * 512 / 1024 / 1000));
  CHECK(resize->cost == Approx(resize->gb_seconds * 2.0 + 4.0));
  // An invocation that took no time on the clock is billed the minimum, 1 ms.
  const FunctionCost* noop = find(report, "noop");
  REQUIRE(noop != nullptr);
  CHECK(noop->requests == 1);
  CHECK(noop->billed_duration == absl::Milliseconds(1));
  CHECK(noop->gb_seconds == Approx(1.0 * 128 / 1024 / 1000));
  CHECK(report.total.requests == 5);
  CHECK(report.total.billed_duration == absl::Milliseconds(13));
  CHECK(report.total.cost == Approx(resize->cost + noop->cost));
  CHECK(report.end >= report.start);
}

TEST_CASE("an invocation is never billed for clock time that passed before it was admitted",
          "[metering]") {
  // Each "advance" moves the host's clock while its runner runs; a "noop" admitted after it
  // returned took no time on that clock. A runner that read the clock before an advance and
  // then started the noop (it was preempted in between) must not date the noop's start back.
  fnhost::testing::ClockedHost clocked(metered());
  const std::shared_ptr<fnhost::ManualClock> clock = clocked.clock;
  REQUIRE(clocked.host
              .register_function({.name = "advance",
                                  .handler = [clock](const Event&, Context&) -> Result {
                                    clock->advance(absl::Milliseconds(1));
                                    return "";
                                  },
                                  .timeout = absl::Hours(1)})
              .ok());
  REQUIRE(clocked.host
              .register_function(
                  {.name = "noop", .handler = [](const Event&, Context&) -> Result { return ""; }})
              .ok());
  REQUIRE(clocked.host
              .register_function({.name = "busy",
                                  .handler = [](const Event&, Context&) -> Result {
                                    std::this_thread::yield();
                                    return "";
                                  }})
              .ok());
  constexpr int kRounds = 1000;
  // Others keep runners starting, claiming and being preempted meanwhile; they never move the
  // clock, so whatever time a noop is billed came from an advance before it.
  std::atomic<bool> done{false};
  std::vector<std::thread> others;
  for (int t = 0; t < 2; ++t) {
    others.emplace_back([&] {
      while (!done.load()) (void)clocked.host.invoke("busy", {}).get();
    });
  }
  for (int i = 0; i < kRounds; ++i) {
    REQUIRE(clocked.host.invoke("advance", {}).get().ok());
    REQUIRE(clocked.host.invoke("noop", {}).get().ok());
  }
  done = true;
  for (std::thread& other : others) other.join();
  REQUIRE(wait_until([&] {
    const CostReport report = clocked.host.cost_report();
    const FunctionCost* noop = find(report, "noop");
    return noop != nullptr && noop->requests == kRounds;
  }));
  const CostReport report = clocked.host.cost_report();
  const FunctionCost* noop = find(report, "noop");
  CHECK(noop->duration == absl::ZeroDuration());
  CHECK(noop->billed_duration == absl::Milliseconds(kRounds));
}

TEST_CASE("CPU time is the thread's CPU time while the handler ran", "[metering]") {
  fnhost::Host host = fnhost::testing::make_host(metered());
  REQUIRE(host.register_function({.name = "spin",
                                  .handler = [](const Event&, Context&) -> Result {
                                    // Burn 5 ms of this thread's CPU, however long that takes.
                                    timespec start{};
                                    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
                                    for (;;) {
                                      timespec now{};
                                      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
                                      const int64_t spent =
                                          (now.tv_sec - start.tv_sec) * 1'000'000'000LL +
                                          (now.tv_nsec - start.tv_nsec);
                                      if (spent >= 5'000'000) break;
                                    }
                                    return "";
                                  }})
              .ok());
  REQUIRE(host.invoke("spin", {}).get().ok());
  REQUIRE(wait_until([&] { return host.cost_report().total.requests == 1; }));
  const CostReport report = host.cost_report();
  const FunctionCost* spin = find(report, "spin");
  REQUIRE(spin != nullptr);
  CHECK(spin->cpu_time >= absl::Milliseconds(5));
  CHECK(spin->billed_duration >= absl::Milliseconds(5));
}

TEST_CASE("since() gives the window between two reports", "[metering]") {
  fnhost::Host host = fnhost::testing::make_host(metered());
  REQUIRE(host.register_function(
                  {.name = "a", .handler = [](const Event&, Context&) -> Result { return ""; }})
              .ok());
  REQUIRE(host.register_function(
                  {.name = "b", .handler = [](const Event&, Context&) -> Result { return ""; }})
              .ok());
  for (int i = 0; i < 2; ++i) REQUIRE(host.invoke("a", {}).get().ok());
  REQUIRE(wait_until([&] { return host.cost_report().total.requests == 2; }));
  const CostReport before = host.cost_report();
  for (int i = 0; i < 5; ++i) REQUIRE(host.invoke("a", {}).get().ok());
  REQUIRE(host.invoke("b", {}).get().ok());
  REQUIRE(wait_until([&] { return host.cost_report().total.requests == 8; }));
  const CostReport after = host.cost_report();
  const CostReport window = after.since(before);
  CHECK(window.start == before.end);
  CHECK(window.end == after.end);
  REQUIRE(window.functions.size() == 2);
  CHECK(find(window, "a")->requests == 5);
  CHECK(find(window, "b")->requests == 1);
  CHECK(window.total.requests == 6);
  CHECK(window.total.cost == Approx(after.total.cost - before.total.cost));
  // A window with no traffic lists no function.
  CHECK(host.cost_report().since(after).functions.empty());
}

TEST_CASE("a function registered after another was removed is metered under its own name",
          "[metering]") {
  // One thread, so both functions finish on the same thread; the removed function's record
  // is freed, and the next one of the same name length may take its memory.
  fnhost::HostOptions options = metered();
  options.executor_options.max_threads = 1;
  fnhost::Host host = fnhost::testing::make_host(std::move(options));
  for (int round = 0; round < 20; ++round) {
    const std::string name = fmt::format("fn{:02}", round);
    REQUIRE(host.register_function(
                    {.name = name, .handler = [](const Event&, Context&) -> Result { return ""; }})
                .ok());
    REQUIRE(host.invoke(name, {}).get().ok());
    REQUIRE(wait_until([&] { return host.cost_report().total.requests == round + 1; }));
    REQUIRE(host.remove_function(name).ok());
  }
  const CostReport report = host.cost_report();
  CHECK(report.functions.size() == 20);
  for (int round = 0; round < 20; ++round) {
    const FunctionCost* cost = find(report, fmt::format("fn{:02}", round));
    REQUIRE(cost != nullptr);
    CHECK(cost->requests == 1);
  }
}

TEST_CASE("metering is exact under many threads", "[metering][stress]") {
  fnhost::Host host = fnhost::testing::make_host(metered());
  REQUIRE(host.register_function(
                  {.name = "f", .handler = [](const Event&, Context&) -> Result { return ""; }})
              .ok());
  constexpr int kThreads = 8;
  constexpr int kEach = 500;
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&host] {
      for (int i = 0; i < kEach; ++i) {
        if (i % 2 == 0) {
          REQUIRE(host.invoke("f", {}).get().ok());
        } else {
          REQUIRE(host.invoke_async("f", {}).ok());
        }
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  REQUIRE(wait_until([&] { return host.cost_report().total.requests == kThreads * kEach; }));
  CHECK(host.cost_report().total.billed_duration >= absl::Milliseconds(kThreads * kEach));
}

TEST_CASE("without metering the cost report is empty", "[metering]") {
  fnhost::Host host = fnhost::testing::make_host();
  REQUIRE(host.register_function(
                  {.name = "f", .handler = [](const Event&, Context&) -> Result { return ""; }})
              .ok());
  REQUIRE(host.invoke("f", {}).get().ok());
  const CostReport report = host.cost_report();
  CHECK(report.functions.empty());
  CHECK(report.total.requests == 0);
}

TEST_CASE("negative or non-finite prices are refused", "[metering]") {
  for (double price : {-1.0, std::numeric_limits<double>::infinity(), std::nan("")}) {
    fnhost::HostOptions options;
    options.metering = {.enabled = true, .price_per_gb_second = price};
    const absl::StatusOr<fnhost::Host> host = fnhost::Host::create(std::move(options));
    REQUIRE(host.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(host.status().message().find("metering") != std::string::npos);
  }
}

}  // namespace
