// SPDX-License-Identifier: Apache-2.0
// Tests for fnhost::ManualExecutor (include/fnhost/executor.hpp): the executor a program pumps
// from its own thread (a game loop) with run_one(), run_for(budget), run_queued() and
// run_pending(); wait_idle, stop, and the task contract (empty tasks, exceptions).

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/executor.hpp"
#include "testing/blocking_tasks.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::ManualExecutor;
using fnhost::testing::blocking_tasks::Gate;
using fnhost::testing::blocking_tasks::spin_for;
using namespace std::chrono_literals;

TEST_CASE("ManualExecutor submit queues the task without running it", "[manual_executor]") {
  ManualExecutor executor;
  int ran = 0;
  REQUIRE(executor.submit([&] { ++ran; }).ok());
  REQUIRE(executor.submit([&] { ++ran; }).ok());
  CHECK(ran == 0);
  CHECK(executor.queued() == 2);
  CHECK(executor.stats().queued == 2);
  CHECK(executor.run_pending() == 2);
  CHECK(ran == 2);
}

TEST_CASE("ManualExecutor run_one runs the oldest task and returns false when empty",
          "[manual_executor]") {
  ManualExecutor executor;
  CHECK_FALSE(executor.run_one());

  std::vector<int> order;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(executor.submit([&order, i] { order.push_back(i); }).ok());
  }
  CHECK(executor.run_one());
  CHECK(order == std::vector<int>{0});
  CHECK(executor.queued() == 2);
  CHECK(executor.run_one());
  CHECK(executor.run_one());
  CHECK(order == std::vector<int>{0, 1, 2});
  CHECK_FALSE(executor.run_one());
  CHECK(executor.queued() == 0);
}

TEST_CASE("ManualExecutor runs tasks from one producer in submission order", "[manual_executor]") {
  constexpr int kTasks = 1000;
  ManualExecutor executor;
  std::vector<int> order;
  for (int i = 0; i < kTasks; ++i) {
    REQUIRE(executor.submit([&order, i] { order.push_back(i); }).ok());
  }
  CHECK(executor.run_pending() == kTasks);
  REQUIRE(order.size() == kTasks);
  bool in_order = true;
  for (int i = 0; i < kTasks; ++i) in_order = in_order && order[static_cast<std::size_t>(i)] == i;
  CHECK(in_order);
}

TEST_CASE("ManualExecutor run_for stops when the queue is empty and returns the count",
          "[manual_executor]") {
  ManualExecutor executor;
  int ran = 0;
  CHECK(executor.run_for(absl::Seconds(10)) == 0);
  for (int i = 0; i < 5; ++i) REQUIRE(executor.submit([&] { ++ran; }).ok());
  // Returns as soon as the queue is empty: it does not wait out the budget for new tasks. (A
  // wrong implementation makes this case take 10 s per call, which the total run shows.)
  CHECK(executor.run_for(absl::Seconds(10)) == 5);
  CHECK(ran == 5);
  CHECK(executor.queued() == 0);
  CHECK(executor.run_for(absl::Seconds(10)) == 0);
}

TEST_CASE("ManualExecutor run_for stops between tasks once the budget is spent",
          "[manual_executor]") {
  constexpr int kTasks = 10;
  ManualExecutor executor;
  int ran = 0;
  for (int i = 0; i < kTasks; ++i) {
    REQUIRE(executor
                .submit([&] {
                  // Each task alone outlasts the budget (steady-clock time; never sleeps).
                  spin_for(20ms);
                  ++ran;
                })
                .ok());
  }
  const int count = executor.run_for(absl::Milliseconds(5));
  // The budget is checked between tasks, so at most the first task can start (none, if the
  // thread was descheduled past the budget before the first check).
  CHECK(count <= 1);
  CHECK(count == ran);
  CHECK(executor.queued() == kTasks - count);
  CHECK(executor.run_pending() == kTasks - count);
  CHECK(ran == kTasks);
}

TEST_CASE("ManualExecutor run_pending also runs tasks queued by tasks", "[manual_executor]") {
  ManualExecutor executor;
  int ran = 0;
  // A chain: each of the first 10 tasks queues the next, and one task fans out to two.
  std::function<void(int)> chain = [&](int left) {
    REQUIRE(executor
                .submit([&, left] {
                  ++ran;
                  if (left > 0) chain(left - 1);
                })
                .ok());
  };
  chain(9);
  REQUIRE(executor
              .submit([&] {
                ++ran;
                REQUIRE(executor.submit([&] { ++ran; }).ok());
                REQUIRE(executor.submit([&] { ++ran; }).ok());
              })
              .ok());
  CHECK(executor.queued() == 2);
  CHECK(executor.run_pending() == 13);
  CHECK(ran == 13);
  CHECK(executor.queued() == 0);
}

TEST_CASE("ManualExecutor run_one runs only one task even if it queues more", "[manual_executor]") {
  ManualExecutor executor;
  int ran = 0;
  REQUIRE(executor
              .submit([&] {
                ++ran;
                REQUIRE(executor.submit([&] { ++ran; }).ok());
              })
              .ok());
  CHECK(executor.run_one());
  CHECK(ran == 1);
  CHECK(executor.queued() == 1);
  CHECK(executor.run_one());
  CHECK(ran == 2);
}

TEST_CASE("ManualExecutor help_one runs one queued task", "[manual_executor]") {
  ManualExecutor executor;
  fnhost::Executor& as_executor = executor;
  CHECK_FALSE(as_executor.help_one());
  int ran = 0;
  REQUIRE(executor.submit([&] { ++ran; }).ok());
  REQUIRE(executor.submit([&] { ++ran; }).ok());
  CHECK(as_executor.help_one());
  CHECK(ran == 1);
  CHECK(executor.queued() == 1);
  CHECK(as_executor.help_one());
  CHECK(ran == 2);
  CHECK_FALSE(as_executor.help_one());
}

TEST_CASE("ManualExecutor stats report queued tasks", "[manual_executor]") {
  ManualExecutor executor;
  CHECK(executor.stats().queued == 0);
  for (int i = 0; i < 4; ++i) REQUIRE(executor.submit([] {}).ok());
  CHECK(executor.stats().queued == 4);
  CHECK(executor.queued() == 4);
  CHECK(executor.run_one());
  CHECK(executor.stats().queued == 3);
  executor.run_pending();
  CHECK(executor.stats().queued == 0);
}

TEST_CASE("ManualExecutor accepts submits from many threads while one thread pumps",
          "[manual_executor]") {
  constexpr int kProducers = 8;
  constexpr int kPerProducer = 2000;
  constexpr int kTotal = kProducers * kPerProducer;
  ManualExecutor executor;

  // Only the pumping thread runs tasks, so these need no lock; runs[] is atomic anyway so a
  // task run on a wrong thread would still be counted, not raced.
  std::vector<std::atomic<int>> runs(kTotal);
  std::vector<std::vector<int>> order_by_producer(kProducers);
  std::atomic<int> rejected{0};

  Gate start;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      start.wait();
      for (int i = 0; i < kPerProducer; ++i) {
        const int index = p * kPerProducer + i;
        const absl::Status status = executor.submit([&runs, &order_by_producer, p, i, index] {
          runs[static_cast<std::size_t>(index)].fetch_add(1);
          order_by_producer[static_cast<std::size_t>(p)].push_back(i);
        });
        if (!status.ok()) rejected.fetch_add(1);
      }
    });
  }
  start.open();

  int pumped = 0;
  const bool drained = fnhost::testing::wait_until([&] {
    pumped += executor.run_for(absl::Milliseconds(1));
    return pumped == kTotal;
  });
  for (std::thread& t : producers) t.join();
  pumped += executor.run_pending();

  CHECK(drained);
  CHECK(rejected.load() == 0);
  CHECK(pumped == kTotal);
  int never = 0;
  int twice = 0;
  for (const auto& r : runs) {
    if (r.load() == 0) ++never;
    if (r.load() > 1) ++twice;
  }
  CHECK(never == 0);
  CHECK(twice == 0);
  // Tasks submitted from one thread run in submission order.
  for (int p = 0; p < kProducers; ++p) {
    const auto& order = order_by_producer[static_cast<std::size_t>(p)];
    INFO("producer " << p);
    REQUIRE(order.size() == kPerProducer);
    bool in_order = true;
    for (int i = 0; i < kPerProducer; ++i) {
      in_order = in_order && order[static_cast<std::size_t>(i)] == i;
    }
    CHECK(in_order);
  }
}

TEST_CASE("ManualExecutor submit after shutdown returns Unavailable and destroys the task",
          "[manual_executor]") {
  ManualExecutor executor;
  CHECK(executor.shutdown().ok());
  int ran = 0;
  auto token = std::make_shared<int>(1);
  const absl::Status status = executor.submit([token, &ran] { ++ran; });
  INFO(status.ToString());
  CHECK(absl::IsUnavailable(status));
  CHECK(token.use_count() == 1);
  CHECK(executor.queued() == 0);
  CHECK(executor.run_pending() == 0);
  CHECK(ran == 0);
}

TEST_CASE("ManualExecutor shutdown runs the queued tasks on the calling thread",
          "[manual_executor]") {
  ManualExecutor executor;
  const std::thread::id caller = std::this_thread::get_id();
  int ran = 0;
  bool on_caller = true;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(executor
                .submit([&] {
                  ++ran;
                  on_caller = on_caller && std::this_thread::get_id() == caller;
                })
                .ok());
  }
  CHECK(executor.shutdown().ok());
  CHECK(ran == 5);
  CHECK(on_caller);
  CHECK(executor.queued() == 0);
  CHECK(executor.shutdown().ok());  // idempotent
  CHECK(ran == 5);
  CHECK(absl::IsUnavailable(executor.submit([&] { ++ran; })));
  CHECK(ran == 5);
}

TEST_CASE("ManualExecutor destructor drops queued tasks without running them",
          "[manual_executor]") {
  int ran = 0;
  auto token = std::make_shared<int>(2);
  {
    ManualExecutor executor;
    for (int i = 0; i < 3; ++i) {
      REQUIRE(executor.submit([token, &ran] { ++ran; }).ok());
    }
    CHECK(token.use_count() == 4);
  }
  CHECK(ran == 0);
  CHECK(token.use_count() == 1);
}

TEST_CASE("a BlockingScope inside a ManualExecutor task does nothing", "[manual_executor]") {
  ManualExecutor executor;
  int ran = 0;
  REQUIRE(executor
              .submit([&] {
                fnhost::BlockingScope outer;
                fnhost::BlockingScope inner;
                ++ran;
              })
              .ok());
  CHECK(executor.run_pending() == 1);
  CHECK(ran == 1);
  CHECK(executor.stats().blocked == 0);
}

TEST_CASE("ManualExecutor submit refuses an empty task with InvalidArgument", "[manual_executor]") {
  ManualExecutor executor;
  void (*null_function)() = nullptr;
  CHECK(absl::IsInvalidArgument(executor.submit(fnhost::Task{})));
  CHECK(absl::IsInvalidArgument(executor.submit(nullptr)));
  const absl::Status status = executor.submit(null_function);
  INFO(status.ToString());
  CHECK(absl::IsInvalidArgument(status));
  CHECK_THAT(std::string(status.message()), Catch::Contains("task is empty"));
  CHECK(executor.queued() == 0);
  CHECK(executor.run_pending() == 0);
}

TEST_CASE("ManualExecutor counts a task that throws as failed and keeps pumping",
          "[manual_executor]") {
  ManualExecutor executor;
  int ran = 0;
  REQUIRE(executor.submit([] { throw std::runtime_error("task failed"); }).ok());
  REQUIRE(executor.submit([&] { ++ran; }).ok());
  REQUIRE(executor.submit([] { throw 7; }).ok());
  CHECK(executor.run_pending() == 3);
  CHECK(ran == 1);
  const fnhost::ExecutorStats s = executor.stats();
  CHECK(s.completed == 1);
  CHECK(s.failed == 2);
}

TEST_CASE("ManualExecutor run_queued runs only the tasks queued when it was called",
          "[manual_executor]") {
  ManualExecutor executor;
  int ran = 0;
  // A task that re-queues itself forever: run_pending() would never return; one frame of
  // run_queued() runs it once.
  std::function<void()> again = [&] {
    ++ran;
    REQUIRE(executor.submit(again).ok());
  };
  REQUIRE(executor.submit(again).ok());
  REQUIRE(executor.submit([&] { ++ran; }).ok());
  CHECK(executor.run_queued() == 2);
  CHECK(ran == 2);
  CHECK(executor.queued() == 1);
  CHECK(executor.run_queued() == 1);
  CHECK(ran == 3);
  CHECK(executor.queued() == 1);
  CHECK(executor.stop().ok());
  CHECK(executor.run_queued() == 0);
}

TEST_CASE("ManualExecutor run_for with an infinite budget runs every queued task",
          "[manual_executor]") {
  ManualExecutor executor;
  int ran = 0;
  for (int i = 0; i < 5; ++i) REQUIRE(executor.submit([&] { ++ran; }).ok());
  CHECK(executor.run_for(absl::InfiniteDuration()) == 5);
  CHECK(ran == 5);
}

TEST_CASE("ManualExecutor wait_idle runs a self-posting chain to its end and stays usable",
          "[manual_executor]") {
  constexpr int kLinks = 500;
  ManualExecutor executor;
  int links = 0;
  std::function<void()> link = [&] {
    if (++links < kLinks) REQUIRE(executor.submit(link).ok());
  };
  REQUIRE(executor.submit(link).ok());
  CHECK(executor.wait_idle().ok());
  CHECK(links == kLinks);
  CHECK(executor.queued() == 0);
  int more = 0;
  REQUIRE(executor.submit([&] { ++more; }).ok());
  CHECK(executor.wait_idle_for(absl::InfiniteDuration()));
  CHECK(more == 1);
}

TEST_CASE("ManualExecutor wait_idle waits for a task another thread is running",
          "[manual_executor]") {
  ManualExecutor executor;
  Gate gate;
  std::atomic<bool> finished{false};
  REQUIRE(executor
              .submit([&] {
                gate.wait();
                finished.store(true);
              })
              .ok());
  std::thread pump([&] { executor.run_one(); });
  fnhost::testing::blocking_tasks::ScopeExit release([&] {
    gate.open();
    if (pump.joinable()) pump.join();
  });
  REQUIRE(fnhost::testing::wait_until([&] { return gate.waiting() == 1; }));
  CHECK_FALSE(executor.wait_idle_for(absl::Milliseconds(10)));
  gate.open();
  CHECK(executor.wait_idle().ok());
  CHECK(finished.load());
}

TEST_CASE("ManualExecutor shutdown, stop and wait_idle from its own task are refused",
          "[manual_executor]") {
  ManualExecutor executor;
  absl::Status shutdown_status, stop_status, wait_status;
  bool waited_for = true;
  REQUIRE(executor
              .submit([&] {
                shutdown_status = executor.shutdown();
                stop_status = executor.stop();
                wait_status = executor.wait_idle();
                waited_for = executor.wait_idle_for(absl::Seconds(30));
              })
              .ok());
  CHECK(executor.run_one());
  INFO(shutdown_status.ToString() << " | " << stop_status.ToString() << " | "
                                  << wait_status.ToString());
  CHECK(absl::IsFailedPrecondition(shutdown_status));
  CHECK(absl::IsFailedPrecondition(stop_status));
  CHECK(absl::IsFailedPrecondition(wait_status));
  CHECK_FALSE(waited_for);
  // Nothing was stopped.
  int ran = 0;
  REQUIRE(executor.submit([&] { ++ran; }).ok());
  CHECK(executor.shutdown().ok());
  CHECK(ran == 1);
}

TEST_CASE("ManualExecutor stop destroys queued tasks unrun and refuses new ones",
          "[manual_executor]") {
  ManualExecutor executor;
  int ran = 0;
  auto token = std::make_shared<int>(3);
  for (int i = 0; i < 4; ++i) REQUIRE(executor.submit([token, &ran] { ++ran; }).ok());
  CHECK(token.use_count() == 5);
  CHECK(executor.stop().ok());
  CHECK(token.use_count() == 1);
  CHECK(ran == 0);
  CHECK(executor.stats().discarded == 4);
  CHECK(executor.queued() == 0);
  CHECK(absl::IsUnavailable(executor.submit([&] { ++ran; })));
  CHECK(executor.stop().ok());  // idempotent
  CHECK(executor.stats().discarded == 4);
}

}  // namespace
