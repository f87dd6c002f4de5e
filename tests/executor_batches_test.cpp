// SPDX-License-Identifier: Apache-2.0
// Tests for AutoscalingExecutor's batches (src/executor/batches.cpp): in a dense stream of short
// tasks a worker takes several at once. A task that then waits for one taken with it must not
// deadlock (the batch is given back to the queue), wait_idle() and stats must count the taken
// tasks until they ran, and one submitter's tasks keep their order on a one-thread executor.
//
// A dense stream is one producer submitting no-op tasks back to back: the worker finds each next
// task at once and switches to batches within a few tasks. Whether a given pair of tasks lands
// in one batch is up to timing, so the deadlock cases repeat many rounds.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/time/time.h"
#include "fnhost/executor.hpp"
#include "testing/executor_helpers.hpp"
#include "testing/gate.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::AutoscalingExecutor;
using fnhost::BlockingScope;
using fnhost::ExecutorOptions;
using fnhost::testing::Gate;
using fnhost::testing::make_executor;
using fnhost::testing::wait_until;

// How long a waiting task waits for the one it needs before giving up, so that a failing test
// ends instead of hanging.
constexpr std::chrono::seconds kGiveUp{20};

void submit_no_ops(AutoscalingExecutor& executor, std::atomic<int64_t>& ran, int count) {
  for (int i = 0; i < count; ++i) {
    REQUIRE(executor.submit([&ran] { ran.fetch_add(1, std::memory_order_relaxed); }).ok());
  }
}

// Rounds of: a dense stream, then a waiter and the task it waits for back to back, then more of
// the stream. Returns how many waiters gave up.
int run_waiting_pairs(AutoscalingExecutor& executor, bool hinted, int rounds) {
  constexpr int kStream = 64;
  std::atomic<int64_t> ran{0};
  std::atomic<int> gave_up{0};
  std::atomic<int> pairs_done{0};
  std::vector<std::unique_ptr<Gate>> signals;
  for (int i = 0; i < rounds; ++i) signals.push_back(std::make_unique<Gate>());
  for (int round = 0; round < rounds; ++round) {
    Gate& signal = *signals[static_cast<size_t>(round)];
    submit_no_ops(executor, ran, kStream);
    REQUIRE(executor
                .submit([&signal, &gave_up, &pairs_done, hinted] {
                  std::unique_ptr<BlockingScope> scope;
                  if (hinted) scope = std::make_unique<BlockingScope>();
                  if (!signal.wait(kGiveUp)) gave_up.fetch_add(1);
                  pairs_done.fetch_add(1);
                })
                .ok());
    REQUIRE(executor.submit([&signal] { signal.open(); }).ok());
    submit_no_ops(executor, ran, kStream);
  }
  CHECK(wait_until([&] { return pairs_done.load() == rounds; }, std::chrono::seconds(120)));
  CHECK(executor.wait_idle().ok());
  CHECK(ran.load() == int64_t{2} * kStream * rounds);
  return gave_up.load();
}

TEST_CASE("a task waiting for one taken in the same batch still gets it run", "[executor]") {
  auto executor = make_executor({.max_threads = 8});
  CHECK(run_waiting_pairs(*executor, /*hinted=*/false, /*rounds=*/100) == 0);
  CHECK(executor->shutdown().ok());
}

TEST_CASE("a task blocking in a BlockingScope gives the rest of its batch to other workers",
          "[executor]") {
  auto executor = make_executor({.max_threads = 8});
  CHECK(run_waiting_pairs(*executor, /*hinted=*/true, /*rounds=*/200) == 0);
  CHECK(executor->shutdown().ok());
}

TEST_CASE("wait_idle after dense streams from several producers sees every task run",
          "[executor]") {
  constexpr int kProducers = 4;
  constexpr int kTasks = 5'000;
  auto executor = make_executor({.max_threads = 8});
  std::atomic<int64_t> ran{0};
  for (int round = 1; round <= 10; ++round) {
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&] { submit_no_ops(*executor, ran, kTasks); });
    }
    for (auto& producer : producers) producer.join();
    REQUIRE(executor->wait_idle().ok());
    // wait_idle() returned: nothing is queued, held in a batch or running.
    REQUIRE(ran.load() == int64_t{round} * kProducers * kTasks);
    const auto stats = executor->stats();
    CHECK(stats.queued == 0);
    CHECK(stats.completed == int64_t{round} * kProducers * kTasks);
  }
  CHECK(executor->shutdown().ok());
}

TEST_CASE("stats count tasks taken in a batch as queued until they start", "[executor]") {
  constexpr int kTasks = 20'000;
  auto executor = make_executor({.max_threads = 4});
  std::atomic<int64_t> started{0};
  std::atomic<int64_t> submitted{0};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> undercounted{0};
  std::atomic<int64_t> snapshots{0};
  // A task submitted before a snapshot is, when the snapshot reads `queued`, queued (in the queue
  // or taken in a batch), running (at most one per thread), or already completed (which the
  // snapshot reads after `queued`).
  std::thread sampler([&] {
    while (!stop.load()) {
      const int64_t submitted_before = submitted.load();
      const auto stats = executor->stats();
      if (stats.queued + stats.completed + stats.threads < submitted_before) {
        undercounted.fetch_add(1);
      }
      snapshots.fetch_add(1);
    }
  });
  for (int i = 0; i < kTasks; ++i) {
    REQUIRE(executor->submit([&] { started.fetch_add(1, std::memory_order_relaxed); }).ok());
    submitted.fetch_add(1);
  }
  REQUIRE(executor->wait_idle().ok());
  stop.store(true);
  sampler.join();
  INFO("snapshots: " << snapshots.load());
  CHECK(undercounted.load() == 0);
  CHECK(started.load() == kTasks);
  CHECK(executor->stats().queued == 0);
}

TEST_CASE("a one-thread executor keeps one submitter's order when a task blocks mid-stream",
          "[executor]") {
  constexpr int kTasks = 3'000;
  auto executor = make_executor({.max_threads = 1, .monitor_interval = absl::Microseconds(100)});
  std::mutex mu;
  std::vector<int> order;
  order.reserve(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    REQUIRE(executor
                ->submit([&mu, &order, i] {
                  // A few tasks block for several monitor ticks with tasks of their batch
                  // waiting behind them: there is no other worker to give them to.
                  if (i % 1000 == 500) std::this_thread::sleep_for(std::chrono::milliseconds(3));
                  std::lock_guard<std::mutex> lock(mu);
                  order.push_back(i);
                })
                .ok());
  }
  CHECK(executor->shutdown().ok());
  std::vector<int> expected(kTasks);
  std::iota(expected.begin(), expected.end(), 0);
  std::lock_guard<std::mutex> lock(mu);
  CHECK(order == expected);
}

}  // namespace

namespace {

// Submits one task and returns how long it took to start.
std::chrono::nanoseconds start_delay(AutoscalingExecutor& executor) {
  std::atomic<int64_t> started_ns{0};
  const auto submitted = std::chrono::steady_clock::now();
  REQUIRE(executor
              .submit([&started_ns] {
                started_ns.store(std::chrono::steady_clock::now().time_since_epoch().count());
              })
              .ok());
  REQUIRE(wait_until([&] { return started_ns.load() != 0; }));
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(started_ns.load())) -
         submitted;
}

TEST_CASE("a task submitted after a dense stream ends starts without waiting for the monitor",
          "[executor]") {
  // Between streams the worker that took batches parks; a submit must not go on trusting it to
  // take new work (the task would wait for the monitor's 50 ms stall fallback, or longer).
  constexpr int kRounds = 100;
  // Frequent ticks: a task of a few ticks has its batch given back.
  auto executor = make_executor({.max_threads = 4, .monitor_interval = absl::Microseconds(100)});
  std::atomic<int64_t> ran{0};
  std::chrono::nanoseconds total{0};
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> producers;
    for (int p = 0; p < 2; ++p) {
      producers.emplace_back([&] {
        for (int i = 0; i < 500; ++i) {
          // Mostly no-ops, now and then a task of a few monitor ticks.
          REQUIRE(executor
                      ->submit([&ran, i] {
                        if (i % 100 == 50) {
                          const auto until =
                              std::chrono::steady_clock::now() + std::chrono::microseconds(400);
                          while (std::chrono::steady_clock::now() < until) {
                          }
                        }
                        ran.fetch_add(1, std::memory_order_relaxed);
                      })
                      .ok());
        }
      });
    }
    for (auto& producer : producers) producer.join();
    REQUIRE(executor->wait_idle().ok());
    total += start_delay(*executor);
  }
  CHECK(ran.load() == int64_t{kRounds} * 1000);
  // A prompt start takes microseconds (a wake-up); 25 ms on average would take a stall.
  const double total_ms = std::chrono::duration<double, std::milli>(total).count();
  INFO("total start delay over the rounds: " << total_ms << " ms");
  CHECK(total < std::chrono::milliseconds(25) * kRounds);
  CHECK(executor->shutdown().ok());
}

}  // namespace
