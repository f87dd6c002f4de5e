// SPDX-License-Identifier: Apache-2.0
// Tests for schedule triggers (Host::schedule) and the public ManualClock: rates and cron fire
// at their fire times as the clock advances, each fire's event, overlap policies, catching up
// once after a stall, unsubscribe and shutdown stopping schedules, refusals, listing, the real
// clock, and invocation deadlines following a manual clock.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/clock.hpp"
#include "fnhost/host.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::Event;
using fnhost::FunctionSpec;
using fnhost::Host;
using fnhost::HostOptions;
using fnhost::ManualClock;
using fnhost::ManualExecutor;
using fnhost::OverlapPolicy;
using fnhost::Result;
using fnhost::ScheduleInfo;
using fnhost::ScheduleSpec;
using fnhost::TriggerId;
using fnhost::testing::Gate;
using fnhost::testing::GateOpener;
using fnhost::testing::make_host;
using fnhost::testing::message_contains;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

const absl::Time kStart = absl::FromUnixSeconds(ManualClock::kDefaultStartUnixSeconds);

// The events a function received, in order.
struct Fires {
  std::mutex mu;
  std::vector<Event> events;
  std::atomic<int> count{0};

  std::vector<Event> snapshot() {
    std::lock_guard lock(mu);
    return events;
  }
  std::vector<absl::Time> times() {
    std::vector<absl::Time> out;
    for (const Event& event : snapshot()) out.push_back(event.time);
    return out;
  }
};

FunctionSpec recording_spec(std::string name, Fires& fires) {
  return FunctionSpec{.name = std::move(name),
                      .handler = [&fires](const Event& event, Context&) -> Result {
                        {
                          std::lock_guard lock(fires.mu);
                          fires.events.push_back(event);
                        }
                        fires.count.fetch_add(1);
                        return "";
                      }};
}

// A host on a ManualExecutor and a ManualClock: fires happen in advance() and run in pump().
struct ManualRig {
  std::shared_ptr<ManualClock> clock = ManualClock::create();
  std::shared_ptr<ManualExecutor> executor = std::make_shared<ManualExecutor>();
  Host host = make_host(HostOptions{.executor = executor, .log_sink = nullptr, .clock = clock});

  void advance(absl::Duration by) {
    clock->advance(by);
    executor->run_pending();
  }
};

// A host on a real executor with a ManualClock.
struct ThreadedRig {
  std::shared_ptr<ManualClock> clock = ManualClock::create();
  Host host = make_host(
      HostOptions{.executor_options = {.max_threads = 4}, .log_sink = nullptr, .clock = clock});
};

TriggerId schedule(Host& host, ScheduleSpec spec) {
  absl::StatusOr<TriggerId> id = host.schedule(std::move(spec));
  INFO((id.ok() ? "" : id.status().ToString()));
  REQUIRE(id.ok());
  return *id;
}

ScheduleInfo info_of(const Host& host, TriggerId id) {
  for (const ScheduleInfo& info : host.schedules()) {
    if (info.id == id) return info;
  }
  FAIL("no schedule with id " << id);
  return {};
}

TEST_CASE("a rate schedule fires at start + k * period as the clock advances",
          "[schedule_trigger]") {
  ManualRig rig;
  Fires fires;
  REQUIRE(rig.host.register_function(recording_spec("tick", fires)).ok());
  const TriggerId id = schedule(rig.host, {.expression = "rate(10 seconds)", .function = "tick"});
  CHECK(info_of(rig.host, id).next_fire == kStart + absl::Seconds(10));

  for (int k = 1; k <= 5; ++k) {
    rig.advance(absl::Seconds(9));
    CHECK(fires.count.load() == k - 1);
    rig.advance(absl::Seconds(1));
    REQUIRE(fires.count.load() == k);
    CHECK(fires.times().back() == kStart + k * absl::Seconds(10));
  }
  const ScheduleInfo info = info_of(rig.host, id);
  CHECK(info.fired == 5);
  CHECK(info.skipped == 0);
  CHECK(info.missed == 0);
  CHECK(info.refused == 0);
  CHECK(info.next_fire == kStart + absl::Seconds(60));
}

TEST_CASE("a cron schedule of */15 fires four times over an hour, on the quarter hours",
          "[schedule_trigger]") {
  ManualRig rig;
  Fires fires;
  REQUIRE(rig.host.register_function(recording_spec("quarter", fires)).ok());
  schedule(rig.host, {.expression = "*/15 * * * *", .function = "quarter"});
  for (int minute = 0; minute < 60; ++minute) rig.advance(absl::Minutes(1));
  CHECK(fires.times() ==
        std::vector<absl::Time>{kStart + absl::Minutes(15), kStart + absl::Minutes(30),
                                kStart + absl::Minutes(45), kStart + absl::Minutes(60)});
}

TEST_CASE("each fire's event is a copy of the template with the fire time and default ids",
          "[schedule_trigger]") {
  ManualRig rig;
  Fires fires;
  REQUIRE(rig.host.register_function(recording_spec("report", fires)).ok());

  SECTION("empty id, type and source are filled in") {
    const TriggerId id = schedule(
        rig.host, {.expression = "@hourly",
                   .function = "report",
                   .event = {.subject = "daily-report", .topic = "reports", .data = "payload"}});
    rig.advance(absl::Hours(1));
    rig.advance(absl::Hours(1));
    const std::vector<Event> events = fires.snapshot();
    REQUIRE(events.size() == 2);
    CHECK(events[0].id == std::to_string(id) + "-1");
    CHECK(events[1].id == std::to_string(id) + "-2");
    CHECK(events[0].type == "fnhost.schedule");
    CHECK(events[0].source == "fnhost/schedule/" + std::to_string(id));
    CHECK(events[0].time == kStart + absl::Hours(1));
    CHECK(events[1].time == kStart + absl::Hours(2));
    CHECK(events[0].subject == "daily-report");
    CHECK(events[0].topic == "reports");
    CHECK(events[0].data == "payload");
  }
  SECTION("set id, type and source are kept") {
    schedule(rig.host, {.expression = "rate(1 minute)",
                        .function = "report",
                        .event = {.id = "fixed", .source = "billing", .type = "com.example.tick"}});
    rig.advance(absl::Minutes(1));
    const std::vector<Event> events = fires.snapshot();
    REQUIRE(events.size() == 1);
    CHECK(events[0].id == "fixed");
    CHECK(events[0].type == "com.example.tick");
    CHECK(events[0].source == "billing");
    CHECK(events[0].time == kStart + absl::Minutes(1));
  }
}

TEST_CASE("after a ten hour stall a schedule fires once and counts the fire times it missed",
          "[schedule_trigger]") {
  ManualRig rig;
  Fires fires;
  REQUIRE(rig.host.register_function(recording_spec("hourly", fires)).ok());
  const TriggerId id = schedule(rig.host, {.expression = "rate(1 hour)", .function = "hourly"});

  rig.advance(absl::Hours(10));
  CHECK(fires.times() == std::vector<absl::Time>{kStart + absl::Hours(1)});
  ScheduleInfo info = info_of(rig.host, id);
  CHECK(info.fired == 1);
  CHECK(info.missed == 9);  // 2h .. 10h
  CHECK(info.next_fire == kStart + absl::Hours(11));

  rig.advance(absl::Hours(1));
  CHECK(fires.count.load() == 2);
  CHECK(fires.times().back() == kStart + absl::Hours(11));
  CHECK(info_of(rig.host, id).missed == 9);
}

TEST_CASE("with OverlapPolicy::kSkip a fire is skipped while the previous run has not ended",
          "[schedule_trigger]") {
  ThreadedRig rig;
  auto gate = std::make_shared<Gate>();
  GateOpener opener(gate);
  std::atomic<int> started{0};
  REQUIRE(rig.host
              .register_function({.name = "slow",
                                  .handler = fnhost::testing::gated_handler(gate, started),
                                  .timeout = absl::Hours(1)})
              .ok());
  const TriggerId id = schedule(rig.host, {.expression = "rate(1 minute)", .function = "slow"});
  const auto next_fire_is = [&](absl::Duration since_start) {
    return wait_until([&] { return info_of(rig.host, id).next_fire == kStart + since_start; });
  };

  rig.clock->advance(absl::Minutes(1));
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  REQUIRE(next_fire_is(absl::Minutes(2)));
  rig.clock->advance(absl::Minutes(1));  // the first run is still held: skipped
  REQUIRE(next_fire_is(absl::Minutes(3)));
  rig.clock->advance(absl::Minutes(1));  // skipped again
  REQUIRE(next_fire_is(absl::Minutes(4)));
  ScheduleInfo info = info_of(rig.host, id);
  CHECK(info.fired == 1);
  CHECK(info.skipped == 2);

  gate->open();
  // Once the run's invocation is over (in_flight counts it until its record is let go).
  REQUIRE(wait_until([&] { return stats_of(rig.host, "slow").in_flight == 0; }));
  rig.clock->advance(absl::Minutes(1));
  REQUIRE(wait_until([&] { return started.load() == 2; }));
  REQUIRE(next_fire_is(absl::Minutes(5)));
  info = info_of(rig.host, id);
  CHECK(info.fired == 2);
  CHECK(info.skipped == 2);
}

TEST_CASE("with OverlapPolicy::kQueue every fire queues a run, even while one is held",
          "[schedule_trigger]") {
  ThreadedRig rig;
  auto gate = std::make_shared<Gate>();
  GateOpener opener(gate);
  std::atomic<int> started{0};
  REQUIRE(rig.host
              .register_function({.name = "slow",
                                  .handler = fnhost::testing::gated_handler(gate, started),
                                  .timeout = absl::Hours(1),
                                  .max_concurrency = 1})
              .ok());
  const TriggerId id = schedule(
      rig.host,
      {.expression = "rate(1 minute)", .function = "slow", .overlap = OverlapPolicy::kQueue});
  for (int k = 1; k <= 3; ++k) {
    rig.clock->advance(absl::Minutes(1));
    REQUIRE(wait_until(
        [&] { return info_of(rig.host, id).next_fire == kStart + absl::Minutes(k + 1); }));
  }
  const ScheduleInfo info = info_of(rig.host, id);
  CHECK(info.fired == 3);
  CHECK(info.skipped == 0);
  // A fire hands its invocation to the executor, which queues it a moment after the fire is
  // counted: wait for all three to be in. max_concurrency 1: one runs, the others wait.
  REQUIRE(wait_until(
      [&] { return started.load() == 1 && stats_of(rig.host, "slow").queued == 2; }));
  gate->open();
  REQUIRE(wait_until([&] { return stats_of(rig.host, "slow").successes == 3; }));
}

TEST_CASE("a test that sees a fire counted can advance the manual clock at once",
          "[schedule_trigger][regression]") {
  // A fire used to count itself before it armed the next one: an advance() right after seeing
  // `fired` move could find nothing armed, and that fire never came.
  ThreadedRig rig;
  REQUIRE(rig.host
              .register_function({.name = "tick",
                                  .handler = [](const Event&, Context&) -> Result { return ""; }})
              .ok());
  const TriggerId id = schedule(
      rig.host,
      {.expression = "rate(1 minute)", .function = "tick", .overlap = OverlapPolicy::kQueue});
  for (int k = 1; k <= 50; ++k) {
    rig.clock->advance(absl::Minutes(1));
    REQUIRE(wait_until([&] { return info_of(rig.host, id).fired == k; }));
  }
  // And whoever sees next_fire move sees the fire that moved it counted.
  for (int k = 51; k <= 80; ++k) {
    rig.clock->advance(absl::Minutes(1));
    REQUIRE(wait_until(
        [&] { return info_of(rig.host, id).next_fire == kStart + absl::Minutes(k + 1); }));
    CHECK(info_of(rig.host, id).fired == k);
  }
}

TEST_CASE("unsubscribe stops a schedule", "[schedule_trigger]") {
  ManualRig rig;
  Fires fires;
  REQUIRE(rig.host.register_function(recording_spec("tick", fires)).ok());
  const TriggerId id = schedule(rig.host, {.expression = "rate(1 minute)", .function = "tick"});
  rig.advance(absl::Minutes(1));
  REQUIRE(fires.count.load() == 1);

  SECTION("between fires") {
    REQUIRE(rig.host.unsubscribe(id).ok());
    rig.advance(absl::Hours(1));
    CHECK(fires.count.load() == 1);
  }
  SECTION("while its fire waits in the executor: that fire does nothing") {
    rig.clock->advance(absl::Minutes(1));
    REQUIRE(rig.executor->queued() == 1);
    REQUIRE(rig.host.unsubscribe(id).ok());
    rig.executor->run_pending();
    rig.advance(absl::Hours(1));
    CHECK(fires.count.load() == 1);
  }
  CHECK(rig.host.schedules().empty());
  const absl::Status again = rig.host.unsubscribe(id);
  CHECK(again.code() == absl::StatusCode::kNotFound);
}

TEST_CASE("shutdown stops every schedule and schedule() is then Unavailable",
          "[schedule_trigger]") {
  ManualRig rig;
  Fires fires;
  REQUIRE(rig.host.register_function(recording_spec("tick", fires)).ok());
  const TriggerId id = schedule(rig.host, {.expression = "rate(1 minute)", .function = "tick"});
  rig.advance(absl::Minutes(1));
  REQUIRE(fires.count.load() == 1);

  SECTION("between fires") {}
  SECTION("with a fire waiting in the executor") { rig.clock->advance(absl::Minutes(1)); }
  const fnhost::ShutdownReport report = rig.host.shutdown(absl::Seconds(10));
  CHECK(report.drained());
  rig.advance(absl::Hours(2));
  CHECK(fires.count.load() == 1);
  const ScheduleInfo info = info_of(rig.host, id);
  CHECK(info.fired == 1);
  CHECK(info.next_fire == absl::InfiniteFuture());
  absl::StatusOr<TriggerId> late =
      rig.host.schedule({.expression = "rate(1 minute)", .function = "tick"});
  CHECK(late.status().code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("schedule() refuses a bad expression, an unknown function and an empty name",
          "[schedule_trigger]") {
  ManualRig rig;
  REQUIRE(rig.host.register_function(fnhost::testing::echo_spec("echo")).ok());

  absl::StatusOr<TriggerId> bad =
      rig.host.schedule({.expression = "rate(0 minutes)", .function = "echo"});
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(message_contains(bad.status(), "rate(0 minutes)"));
  CHECK(message_contains(bad.status(), "\"echo\""));

  absl::StatusOr<TriggerId> cron =
      rig.host.schedule({.expression = "61 * * * *", .function = "echo"});
  CHECK(cron.status().code() == absl::StatusCode::kInvalidArgument);

  absl::StatusOr<TriggerId> unknown =
      rig.host.schedule({.expression = "@daily", .function = "nope"});
  CHECK(unknown.status().code() == absl::StatusCode::kNotFound);
  CHECK(message_contains(unknown.status(), "\"nope\""));

  absl::StatusOr<TriggerId> unnamed = rig.host.schedule({.expression = "@daily"});
  CHECK(unnamed.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(rig.host.schedules().empty());
}

TEST_CASE(
    "schedules() lists each schedule with its next fire and counters, ids are shared "
    "with triggers",
    "[schedule_trigger]") {
  ManualRig rig;
  Fires fires;
  REQUIRE(rig.host.register_function(recording_spec("tick", fires)).ok());
  absl::StatusOr<TriggerId> trigger = rig.host.subscribe({.pattern = "a/#", .function = "tick"});
  REQUIRE(trigger.ok());
  const TriggerId minutely =
      schedule(rig.host, {.expression = "rate(1 minute)", .function = "tick"});
  const TriggerId daily = schedule(rig.host, {.expression = "cron(0 9 * * *)", .function = "tick"});
  CHECK(minutely != *trigger);
  CHECK(daily > minutely);

  rig.advance(absl::Minutes(2));  // one fire, one missed
  std::vector<ScheduleInfo> infos = rig.host.schedules();
  REQUIRE(infos.size() == 2);
  CHECK(infos[0].id == minutely);
  CHECK(infos[0].expression == "rate(1 minute)");
  CHECK(infos[0].function == "tick");
  CHECK(infos[0].fired == 1);
  CHECK(infos[0].missed == 1);
  CHECK(infos[0].next_fire == kStart + absl::Minutes(3));
  CHECK(infos[1].id == daily);
  CHECK(infos[1].fired == 0);
  CHECK(infos[1].next_fire == kStart + absl::Hours(9));

  // One id space: unsubscribe takes either kind.
  CHECK(rig.host.unsubscribe(*trigger).ok());
  CHECK(rig.host.unsubscribe(daily).ok());
  CHECK(rig.host.triggers().empty());
  infos = rig.host.schedules();
  REQUIRE(infos.size() == 1);
  CHECK(infos[0].id == minutely);
}

TEST_CASE("a fire its function refuses is counted and the schedule goes on", "[schedule_trigger]") {
  ManualRig rig;
  Fires fires;
  REQUIRE(rig.host.register_function(recording_spec("tick", fires)).ok());
  const TriggerId id = schedule(rig.host, {.expression = "rate(1 minute)", .function = "tick"});
  REQUIRE(rig.host.remove_function("tick").ok());
  rig.advance(absl::Minutes(1));
  ScheduleInfo info = info_of(rig.host, id);
  CHECK(info.refused == 1);
  CHECK(info.fired == 0);
  CHECK(info.next_fire == kStart + absl::Minutes(2));

  REQUIRE(rig.host.register_function(recording_spec("tick", fires)).ok());
  rig.advance(absl::Minutes(1));
  CHECK(fires.count.load() == 1);
  info = info_of(rig.host, id);
  CHECK(info.fired == 1);
  CHECK(info.refused == 1);
}

TEST_CASE("with the real clock a rate(1 second) schedule fires repeatedly", "[schedule_trigger]") {
  Host host = make_host(fnhost::testing::quiet_options(4));
  Fires fires;
  REQUIRE(host.register_function(recording_spec("tick", fires)).ok());
  const absl::Time before = absl::Now();
  const TriggerId id = schedule(host, {.expression = "rate(1 second)", .function = "tick"});
  REQUIRE(wait_until([&] { return fires.count.load() >= 2; }));
  const std::vector<absl::Time> times = fires.times();
  REQUIRE(times.size() >= 2);
  CHECK(times[0] > before);
  CHECK(times[1] - times[0] >= absl::Seconds(1));  // more only if a stall made it catch up
  // Counted once the fire's run was queued: a worker may have run it before the count moved.
  CHECK(wait_until([&] { return info_of(host, id).fired >= 2; }));
  // The host is destroyed with the schedule still armed.
}

TEST_CASE("with a manual clock an invocation's deadline passes only when the clock reaches it",
          "[schedule_trigger][deadline]") {
  ThreadedRig rig;
  std::atomic<int> started{0};
  std::atomic<int64_t> remaining_ms{-1};
  std::atomic<bool> saw_cancel{false};
  REQUIRE(rig.host
              .register_function(
                  {.name = "waits",
                   .handler = [&](const Event&, Context& context) -> Result {
                     remaining_ms.store(absl::ToInt64Milliseconds(context.remaining()));
                     started.fetch_add(1);
                     saw_cancel.store(context.cancellation().wait_for(absl::Seconds(60)));
                     return "late";
                   },
                   .timeout = absl::Seconds(5)})
              .ok());
  fnhost::Completion completion = rig.host.invoke("waits", Event::with_data("x"));
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  CHECK(remaining_ms.load() == 5000);

  rig.clock->advance(absl::Seconds(4));
  CHECK_FALSE(completion.is_ready());
  rig.clock->advance(absl::Seconds(1));
  // Answered on this thread, by advance().
  REQUIRE(completion.is_ready());
  CHECK(completion.get().status().code() == absl::StatusCode::kDeadlineExceeded);
  REQUIRE(wait_until([&] { return saw_cancel.load(); }));
  REQUIRE(wait_until([&] { return stats_of(rig.host, "waits").in_flight == 0; }));
  CHECK(stats_of(rig.host, "waits").timeouts == 1);
}

TEST_CASE("hosts sharing a manual clock each fire their own schedules", "[schedule_trigger]") {
  auto clock = ManualClock::create(absl::FromUnixSeconds(0));
  auto executor = std::make_shared<ManualExecutor>();
  Fires first_fires;
  Fires second_fires;
  Host first = make_host(HostOptions{.executor = executor, .log_sink = nullptr, .clock = clock});
  REQUIRE(first.register_function(recording_spec("tick", first_fires)).ok());
  schedule(first, {.expression = "rate(1 minute)", .function = "tick"});
  {
    Host second = make_host(HostOptions{.executor = executor, .log_sink = nullptr, .clock = clock});
    REQUIRE(second.register_function(recording_spec("tick", second_fires)).ok());
    schedule(second, {.expression = "rate(2 minutes)", .function = "tick"});
    clock->advance(absl::Minutes(1));
    executor->run_pending();
    clock->advance(absl::Minutes(1));
    executor->run_pending();
    CHECK(first_fires.count.load() == 2);
    CHECK(second_fires.count.load() == 1);
    CHECK(second_fires.times().front() == absl::FromUnixSeconds(120));
    clock->advance(absl::Minutes(2));  // `second` goes away with a fire still queued
  }
  executor->run_pending();
  CHECK(first_fires.count.load() == 3);  // one fire: a two-minute step missed one fire time
  CHECK(clock->now() == absl::FromUnixSeconds(240));
}

}  // namespace
