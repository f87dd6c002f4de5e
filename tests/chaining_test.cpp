// SPDX-License-Identifier: Apache-2.0
// What flows between functions: destinations (on success and on failure, to a function or a
// topic, decoded with read_destination_record), idempotency keys, the chain depth limit, the
// remaining deadline a callee inherits, and a schedule's run that waits for a retry.
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/fnhost.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::DestinationRecord;
using fnhost::Event;
using fnhost::Host;
using fnhost::HostOptions;
using fnhost::Result;
using fnhost::testing::make_host;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

// Keeps the events a function received.
struct Inbox {
  std::mutex mu;
  std::vector<Event> events;
  std::atomic<int> count{0};

  fnhost::Handler handler() {
    return [this](const Event& event, Context&) -> Result {
      {
        std::lock_guard lock(mu);
        events.push_back(event);
      }
      count.fetch_add(1);
      return "";
    };
  }
  Event at(size_t i) {
    std::lock_guard lock(mu);
    return events.at(i);
  }
};

TEST_CASE("on_success sends the result with the original event to a function", "[destinations]") {
  Host host = make_host();
  Inbox audit;
  REQUIRE(host.register_function({.name = "audit", .handler = audit.handler()}).ok());
  REQUIRE(host.register_function({.name = "resize",
                                  .handler = [](const Event& event, Context&) -> Result {
                                    return "resized " + event.data;
                                  },
                                  .on_success = {.function = "audit"}})
              .ok());
  REQUIRE(host.publish({.id = "42",
                        .source = "camera",
                        .type = "image.uploaded",
                        .topic = "uploads",
                        .data = "cat.png"})
              .ok());  // no trigger: unrouted
  REQUIRE(host.invoke_async("resize", Event{.id = "42",
                                            .source = "camera",
                                            .type = "image.uploaded",
                                            .extensions = {{"tenant", "t1"}},
                                            .topic = "uploads",
                                            .data = "cat.png"})
              .ok());
  REQUIRE(wait_until([&] { return audit.count.load() == 1; }));
  const Event received = audit.at(0);
  CHECK(received.topic == "uploads");  // a function destination keeps the topic
  absl::StatusOr<DestinationRecord> record = fnhost::read_destination_record(received);
  REQUIRE(record.ok());
  CHECK(record->success);
  CHECK(record->function == "resize");
  CHECK(record->attempts == 1);
  CHECK(record->result == "resized cat.png");
  CHECK(record->error.ok());
  CHECK(record->first_accepted <= record->last_attempt);
  CHECK(record->original.id == "42");
  CHECK(record->original.source == "camera");
  CHECK(record->original.type == "image.uploaded");
  CHECK(record->original.topic == "uploads");
  CHECK(record->original.data == "cat.png");
  REQUIRE(record->original.extensions.size() == 1);
  CHECK(record->original.extension("tenant") == "t1");
  // Invocations from outside go nowhere: only the asynchronous event did.
  REQUIRE(host.invoke("resize", Event::with_data("sync")).get().ok());
  CHECK(stats_of(host, "audit").events_accepted == 1);
}

TEST_CASE("on_failure publishes the last error after the retries to a topic", "[destinations]") {
  fnhost::testing::ClockedHost clocked;
  Host& host = clocked.host;
  const std::shared_ptr<fnhost::ManualClock>& clock = clocked.clock;
  Inbox failures;
  REQUIRE(host.register_function({.name = "on_fail", .handler = failures.handler()}).ok());
  REQUIRE(host.subscribe({.pattern = "failed/#", .function = "on_fail"}).ok());
  REQUIRE(host.register_function({.name = "thumbnail",
                                  .handler = [](const Event&, Context&) -> Result {
                                    return absl::UnavailableError("decoder offline");
                                  },
                                  .retry = {.max_attempts = 2,
                                            .initial_backoff = absl::Seconds(1)},
                                  .on_failure = {.topic = "failed/thumbnail"}})
              .ok());
  REQUIRE(host.invoke_async("thumbnail", Event::with_data("dog.png")).ok());
  REQUIRE(wait_until([&] { return stats_of(host, "thumbnail").retries == 1; }));
  clock->advance(absl::Seconds(1));
  REQUIRE(wait_until([&] { return failures.count.load() == 1; }));
  const Event received = failures.at(0);
  CHECK(received.topic == "failed/thumbnail");
  absl::StatusOr<DestinationRecord> record = fnhost::read_destination_record(received);
  REQUIRE(record.ok());
  CHECK_FALSE(record->success);
  CHECK(record->attempts == 2);
  CHECK(record->error.code() == absl::StatusCode::kUnavailable);
  CHECK(record->error.message() == "decoder offline");
  CHECK(record->original.data == "dog.png");
  CHECK(record->original.topic.empty());
  CHECK(record->last_attempt - record->first_accepted <= absl::Seconds(1));
  // The dead letter is kept as well.
  CHECK(host.dead_letter_count("thumbnail") == 1);
}

TEST_CASE("a destination that refuses is counted, non-records are rejected by name",
          "[destinations]") {
  Host host = make_host();
  REQUIRE(host.register_function({.name = "ok",
                                  .handler = [](const Event&, Context&) -> Result { return ""; },
                                  .on_success = {.function = "missing"}})
              .ok());
  REQUIRE(host.invoke_async("ok", {}).ok());
  REQUIRE(wait_until([&] { return stats_of(host, "ok").destination_errors == 1; }));
  CHECK(stats_of(host, "ok").events_succeeded == 1);

  const absl::StatusOr<DestinationRecord> plain = fnhost::read_destination_record(Event{});
  CHECK(plain.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(plain.status().message()).find("fnhostcondition") != std::string::npos);
  const absl::StatusOr<DestinationRecord> broken = fnhost::read_destination_record(
      Event{.extensions = {{"fnhostcondition", "success"}, {"fnhostfunction", "f"},
                           {"fnhostattempts", "x"}}});
  CHECK(std::string(broken.status().message()).find("fnhostattempts") != std::string::npos);
}

TEST_CASE("a duplicate idempotency key is answered with the first result without running",
          "[idempotency]") {
  fnhost::testing::ClockedHost clocked;
  Host& host = clocked.host;
  const std::shared_ptr<fnhost::ManualClock>& clock = clocked.clock;
  std::atomic<int> runs{0};
  REQUIRE(host.register_function({.name = "charge",
                                  .handler = [&runs](const Event& event, Context&) -> Result {
                                    return "charged " + event.data + " #" +
                                           std::to_string(runs.fetch_add(1) + 1);
                                  },
                                  .idempotency_window = absl::Minutes(10)})
              .ok());
  const Event order{.data = "10 EUR", .idempotency_key = "order-1"};
  const Result first = host.invoke("charge", order).get();
  REQUIRE(first.ok());
  CHECK(*first == "charged 10 EUR #1");
  CHECK(host.invoke("charge", order).get() == first);
  REQUIRE(host.invoke_async("charge", order).ok());
  CHECK(host.invoke("charge", order).get() == first);
  CHECK(runs.load() == 1);
  CHECK(stats_of(host, "charge").duplicates == 3);
  // Another key runs.
  CHECK(*host.invoke("charge", Event{.data = "5 EUR", .idempotency_key = "order-2"}).get() ==
        "charged 5 EUR #2");
  // After the window the key runs again.
  clock->advance(absl::Minutes(10));
  CHECK(*host.invoke("charge", order).get() == "charged 10 EUR #3");
  // A key longer than 256 bytes is refused.
  const Result long_key =
      host.invoke("charge", Event{.idempotency_key = std::string(257, 'k')}).get();
  CHECK(long_key.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a failed key is forgotten, duplicates of a running key wait for its outcome",
          "[idempotency]") {
  Host host = make_host();
  auto gate = std::make_shared<fnhost::testing::Gate>();
  fnhost::testing::GateOpener opener(gate);
  std::atomic<int> runs{0};
  std::atomic<bool> fail{true};
  REQUIRE(host.register_function({.name = "pay",
                                  .handler = [&](const Event&, Context&) -> Result {
                                    const int run = runs.fetch_add(1) + 1;
                                    if (fail.load()) {
                                      return absl::InvalidArgumentError("card declined");
                                    }
                                    gate->wait();
                                    return "paid #" + std::to_string(run);
                                  }})
              .ok());
  const Event payment{.data = "x", .idempotency_key = "p-1"};
  CHECK(host.invoke("pay", payment).get().status().code() ==
        absl::StatusCode::kInvalidArgument);
  fail = false;
  fnhost::Completion owner = host.invoke("pay", payment);  // runs again: the failure was forgotten
  REQUIRE(wait_until([&] { return runs.load() == 2; }));
  fnhost::Completion duplicate = host.invoke("pay", payment);
  REQUIRE(host.invoke_async("pay", payment).ok());  // not run: the first is running
  CHECK_FALSE(duplicate.is_ready());
  gate->open();
  CHECK(*owner.get() == "paid #2");
  CHECK(*duplicate.get() == "paid #2");
  CHECK(runs.load() == 2);
  CHECK(stats_of(host, "pay").duplicates == 2);
}

TEST_CASE("idempotency_window 0 turns keys off", "[idempotency]") {
  Host host = make_host();
  std::atomic<int> runs{0};
  REQUIRE(host.register_function({.name = "f",
                                  .handler = [&runs](const Event&, Context&) -> Result {
                                    runs.fetch_add(1);
                                    return "";
                                  },
                                  .idempotency_window = absl::ZeroDuration()})
              .ok());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(host.invoke("f", Event{.idempotency_key = "same"}).get().ok());
  }
  CHECK(runs.load() == 3);
}

TEST_CASE("the chain depth limit stops a function that calls itself", "[chaining]") {
  HostOptions options = fnhost::testing::quiet_options();
  options.max_chain_depth = 5;
  Host host = make_host(std::move(options));
  std::atomic<int> runs{0};
  std::atomic<int> deepest{-1};
  std::mutex mu;
  absl::Status refusal;
  REQUIRE(host.register_function({.name = "loop",
                                  .handler = [&](const Event& event, Context& ctx) -> Result {
                                    runs.fetch_add(1);
                                    deepest = ctx.chain_depth();
                                    absl::Status called = ctx.invoke_async("loop", event);
                                    if (!called.ok()) {
                                      std::lock_guard lock(mu);
                                      refusal = called;
                                    }
                                    return "";
                                  }})
              .ok());
  REQUIRE(host.invoke_async("loop", {}).ok());
  REQUIRE(wait_until([&] {
    std::lock_guard lock(mu);
    return !refusal.ok();
  }));
  std::lock_guard lock(mu);
  CHECK(refusal.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(refusal.message()).find("max_chain_depth 5") != std::string::npos);
  CHECK(runs.load() == 6);  // depths 0..5
  CHECK(deepest.load() == 5);
}

TEST_CASE("a callee runs within the time its caller has left", "[chaining]") {
  Host host = make_host();
  std::atomic<int64_t> callee_budget_ms{-1};
  REQUIRE(host.register_function({.name = "callee",
                                  .handler = [&](const Event&, Context& ctx) -> Result {
                                    callee_budget_ms = absl::ToInt64Milliseconds(ctx.remaining());
                                    ctx.sleep_for(absl::Seconds(30));  // until cancelled
                                    return "too late";
                                  },
                                  .timeout = absl::Seconds(60)})
              .ok());
  REQUIRE(host.register_function({.name = "caller",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    return ctx.invoke("callee", {});
                                  },
                                  .timeout = absl::Milliseconds(300)})
              .ok());
  const Result result = host.invoke("caller", {}).get();
  CHECK(result.status().code() == absl::StatusCode::kDeadlineExceeded);
  REQUIRE(wait_until([&] { return callee_budget_ms.load() >= 0; }));
  CHECK(callee_budget_ms.load() <= 300);
  // The callee timed out on the caller's budget, not its own 60 s.
  REQUIRE(wait_until([&] { return stats_of(host, "callee").timeouts == 1; }));
}

TEST_CASE("a scheduled run that waits for a retry is still running for OverlapPolicy::kSkip",
          "[chaining][schedule]") {
  fnhost::testing::ClockedHost clocked;
  Host& host = clocked.host;
  const std::shared_ptr<fnhost::ManualClock>& clock = clocked.clock;
  std::atomic<int> runs{0};
  REQUIRE(host.register_function({.name = "job",
                                  .handler = [&runs](const Event&, Context&) -> Result {
                                    if (runs.fetch_add(1) == 0) return absl::InternalError("once");
                                    return "";
                                  },
                                  // The test advances the clock a minute at a time, maybe
                                  // while the retry runs: the default 3 s would time it out.
                                  .timeout = absl::Hours(1),
                                  .retry = {.initial_backoff = absl::Minutes(10),
                                            .max_backoff = absl::Minutes(10)}})
              .ok());
  absl::StatusOr<fnhost::TriggerId> id =
      host.schedule({.expression = "rate(1 minute)", .function = "job"});
  REQUIRE(id.ok());
  const auto armed = [&] { return host.schedules().at(0).next_fire > clock->now(); };
  clock->advance(absl::Minutes(1));
  REQUIRE(wait_until([&] { return stats_of(host, "job").retries == 1; }));
  REQUIRE(wait_until(armed));
  // The failed run waits for its retry (a jittered wait of up to 10 minutes): every fire until
  // the retry has run is skipped.
  int minutes = 0;
  // By ten minutes on the retry is due (it may still be on its way to a worker).
  while (runs.load() == 1 && minutes < 10) {
    // The fire before has set the next one (advance() fires only what is armed).
    REQUIRE(wait_until(armed));
    clock->advance(absl::Minutes(1));
    ++minutes;
    const bool moved = wait_until(
        [&] { return host.schedules().at(0).skipped == minutes || runs.load() > 1; });
    INFO("minute " << minutes << ": skipped " << host.schedules().at(0).skipped << " fired "
                   << host.schedules().at(0).fired << " missed " << host.schedules().at(0).missed
                   << " refused " << host.schedules().at(0).refused << " runs " << runs.load());
    REQUIRE(moved);
  }
  // The run's end reaches the schedule after the function's counters move (the invocation's
  // last reference goes after its completion is counted): wait for both.
  REQUIRE(wait_until([&] {
    const fnhost::ScheduleInfo now = host.schedules().at(0);
    const fnhost::FunctionStats stats = stats_of(host, "job");
    return now.fired + now.skipped == minutes + 1 && stats.events_pending == 0 &&
           stats.events_succeeded == now.fired;
  }));
  const fnhost::ScheduleInfo info = host.schedules().at(0);
  // Only the first fire ran; the others found its run unfinished — but for the last, which may
  // have come after the retry (due at the same time) ended.
  CHECK(info.skipped >= minutes - 1);
  // Its run over, the schedule runs again at a next fire: the first, unless that one came
  // while the ended run was still letting go of the schedule.
  for (int extra = 0; extra < 20 && host.schedules().at(0).fired == info.fired; ++extra) {
    REQUIRE(wait_until(armed));
    const int64_t moves = host.schedules().at(0).fired + host.schedules().at(0).skipped;
    clock->advance(absl::Minutes(1));
    REQUIRE(wait_until([&] {
      const fnhost::ScheduleInfo now = host.schedules().at(0);
      return now.fired + now.skipped == moves + 1;
    }));
  }
  CHECK(host.schedules().at(0).fired == info.fired + 1);
}

}  // namespace
