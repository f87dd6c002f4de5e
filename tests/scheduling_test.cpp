// SPDX-License-Identifier: Apache-2.0
// How the host hands invocations to the executor: runner tasks that take turns across
// functions, end after a time budget and hand on to the next runner, and keep enough runners
// waiting for the executor to see a backlog.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

using fnhost::Context;
using fnhost::Event;
using fnhost::Result;
using fnhost::testing::make_host;
using fnhost::testing::manual_options;
using fnhost::testing::quiet_options;
using fnhost::testing::wait_until;

namespace {

// Busy for `duration` without sleeping: a computing handler, as the executor sees it.
void spin_for(std::chrono::microseconds duration) {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until) {
  }
}

}  // namespace

TEST_CASE("many producers, mixed handlers and limits: every invocation runs exactly once",
          "[scheduling]") {
  constexpr int kFunctions = 6;
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 600;
  fnhost::Host host = make_host(quiet_options(16));
  std::vector<std::atomic<int>> runs(kFunctions);
  // Per function: how many of its invocations run now, and the most seen at once.
  std::vector<std::atomic<int>> running(kFunctions);
  std::vector<std::atomic<int>> peak(kFunctions);
  for (int f = 0; f < kFunctions; ++f) {
    const bool limited = f < 2;
    REQUIRE(host.register_function(
                    {.name = "f" + std::to_string(f),
                     .handler =
                         [&runs, &running, &peak, f](const Event& event, Context&) -> Result {
                           const auto index = static_cast<size_t>(f);
                           const int now = running[index].fetch_add(1) + 1;
                           int seen = peak[index].load();
                           while (now > seen && !peak[index].compare_exchange_weak(seen, now)) {
                           }
                           const int n = std::stoi(event.data);
                           // Some handlers outlast a runner's 1 ms budget, by computing or by
                           // sleeping, so runners end mid-backlog and hand on.
                           if (n % 97 == 0) spin_for(std::chrono::microseconds(1500));
                           if (n % 89 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
                           runs[index].fetch_add(1);
                           running[index].fetch_sub(1);
                           return event.data;
                         },
                     .max_concurrency = limited ? 2 : 0})
                .ok());
  }
  // Catch2's assertions are not thread-safe: producers count refusals, the test checks them
  // after the join.
  std::atomic<int> refused{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&host, &refused, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        const int n = p * kPerProducer + i;
        const std::string name = "f" + std::to_string(n % kFunctions);
        if (!host.invoke_async(name, Event::with_data(std::to_string(n))).ok()) {
          refused.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  REQUIRE(refused.load() == 0);
  const int total = kProducers * kPerProducer;
  REQUIRE(wait_until([&] {
    int done = 0;
    for (const auto& count : runs) done += count.load();
    return done == total;
  }));
  for (int f = 0; f < kFunctions; ++f) {
    const fnhost::FunctionStats stats = host.function_stats("f" + std::to_string(f)).value();
    INFO("function f" << f);
    CHECK(stats.invocations == total / kFunctions);
    CHECK(runs[static_cast<size_t>(f)].load() == total / kFunctions);
    REQUIRE(wait_until([&] {
      const fnhost::FunctionStats now = host.function_stats("f" + std::to_string(f)).value();
      return now.successes == total / kFunctions && now.in_flight == 0 && now.queued == 0;
    }));
  }
  CHECK(peak[0].load() <= 2);
  CHECK(peak[1].load() <= 2);
  const fnhost::ShutdownReport report = host.shutdown(absl::Seconds(30));
  CHECK(report.dropped == 0);
  CHECK(report.unfinished == 0);
}

TEST_CASE("a ManualExecutor host runs a backlog larger than its waiting runners in order",
          "[scheduling]") {
  auto executor = std::make_shared<fnhost::ManualExecutor>();
  fnhost::Host host = make_host(manual_options(executor));
  std::vector<int> order;  // touched only by the pumping thread (this one)
  REQUIRE(host.register_function({.name = "ordered",
                                  .handler = [&order](const Event& event, Context&) -> Result {
                                    order.push_back(std::stoi(event.data));
                                    return "";
                                  }})
              .ok());
  constexpr int kBacklog = 1000;  // well above the runners a function keeps waiting
  for (int i = 0; i < kBacklog; ++i) {
    REQUIRE(host.invoke_async("ordered", Event::with_data(std::to_string(i))).ok());
  }
  CHECK(executor->queued() < kBacklog);  // runners, not one task per invocation
  executor->run_pending();
  REQUIRE(order.size() == kBacklog);
  CHECK(std::is_sorted(order.begin(), order.end()));
  CHECK(executor->queued() == 0);
}

TEST_CASE("one ManualExecutor task runs one invocation, so a frame budget holds",
          "[scheduling]") {
  auto executor = std::make_shared<fnhost::ManualExecutor>();
  fnhost::Host host = make_host(manual_options(executor));
  std::atomic<int> runs{0};
  REQUIRE(host.register_function({.name = "tick",
                                  .handler = [&runs](const Event&, Context&) -> Result {
                                    runs.fetch_add(1);
                                    return "";
                                  }})
              .ok());
  for (int i = 0; i < 10; ++i) REQUIRE(host.invoke_async("tick", {}).ok());
  REQUIRE(executor->run_one());
  CHECK(runs.load() == 1);
  executor->run_pending();
  CHECK(runs.load() == 10);
}

TEST_CASE("a flood of short invocations runs in batches on few warm instances", "[scheduling]") {
  constexpr int kMaxThreads = 4;
  fnhost::Host host = make_host(quiet_options(kMaxThreads));
  std::atomic<int> inits{0};
  std::atomic<int> runs{0};
  std::atomic<int> without_state{0};
  REQUIRE(host.register_function(
                  {.name = "short",
                   .handler = [&runs, &without_state](const Event&, Context& ctx) -> Result {
                     if (ctx.instance_state<int>() == nullptr) without_state.fetch_add(1);
                     runs.fetch_add(1);
                     return "";
                   },
                   .init = [&inits](const fnhost::InitContext&)
                       -> absl::StatusOr<std::shared_ptr<void>> {
                     inits.fetch_add(1);
                     return std::make_shared<int>(7);
                   }})
              .ok());
  constexpr int kFlood = 20000;
  for (int i = 0; i < kFlood; ++i) REQUIRE(host.invoke_async("short", {}).ok());
  REQUIRE(wait_until([&] { return runs.load() == kFlood; }));
  CHECK(without_state.load() == 0);
  // An instance serves one invocation at a time, batched or not: never more than the workers.
  CHECK(inits.load() <= kMaxThreads);
  REQUIRE(wait_until([&] {
    const fnhost::FunctionStats stats = host.function_stats("short").value();
    return stats.successes == kFlood && stats.in_flight == 0;
  }));
  const fnhost::FunctionStats stats = host.function_stats("short").value();
  CHECK(stats.cold_starts == inits.load());
  CHECK(stats.instances == inits.load());
  // All instances went back to the pool: a sync call now runs warm.
  const Result result = host.invoke("short", {}).get();
  REQUIRE(result.ok());
  CHECK(host.function_stats("short").value().cold_starts == stats.cold_starts);
}
