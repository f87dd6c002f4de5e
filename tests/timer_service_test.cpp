// SPDX-License-Identifier: Apache-2.0
// The host's timer service (internal): deterministic with a manual clock; with the steady clock
// its thread exists only while a timer is pending.
#include "host/timer_service.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "testing/wait.hpp"

namespace {

using fnhost::detail::ManualClock;
using fnhost::detail::TimerNode;
using fnhost::detail::TimerService;

struct CountingNode : TimerNode {
  std::atomic<int> fired{0};
  CountingNode() {
    on_due = [](TimerNode* node) { static_cast<CountingNode*>(node)->fired.fetch_add(1); };
  }
};

TEST_CASE("with a manual clock timers fire exactly when the clock reaches them", "[timers]") {
  ManualClock clock(1'000);
  TimerService timers({.manual_clock = &clock});
  CountingNode early, late, unarmed;
  timers.schedule(&early, 1'000 + 10'000'000);  // 10 ms
  timers.schedule(&late, 1'000 + 30'000'000);   // 30 ms
  timers.link(&unarmed);

  CHECK(timers.fire_due() == 0);
  clock.advance(absl::Milliseconds(9));
  CHECK(timers.fire_due() == 0);
  clock.advance(absl::Milliseconds(1));
  CHECK(timers.fire_due() == 1);
  CHECK(early.fired.load() == 1);
  CHECK(late.fired.load() == 0);
  CHECK_FALSE(timers.unlink(&early));  // already fired
  CHECK(timers.unlink(&late));         // cancelled in time
  clock.advance(absl::Hours(1));
  CHECK(timers.fire_due() == 0);
  CHECK(late.fired.load() == 0);
  CHECK(unarmed.fired.load() == 0);  // linked but never armed: never fires
  CHECK(timers.unlink(&unarmed));
  CHECK_FALSE(timers.has_thread());  // a manual clock never starts one
}

TEST_CASE("for_each_linked visits linked timers, armed or not", "[timers]") {
  ManualClock clock;
  TimerService timers({.manual_clock = &clock});
  std::vector<CountingNode> nodes(5);
  for (auto& node : nodes) timers.link(&node);
  timers.arm(&nodes[0], 5);
  int visited = 0;
  timers.for_each_linked([&](TimerNode*) { ++visited; });
  CHECK(visited == 5);
  for (auto& node : nodes) CHECK(timers.unlink(&node));
  visited = 0;
  timers.for_each_linked([&](TimerNode*) { ++visited; });
  CHECK(visited == 0);
}

TEST_CASE("the timer thread starts for a pending timer and leaves when none is pending",
          "[timers]") {
  TimerService timers({.linger = absl::Milliseconds(20)});
  CHECK_FALSE(timers.has_thread());
  for (int round = 0; round < 3; ++round) {
    CountingNode node;
    timers.schedule(&node, timers.now_ns() + 1'000'000);  // 1 ms
    REQUIRE(fnhost::testing::wait_until([&] { return node.fired.load() == 1; }));
    REQUIRE(fnhost::testing::wait_until([&] { return !timers.has_thread(); }));
  }
  // A far-away timer keeps it; cancelling it lets it go.
  CountingNode far;
  timers.schedule(&far, timers.now_ns() + int64_t{3600} * 1'000'000'000);
  CHECK(timers.has_thread());
  CHECK(timers.unlink(&far));
  // Nobody tells the thread; it finds nothing pending at its next look (within the linger).
  REQUIRE(fnhost::testing::wait_until([&] { return !timers.has_thread(); }));
}

TEST_CASE("with only long-lived timers pending the thread sleeps until the earliest", "[timers]") {
  TimerService timers({.linger = absl::Milliseconds(10)});
  CountingNode schedule;
  schedule.long_lived = true;
  timers.schedule(&schedule, timers.now_ns() + int64_t{3600} * 1'000'000'000);
  REQUIRE(timers.has_thread());
  const int64_t scans_before = timers.scans();
  // The interval under test, not a wait for another thread: a thread that looked again every
  // linger (10 ms) would scan about 30 times in it.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int64_t scans_after = timers.scans();
  CHECK(scans_after - scans_before <= 2);
  CHECK(timers.has_thread());

  // A short-lived timer (an invocation deadline) brings back the regular looks, so the thread
  // notices when it is unlinked (and then sleeps again); long-lived ones still fire on time.
  CountingNode deadline;
  timers.schedule(&deadline, timers.now_ns() + int64_t{60} * 1'000'000'000);
  CHECK(timers.unlink(&deadline));
  REQUIRE(fnhost::testing::wait_until([&] { return timers.scans() > scans_after; }));
  CountingNode soon;
  soon.long_lived = true;
  timers.schedule(&soon, timers.now_ns() + 1'000'000);
  REQUIRE(fnhost::testing::wait_until([&] { return soon.fired.load() == 1; }));
  CHECK(timers.unlink(&schedule));
  CHECK(schedule.fired.load() == 0);
  REQUIRE(fnhost::testing::wait_until([&] { return !timers.has_thread(); }));
}

}  // namespace
