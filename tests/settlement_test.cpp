// SPDX-License-Identifier: Apache-2.0
// Settlement callbacks: invoke_async and publish with `on_settled` tell the caller, exactly
// once, how an accepted event ended — after its retries, across fan-out, batches and ordering
// groups, and at shutdown — and never for a refused one.
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/fnhost.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/scale.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::Event;
using fnhost::Host;
using fnhost::Result;
using fnhost::SettledEvent;
using fnhost::Settlement;
using fnhost::testing::ClockedHost;
using fnhost::testing::Gate;
using fnhost::testing::GateOpener;
using fnhost::testing::make_host;
using fnhost::testing::quiet_options;
using fnhost::testing::wait_until;

// Every settlement a test's callbacks were told. Held by shared_ptr in each callback, so it
// outlives a host that settles during its destruction.
struct Settlements {
  std::mutex mu;
  std::vector<SettledEvent> told;
  std::atomic<int> count{0};

  static fnhost::SettledCallback recorder(const std::shared_ptr<Settlements>& into) {
    return [into](const SettledEvent& settled) {
      {
        std::lock_guard lock(into->mu);
        into->told.push_back(settled);
      }
      into->count.fetch_add(1);
    };
  }
  SettledEvent at(size_t i) {
    std::lock_guard lock(mu);
    return told.at(i);
  }
  int counted(Settlement outcome) {
    std::lock_guard lock(mu);
    int n = 0;
    for (const SettledEvent& settled : told) n += settled.outcome == outcome ? 1 : 0;
    return n;
  }
};

fnhost::FunctionSpec failing_spec(std::string name, int max_attempts) {
  return {.name = std::move(name),
          .handler = [](const Event&, Context&) -> Result {
            return absl::InternalError("always fails");
          },
          .retry = {.max_attempts = max_attempts,
                    .initial_backoff = absl::Milliseconds(1),
                    .max_backoff = absl::Milliseconds(2)}};
}

TEST_CASE("invoke_async with on_settled tells a success once, after the handler ran",
          "[settlement]") {
  auto settled = std::make_shared<Settlements>();
  Host host = make_host();
  REQUIRE(host.register_function(fnhost::testing::echo_spec("echo")).ok());
  REQUIRE(host.invoke_async("echo", Event::with_data("x"), Settlements::recorder(settled)).ok());
  REQUIRE(wait_until([&] { return settled->count.load() == 1; }));
  const SettledEvent told = settled->at(0);
  CHECK(told.outcome == Settlement::kSucceeded);
  CHECK(told.error.ok());
  CHECK(told.attempts == 1);
  CHECK(fnhost::testing::stats_of(host, "echo").events_succeeded == 1);
  host.shutdown(absl::Seconds(10));
  CHECK(settled->count.load() == 1);
}

TEST_CASE("a failing event settles as dead-lettered after its last retry, with its error",
          "[settlement]") {
  auto settled = std::make_shared<Settlements>();
  ClockedHost clocked;
  Host& host = clocked.host;
  REQUIRE(host.register_function(failing_spec("fails", 3)).ok());
  REQUIRE(host.invoke_async("fails", Event::with_data("x"), Settlements::recorder(settled)).ok());
  // Each retry waits on the manual clock; nothing settles before the third attempt failed.
  REQUIRE(wait_until([&] {
    clocked.clock->advance(absl::Milliseconds(5));
    return settled->count.load() == 1;
  }));
  const SettledEvent told = settled->at(0);
  CHECK(told.outcome == Settlement::kDeadLettered);
  CHECK(told.attempts == 3);
  CHECK(told.error.code() == absl::StatusCode::kInternal);
  CHECK(fnhost::testing::message_contains(told.error, "always fails"));
  CHECK(host.dead_letter_count("fails") == 1);
}

TEST_CASE("a refused event is never settled", "[settlement]") {
  auto settled = std::make_shared<Settlements>();
  {
    Host host = make_host();
    REQUIRE(host.register_function({.name = "full",
                                    .handler = fnhost::testing::echo_handler(),
                                    .max_concurrency = 1,
                                    .max_queued = 1})
                .ok());
    CHECK(host.invoke_async("missing", Event::with_data("x"), Settlements::recorder(settled))
              .code() == absl::StatusCode::kNotFound);
    CHECK(host.invoke_async("", Event::with_data("x"), Settlements::recorder(settled)).code() ==
          absl::StatusCode::kInvalidArgument);
    CHECK(host.publish(Event{.topic = "bad/#/topic"}, Settlements::recorder(settled)).code() ==
          absl::StatusCode::kInvalidArgument);
    host.shutdown(absl::Seconds(10));
    CHECK(host.invoke_async("full", Event::with_data("x"), Settlements::recorder(settled)).code() ==
          absl::StatusCode::kUnavailable);
    CHECK(host.publish(Event{.topic = "a"}, Settlements::recorder(settled)).code() ==
          absl::StatusCode::kUnavailable);
  }
  CHECK(settled->count.load() == 0);
}

TEST_CASE("a full queue refuses the event and does not settle it", "[settlement]") {
  auto settled = std::make_shared<Settlements>();
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  Host host = make_host();
  GateOpener opener(gate);
  REQUIRE(host.register_function({.name = "held",
                                  .handler = fnhost::testing::gated_handler(gate, started),
                                  .max_concurrency = 1,
                                  .max_queued = 1})
              .ok());
  REQUIRE(host.invoke_async("held", Event::with_data("1"), Settlements::recorder(settled)).ok());
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  REQUIRE(host.invoke_async("held", Event::with_data("2"), Settlements::recorder(settled)).ok());
  CHECK(host.invoke_async("held", Event::with_data("3"), Settlements::recorder(settled)).code() ==
        absl::StatusCode::kResourceExhausted);
  gate->open();
  REQUIRE(wait_until([&] { return settled->count.load() == 2; }));
  host.shutdown(absl::Seconds(10));
  CHECK(settled->count.load() == 2);
  CHECK(settled->counted(Settlement::kSucceeded) == 2);
}

TEST_CASE("a duplicate idempotency key settles at once as a success without running",
          "[settlement]") {
  auto settled = std::make_shared<Settlements>();
  std::atomic<int> runs{0};
  Host host = make_host();
  REQUIRE(host.register_function({.name = "once",
                                  .handler = [&runs](const Event&, Context&) -> Result {
                                    runs.fetch_add(1);
                                    return std::string("done");
                                  }})
              .ok());
  const Event keyed{.data = "x", .idempotency_key = "entry-1"};
  REQUIRE(host.invoke_async("once", keyed, Settlements::recorder(settled)).ok());
  REQUIRE(wait_until([&] { return settled->count.load() == 1; }));
  REQUIRE(host.invoke_async("once", keyed, Settlements::recorder(settled)).ok());
  // Answered during the call: told before it returned.
  CHECK(settled->count.load() == 2);
  const SettledEvent duplicate = settled->at(1);
  CHECK(duplicate.outcome == Settlement::kSucceeded);
  CHECK(duplicate.attempts == 0);
  CHECK(runs.load() == 1);
}

TEST_CASE("a duplicate that arrives while the first copy runs settles as the first does",
          "[settlement]") {
  auto settled = std::make_shared<Settlements>();
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  std::atomic<bool> fail{false};
  Host host = make_host();
  GateOpener opener(gate);
  REQUIRE(host.register_function({.name = "held",
                                  .handler = [&](const Event&, Context&) -> Result {
                                    started.fetch_add(1);
                                    gate->wait();
                                    if (fail.load()) {
                                      return fnhost::not_retryable(absl::InternalError("broken"));
                                    }
                                    return std::string("done");
                                  }})
              .ok());
  const bool first_fails = GENERATE(false, true);
  fail.store(first_fails);
  const Event keyed{.data = "x", .idempotency_key = "entry-7"};
  REQUIRE(host.invoke_async("held", keyed, Settlements::recorder(settled)).ok());
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  REQUIRE(host.invoke_async("held", keyed, Settlements::recorder(settled)).ok());
  // Not acknowledged while the first copy's work is not done.
  CHECK(settled->count.load() == 0);
  gate->open();
  REQUIRE(wait_until([&] { return settled->count.load() == 2; }));
  const Settlement expected = first_fails ? Settlement::kDeadLettered : Settlement::kSucceeded;
  CHECK(settled->counted(expected) == 2);
  CHECK(started.load() == 1);
}

TEST_CASE("shutdown settles queued and cancelled events as dropped", "[settlement]") {
  auto settled = std::make_shared<Settlements>();
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  Host host = make_host();
  GateOpener opener(gate);
  REQUIRE(host.register_function({.name = "held",
                                  .handler = fnhost::testing::gated_handler(gate, started),
                                  .max_concurrency = 1})
              .ok());
  REQUIRE(
      host.invoke_async("held", Event::with_data("running"), Settlements::recorder(settled)).ok());
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  REQUIRE(
      host.invoke_async("held", Event::with_data("queued"), Settlements::recorder(settled)).ok());
  const fnhost::ShutdownReport report = host.shutdown(absl::Milliseconds(50));
  CHECK(report.dropped == 1);
  // The queued one is settled by shutdown; the running one once its handler gives it back.
  REQUIRE(wait_until([&] { return settled->count.load() == 1; }));
  CHECK(settled->at(0).outcome == Settlement::kDropped);
  gate->open();
  REQUIRE(wait_until([&] { return settled->count.load() == 2; }));
  CHECK(settled->at(1).outcome == Settlement::kDropped);
  CHECK(settled->at(1).attempts == 1);
}

TEST_CASE("publish settles once every delivery ended, by the worst outcome", "[settlement]") {
  auto settled = std::make_shared<Settlements>();
  ClockedHost clocked;
  Host& host = clocked.host;
  REQUIRE(host.register_function(fnhost::testing::echo_spec("a")).ok());
  REQUIRE(host.register_function(fnhost::testing::echo_spec("b")).ok());
  REQUIRE(host.register_function(failing_spec("c", 2)).ok());
  for (const char* name : {"a", "b"}) {
    REQUIRE(host.subscribe({.pattern = "orders/#", .function = name}).ok());
  }
  const fnhost::TriggerId failing = *host.subscribe({.pattern = "orders/+", .function = "c"});

  SECTION("every delivery succeeded") {
    REQUIRE(host.unsubscribe(failing).ok());
    REQUIRE(
        host.publish(Event{.topic = "orders/1", .data = "x"}, Settlements::recorder(settled)).ok());
    REQUIRE(wait_until([&] { return settled->count.load() == 1; }));
    CHECK(settled->at(0).outcome == Settlement::kSucceeded);
    CHECK(fnhost::testing::stats_of(host, "a").events_succeeded == 1);
    CHECK(fnhost::testing::stats_of(host, "b").events_succeeded == 1);
  }
  SECTION("one delivery was dead-lettered after its retries") {
    REQUIRE(
        host.publish(Event{.topic = "orders/1", .data = "x"}, Settlements::recorder(settled)).ok());
    REQUIRE(wait_until([&] {
      clocked.clock->advance(absl::Milliseconds(5));
      return settled->count.load() == 1;
    }));
    const SettledEvent told = settled->at(0);
    CHECK(told.outcome == Settlement::kDeadLettered);
    CHECK(told.attempts == 2);
    CHECK(fnhost::testing::message_contains(told.error, "always fails"));
    // Not before the successes: they ended too.
    CHECK(fnhost::testing::stats_of(host, "a").events_succeeded == 1);
    CHECK(fnhost::testing::stats_of(host, "b").events_succeeded == 1);
  }
  SECTION("no trigger took it") {
    REQUIRE(host.publish(Event{.topic = "nobody/listens"}, Settlements::recorder(settled)).ok());
    CHECK(settled->count.load() == 1);
    CHECK(settled->at(0).outcome == Settlement::kSucceeded);
    CHECK(settled->at(0).attempts == 0);
  }
  SECTION("the catch-all took it") {
    REQUIRE(host.set_unrouted_function("a").ok());
    REQUIRE(host.publish(Event{.topic = "nobody/listens"}, Settlements::recorder(settled)).ok());
    REQUIRE(wait_until([&] { return settled->count.load() == 1; }));
    CHECK(settled->at(0).outcome == Settlement::kSucceeded);
    CHECK(settled->at(0).attempts == 1);
    CHECK(fnhost::testing::stats_of(host, "a").events_succeeded == 1);
  }
}

TEST_CASE("batched and ordered deliveries settle when their invocations end", "[settlement]") {
  auto settled = std::make_shared<Settlements>();
  ClockedHost clocked;
  Host& host = clocked.host;
  std::atomic<int> batches{0};
  REQUIRE(host.register_function({.name = "batch",
                                  .handler = [&batches](const Event&, Context& ctx) -> Result {
                                    batches.fetch_add(1);
                                    // Fails the second item of the batch for good.
                                    if (ctx.batch() != nullptr && ctx.batch()->size() > 1) {
                                      absl::Status failed = ctx.fail_batch_item(
                                          1, fnhost::not_retryable(
                                                 absl::InvalidArgumentError("bad item")));
                                      if (!failed.ok()) return failed;
                                    }
                                    return std::string();
                                  }})
              .ok());
  REQUIRE(host.register_function(fnhost::testing::echo_spec("ordered")).ok());
  REQUIRE(host.subscribe({.pattern = "batched",
                          .function = "batch",
                          .batch_size = 3,
                          .batch_window = absl::Seconds(10)})
              .ok());
  REQUIRE(host.subscribe({.pattern = "sequence", .function = "ordered", .ordering_key = "subject"})
              .ok());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(host.publish(Event{.topic = "batched", .data = std::to_string(i)},
                         Settlements::recorder(settled))
                .ok());
  }
  REQUIRE(wait_until([&] { return settled->count.load() == 3; }));
  CHECK(batches.load() == 1);
  CHECK(settled->counted(Settlement::kSucceeded) == 2);
  CHECK(settled->counted(Settlement::kDeadLettered) == 1);

  for (int i = 0; i < 5; ++i) {
    REQUIRE(host.publish(Event{.subject = "device-1", .topic = "sequence"},
                         Settlements::recorder(settled))
                .ok());
  }
  REQUIRE(wait_until([&] { return settled->count.load() == 8; }));
  CHECK(settled->counted(Settlement::kSucceeded) == 7);
}

TEST_CASE("a callback that throws is contained", "[settlement]") {
  std::atomic<int> called{0};
  Host host = make_host();
  REQUIRE(host.register_function(fnhost::testing::echo_spec("echo")).ok());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(host.invoke_async("echo", Event::with_data("x"),
                              [&called](const SettledEvent&) {
                                called.fetch_add(1);
                                throw std::runtime_error("callback failed");
                              })
                .ok());
  }
  REQUIRE(wait_until([&] { return called.load() == 3; }));
  host.shutdown(absl::Seconds(10));
  CHECK(called.load() == 3);
}

TEST_CASE("every accepted event is settled exactly once while producers race shutdown",
          "[settlement][stress]") {
  const int producers = 4;
  const int per_producer = fnhost::testing::scaled(3000, 500);
  for (int round = 0; round < fnhost::testing::scaled(10, 3); ++round) {
    auto settled = std::make_shared<Settlements>();
    std::atomic<int> accepted{0};
    Host host = make_host(quiet_options(4));
    REQUIRE(host.register_function({.name = "work",
                                    .handler = [](const Event& event, Context&) -> Result {
                                      if (event.data.size() % 7 == 0) {
                                        return fnhost::not_retryable(absl::InternalError("fails"));
                                      }
                                      return std::string();
                                    },
                                    .max_queued = 200})
                .ok());
    REQUIRE(host.subscribe({.pattern = "t/#", .function = "work"}).ok());
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        for (int i = 0; i < per_producer; ++i) {
          const std::string data(static_cast<size_t>(i % 20), 'x');
          const absl::Status status = (i + p) % 2 == 0
                                          ? host.invoke_async("work", Event::with_data(data),
                                                              Settlements::recorder(settled))
                                          : host.publish(Event{.topic = "t/x", .data = data},
                                                         Settlements::recorder(settled));
          if (status.ok()) accepted.fetch_add(1);
        }
      });
    }
    // Shut down while the producers run.
    REQUIRE(wait_until([&] { return accepted.load() >= per_producer / 2; }));
    host.shutdown(absl::Milliseconds(round % 3 == 0 ? 0 : 20));
    for (std::thread& thread : threads) thread.join();
    REQUIRE(wait_until([&] { return settled->count.load() >= accepted.load(); }));
    INFO("round " << round);
    CHECK(settled->count.load() == accepted.load());
  }
}

}  // namespace
