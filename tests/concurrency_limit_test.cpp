// SPDX-License-Identifier: Apache-2.0
// Tests for reserved concurrency (max_concurrency), the per-function queue bound (max_queued,
// throttles), queued work not holding threads, and fairness between functions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Completion;
using fnhost::Context;
using fnhost::Event;
using fnhost::Result;
using fnhost::testing::code_of;
using fnhost::testing::describe;
using fnhost::testing::describe_state;
using fnhost::testing::Gate;
using fnhost::testing::gated_handler;
using fnhost::testing::GateOpener;
using fnhost::testing::make_host;
using fnhost::testing::manual_options;
using fnhost::testing::quiet_options;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

// Tracks how many handlers run at once and the highest number seen.
struct Watermark {
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  void enter() {
    const int now = running.fetch_add(1) + 1;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
  void leave() { running.fetch_sub(1); }
};

TEST_CASE("max_concurrency bounds how many handlers of a function run at once",
          "[concurrency]") {
  const int threads = GENERATE(1, 2, 4, 8);
  const int limit = GENERATE(1, 2, 3);
  constexpr int kInvocations = 200;
  INFO("max_threads=" << threads << " max_concurrency=" << limit);
  Watermark watermark;
  fnhost::Host host = make_host(quiet_options(threads));
  REQUIRE(host
              .register_function({
                  .name = "limited",
                  .handler = [&watermark](const Event&, Context&) -> Result {
                    watermark.enter();
                    // Linger a little so that overlapping handlers would be seen.
                    for (int i = 0; i < 50; ++i) std::this_thread::yield();
                    watermark.leave();
                    return "";
                  },
                  .max_concurrency = limit,
              })
              .ok());
  std::vector<std::thread> producers;
  std::atomic<int> refused{0};
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&] {
      for (int i = 0; i < kInvocations / 4; ++i) {
        if (!host.invoke_async("limited", {}).ok()) refused.fetch_add(1);
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  CHECK(refused.load() == 0);
  REQUIRE(wait_until([&] { return stats_of(host, "limited").successes == kInvocations; }));
  CHECK(watermark.peak.load() >= 1);
  CHECK(watermark.peak.load() <= std::min(limit, threads));
}

TEST_CASE("max_concurrency is never exceeded while handlers block", "[concurrency]") {
  const int limit = GENERATE(1, 2, 4);
  constexpr int kInvocations = 24;
  INFO("max_concurrency=" << limit);
  auto gate = std::make_shared<Gate>();
  Watermark watermark;
  std::atomic<int> started{0};
  fnhost::Host host = make_host(quiet_options(16));
  GateOpener open_on_exit(gate);
  REQUIRE(host
              .register_function({
                  .name = "blocking",
                  .handler = [gate, &watermark, &started](const Event&, Context&) -> Result {
                    watermark.enter();
                    started.fetch_add(1);
                    gate->wait();
                    watermark.leave();
                    return "";
                  },
                  .timeout = absl::Hours(1),
                  .max_concurrency = limit,
              })
              .ok());
  for (int i = 0; i < kInvocations; ++i) REQUIRE(host.invoke_async("blocking", {}).ok());
  // Each running handler blocks its worker; the executor must add workers for the others.
  const bool all_started = wait_until([&] { return started.load() == limit; });
  INFO("started=" << started.load() << " " << describe_state(host, "blocking"));
  REQUIRE(all_started);
  REQUIRE(wait_until([&] { return stats_of(host, "blocking").queued == kInvocations - limit; }));
  fnhost::FunctionStats stats = stats_of(host, "blocking");
  CHECK(stats.in_flight == limit);
  CHECK(watermark.peak.load() == limit);
  CHECK(started.load() == limit);
  gate->open();
  REQUIRE(wait_until([&] { return stats_of(host, "blocking").successes == kInvocations; }));
  CHECK(watermark.peak.load() == limit);
}

TEST_CASE("a full queue refuses invoke and invoke_async with ResourceExhausted",
          "[concurrency]") {
  constexpr int kLimit = 2;
  constexpr int kQueue = 3;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host
              .register_function({
                  .name = "bounded",
                  .handler = gated_handler(gate, started, "served"),
                  .timeout = absl::Hours(1),
                  .max_concurrency = kLimit,
                  .max_queued = kQueue,
              })
              .ok());
  std::vector<Completion> accepted;
  for (int i = 0; i < kLimit; ++i) accepted.push_back(host.invoke("bounded", {}));
  REQUIRE(wait_until([&] { return started.load() == kLimit; }));
  accepted.push_back(host.invoke("bounded", {}));
  accepted.push_back(host.invoke("bounded", {}));
  REQUIRE(host.invoke_async("bounded", {}).ok());
  REQUIRE(wait_until([&] { return stats_of(host, "bounded").queued == kQueue; }));

  Completion refused = host.invoke("bounded", {});
  REQUIRE(refused.is_ready());
  CHECK(code_of(refused.get()) == absl::StatusCode::kResourceExhausted);
  CHECK(host.invoke_async("bounded", {}).code() == absl::StatusCode::kResourceExhausted);
  fnhost::FunctionStats stats = stats_of(host, "bounded");
  CHECK(stats.throttles == 2);
  CHECK(stats.invocations == kLimit + kQueue);
  CHECK(stats.in_flight == kLimit);
  CHECK(stats.queued == kQueue);

  gate->open();
  for (const Completion& done : accepted) {
    const Result& result = done.get();
    INFO(describe(result));
    REQUIRE(result.ok());
    CHECK(*result == "served");
  }
  REQUIRE(wait_until([&] { return stats_of(host, "bounded").successes == kLimit + kQueue; }));
  CHECK(started.load() == kLimit + kQueue);
  // Room again: the function accepts once the queue has drained.
  CHECK(host.invoke("bounded", {}).get().ok());
  CHECK(stats_of(host, "bounded").throttles == 2);
}

TEST_CASE("max_queued = 0 lets any number of invocations wait", "[concurrency]") {
  constexpr int kWaiting = 200;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host
              .register_function({
                  .name = "unbounded",
                  .handler = gated_handler(gate, started),
                  .timeout = absl::Hours(1),
                  .max_concurrency = 1,
              })
              .ok());
  REQUIRE(host.invoke_async("unbounded", {}).ok());
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  int refused = 0;
  for (int i = 0; i < kWaiting; ++i) {
    if (!host.invoke_async("unbounded", {}).ok()) ++refused;
  }
  CHECK(refused == 0);
  CHECK(stats_of(host, "unbounded").throttles == 0);
  gate->open();
  CHECK(wait_until([&] { return stats_of(host, "unbounded").successes == kWaiting + 1; }));
}

TEST_CASE("queued invocations do not hold worker threads", "[concurrency]") {
  constexpr int kQueued = 50;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::Host host = make_host(quiet_options(8));
  GateOpener open_on_exit(gate);
  REQUIRE(host
              .register_function({
                  .name = "single",
                  .handler = gated_handler(gate, started),
                  .timeout = absl::Hours(1),
                  .max_concurrency = 1,
              })
              .ok());
  REQUIRE(host.invoke_async("single", {}).ok());
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  for (int i = 0; i < kQueued; ++i) REQUIRE(host.invoke_async("single", {}).ok());
  REQUIRE(wait_until([&] { return stats_of(host, "single").queued == kQueued; }));

  // Only the one running handler occupies a worker. A worker the executor is just starting or
  // parking may count as busy for a moment (ExecutorStats is not an atomic snapshot), so first
  // let it settle -- 50 queued invocations each holding a worker would never settle -- then
  // sample a while to catch any that spin up.
  REQUIRE(wait_until([&] { return host.executor_stats().busy <= 1; }));
  fnhost::ExecutorStats busiest = host.executor_stats();
  for (int sample = 0; sample < 200; ++sample) {
    const fnhost::ExecutorStats now = host.executor_stats();
    if (now.busy > busiest.busy) busiest = now;
    std::this_thread::yield();
  }
  INFO("busiest executor snapshot: threads=" << busiest.threads << " busy=" << busiest.busy
       << " blocked=" << busiest.blocked << " idle=" << busiest.idle << " queued="
       << busiest.queued << " completed=" << busiest.completed);
  CHECK(busiest.busy <= 1);
  CHECK(host.executor_stats().threads <= 8);
  CHECK(started.load() == 1);

  // And another function still gets served meanwhile.
  REQUIRE(host.register_function(fnhost::testing::echo_spec("other")).ok());
  const Result& other = host.invoke("other", Event::with_data("served")).get();
  INFO(describe(other));
  REQUIRE(other.ok());
  CHECK(*other == "served");

  gate->open();
  CHECK(wait_until([&] { return stats_of(host, "single").successes == kQueued + 1; }));
}

TEST_CASE("one flooded function does not starve another", "[concurrency]") {
  constexpr int kFlood = 2000;
  std::atomic<int> flood_runs{0};
  fnhost::Host host = make_host(quiet_options(4));
  REQUIRE(host
              .register_function({
                  .name = "flood",
                  .handler = [&flood_runs](const Event& event, Context& ctx) -> Result {
                    flood_runs.fetch_add(1);
                    // Simulated work of 1-2 ms (not synchronisation).
                    (void)ctx.sleep_for(absl::Milliseconds(1 + (event.data.size() % 2)));
                    return "";
                  },
              })
              .ok());
  REQUIRE(host.register_function(fnhost::testing::echo_spec("quick")).ok());

  for (int i = 0; i < kFlood; ++i) {
    REQUIRE(host.invoke_async("flood", Event::with_data(std::string(i % 2 == 0 ? 1U : 2U, 'x'))).ok());
  }
  REQUIRE(wait_until([&] { return flood_runs.load() > 0; }));

  const Result& quick = host.invoke("quick", Event::with_data("first")).get();
  // Observed right away: the flood must still have work waiting.
  const int64_t flood_queued = stats_of(host, "flood").queued;
  const int flood_done = flood_runs.load();
  INFO(describe(quick) << "; flood queued=" << flood_queued << " ran=" << flood_done);
  REQUIRE(quick.ok());
  CHECK(*quick == "first");
  CHECK(flood_queued > 0);
  CHECK(flood_done < kFlood);
}

TEST_CASE("a ManualExecutor host starts queued invocations of a limited function in order",
          "[concurrency]") {
  auto executor = std::make_shared<fnhost::ManualExecutor>();
  std::vector<int> order;  // touched only on this thread, which pumps the executor
  Watermark watermark;
  fnhost::Host host = make_host(manual_options(executor));
  REQUIRE(host
              .register_function({
                  .name = "serial",
                  .handler = [&](const Event& event, Context&) -> Result {
                    watermark.enter();
                    order.push_back(std::stoi(event.data));
                    watermark.leave();
                    return event.data;
                  },
                  .max_concurrency = 1,
              })
              .ok());
  std::vector<Completion> completions;
  for (int i = 0; i < 6; ++i) {
    completions.push_back(host.invoke("serial", Event::with_data(std::to_string(i))));
  }
  CHECK(stats_of(host, "serial").invocations == 6);
  executor->run_pending();
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5});
  CHECK(watermark.peak.load() == 1);
  for (const Completion& done : completions) CHECK(done.is_ready());
  CHECK(stats_of(host, "serial").queued == 0);
}

}  // namespace
