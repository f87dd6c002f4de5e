// SPDX-License-Identifier: Apache-2.0
// Tests for one invocation's life: results and errors, instances and cold starts, timeouts,
// the Context a handler sees, calls between functions, and asynchronous invocations.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"
#include "testing/capture_log_sink.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Completion;
using fnhost::Context;
using fnhost::Event;
using fnhost::InitContext;
using fnhost::Result;
using fnhost::testing::CaptureLogSink;
using fnhost::testing::code_of;
using fnhost::testing::contains;
using fnhost::testing::describe;
using fnhost::testing::Gate;
using fnhost::testing::GateOpener;
using fnhost::testing::make_host;
using fnhost::testing::manual_options;
using fnhost::testing::message_of;
using fnhost::testing::quiet_options;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

using InitResult = absl::StatusOr<std::shared_ptr<void>>;

// ---------------------------------------------------------------------------------------------
// Results, errors and exceptions

TEST_CASE("a handler's error status reaches the sync caller unchanged and counts as an error",
          "[invocation]") {
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({.name = "refuse",
                                  .handler = [](const Event&, Context&) -> Result {
                                    return absl::FailedPreconditionError("bucket is locked");
                                  }})
              .ok());
  const Result& result = host.invoke("refuse", {}).get();
  INFO(describe(result));
  CHECK(code_of(result) == absl::StatusCode::kFailedPrecondition);
  CHECK(message_of(result) == "bucket is locked");
  CHECK(wait_until([&] { return stats_of(host, "refuse").errors == 1; }));
  fnhost::FunctionStats stats = stats_of(host, "refuse");
  CHECK(stats.successes == 0);
  CHECK(stats.invocations == 1);
}

TEST_CASE("a handler that throws is answered Internal and the host keeps working",
          "[invocation]") {
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({.name = "throws",
                                  .handler = [](const Event& event, Context&) -> Result {
                                    if (event.data == "std") throw std::runtime_error("kaboom 17");
                                    if (event.data == "int") throw 42;
                                    return "fine";
                                  }})
              .ok());
  SECTION("std::exception: the message carries what()") {
    const Result& result = host.invoke("throws", Event::with_data("std")).get();
    INFO(describe(result));
    CHECK(code_of(result) == absl::StatusCode::kInternal);
    CHECK(contains(message_of(result), "kaboom 17"));
  }
  SECTION("a non-std exception") {
    const Result& result = host.invoke("throws", Event::with_data("int")).get();
    INFO(describe(result));
    CHECK(code_of(result) == absl::StatusCode::kInternal);
  }
  SECTION("both kinds count as errors") {
    REQUIRE_FALSE(host.invoke("throws", Event::with_data("std")).get().ok());
    REQUIRE_FALSE(host.invoke("throws", Event::with_data("int")).get().ok());
    CHECK(wait_until([&] { return stats_of(host, "throws").errors == 2; }));
    CHECK(stats_of(host, "throws").successes == 0);
  }
  const Result& after = host.invoke("throws", Event::with_data("ok")).get();
  INFO(describe(after));
  REQUIRE(after.ok());
  CHECK(*after == "fine");
}

TEST_CASE("an exception from an async handler is counted and the workers survive",
          "[invocation]") {
  std::atomic<int> runs{0};
  fnhost::Host host = make_host(quiet_options(2));
  REQUIRE(host
              .register_function({.name = "throws",
                                  .handler = [&runs](const Event& event, Context&) -> Result {
                                    runs.fetch_add(1);
                                    if (event.data == "int") throw 42;
                                    throw std::logic_error("async kaboom");
                                  },
                                  // Counts one attempt per event: no retries.
                                  .retry = {.max_attempts = 1}})
              .ok());
  for (int i = 0; i < 20; ++i) {
    REQUIRE(host.invoke_async("throws", Event::with_data(i % 2 == 0 ? "int" : "std")).ok());
  }
  CHECK(wait_until([&] { return stats_of(host, "throws").errors == 20; }));
  CHECK(runs.load() == 20);
  REQUIRE(host.register_function(fnhost::testing::echo_spec("echo")).ok());
  CHECK(*host.invoke("echo", Event::with_data("alive")).get() == "alive");
}

// ---------------------------------------------------------------------------------------------
// Instances, init and cold starts

TEST_CASE("the first invocation is a cold start and back-to-back calls stay warm on one instance",
          "[invocation]") {
  std::atomic<int> inits{0};
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({
                  .name = "stateful",
                  .handler = [](const Event&, Context& ctx) -> Result {
                    int* state = ctx.instance_state<int>();
                    if (state == nullptr) return absl::InternalError("no state");
                    return std::to_string(*state) + (ctx.is_cold_start() ? ":cold" : ":warm");
                  },
                  .init = [&inits](const InitContext&) -> InitResult {
                    return std::make_shared<int>(inits.fetch_add(1) + 100);
                  },
              })
              .ok());
  std::vector<std::string> answers;
  for (int i = 0; i < 3; ++i) {
    const Result& result = host.invoke("stateful", {}).get();
    INFO(describe(result));
    REQUIRE(result.ok());
    answers.push_back(*result);
  }
  CHECK(answers == std::vector<std::string>{"100:cold", "100:warm", "100:warm"});
  CHECK(inits.load() == 1);
  fnhost::FunctionStats stats = stats_of(host, "stateful");
  CHECK(stats.cold_starts == 1);
  CHECK(stats.instances == 1);
  CHECK(stats.init_duration.count == 1);
}

TEST_CASE("instance_state is null for a function without init", "[invocation]") {
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({.name = "plain",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    return ctx.instance_state<int>() == nullptr ? "null"
                                                                                 : "not null";
                                  }})
              .ok());
  const Result& result = host.invoke("plain", {}).get();
  INFO(describe(result));
  REQUIRE(result.ok());
  CHECK(*result == "null");
}

TEST_CASE("concurrent invocations get separate instances", "[invocation]") {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> inits{0};
  std::atomic<int> started{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host
              .register_function({
                  .name = "pair",
                  .handler = [gate, &started](const Event&, Context& ctx) -> Result {
                    started.fetch_add(1);
                    gate->wait();
                    return std::to_string(*ctx.instance_state<int>());
                  },
                  .init = [&inits](const InitContext&) -> InitResult {
                    return std::make_shared<int>(inits.fetch_add(1));
                  },
              })
              .ok());
  Completion first = host.invoke("pair", {});
  Completion second = host.invoke("pair", {});
  REQUIRE(wait_until([&] { return started.load() == 2; }));
  CHECK(stats_of(host, "pair").instances == 2);
  gate->open();
  REQUIRE(first.get().ok());
  REQUIRE(second.get().ok());
  CHECK(*first.get() != *second.get());
  CHECK(inits.load() == 2);
  CHECK(stats_of(host, "pair").cold_starts == 2);
}

TEST_CASE("a failing init fails the invocation with Internal and the next one retries init",
          "[invocation]") {
  std::atomic<int> inits{0};
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({
                  .name = "flaky",
                  .handler = [](const Event&, Context& ctx) -> Result {
                    return std::string(ctx.is_cold_start() ? "cold:" : "warm:") +
                           std::to_string(*ctx.instance_state<int>());
                  },
                  .init = [&inits](const InitContext&) -> InitResult {
                    if (inits.fetch_add(1) == 0) return absl::UnavailableError("cache offline");
                    return std::make_shared<int>(5);
                  },
              })
              .ok());
  const Result& failed = host.invoke("flaky", {}).get();
  INFO(describe(failed));
  CHECK(code_of(failed) == absl::StatusCode::kInternal);
  CHECK(contains(message_of(failed), "cache offline"));
  CHECK(wait_until([&] { return stats_of(host, "flaky").errors == 1; }));

  const Result& retried = host.invoke("flaky", {}).get();
  INFO(describe(retried));
  REQUIRE(retried.ok());
  CHECK(*retried == "cold:5");
  CHECK(inits.load() == 2);
  const Result& warm = host.invoke("flaky", {}).get();
  REQUIRE(warm.ok());
  CHECK(*warm == "warm:5");
}

TEST_CASE("an init that throws fails the invocation with Internal", "[invocation]") {
  std::atomic<int> inits{0};
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({
                  .name = "init-throws",
                  .handler = fnhost::testing::echo_handler(),
                  .init = [&inits](const InitContext&) -> InitResult {
                    if (inits.fetch_add(1) == 0) throw std::runtime_error("init exploded");
                    return std::make_shared<int>(0);
                  },
              })
              .ok());
  const Result& failed = host.invoke("init-throws", {}).get();
  INFO(describe(failed));
  CHECK(code_of(failed) == absl::StatusCode::kInternal);
  CHECK(contains(message_of(failed), "init exploded"));
  const Result& retried = host.invoke("init-throws", Event::with_data("ok")).get();
  INFO(describe(retried));
  REQUIRE(retried.ok());
  CHECK(*retried == "ok");
}

// ---------------------------------------------------------------------------------------------
// Timeouts

TEST_CASE("at the deadline the caller gets DeadlineExceeded while the handler still runs",
          "[invocation]") {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  std::atomic<bool> saw_cancellation{false};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host
              .register_function({
                  .name = "slow",
                  .handler = [gate, &started, &finished, &saw_cancellation](
                                 const Event&, Context& ctx) -> Result {
                    started.fetch_add(1);
                    gate->wait();
                    saw_cancellation.store(ctx.is_cancelled() &&
                                           ctx.cancellation().is_cancelled());
                    finished.fetch_add(1);
                    return "too late";
                  },
                  .timeout = absl::Milliseconds(50),
              })
              .ok());
  Completion done = host.invoke("slow", {});
  const Result& result = done.get();  // answered by the deadline, the gate is still closed
  INFO(describe(result));
  CHECK(code_of(result) == absl::StatusCode::kDeadlineExceeded);
  CHECK(wait_until([&] { return started.load() == 1; }));
  CHECK(finished.load() == 0);
  CHECK(wait_until([&] { return stats_of(host, "slow").timeouts == 1; }));
  CHECK(stats_of(host, "slow").late_results == 0);

  gate->open();
  CHECK(wait_until([&] { return stats_of(host, "slow").late_results == 1; }));
  CHECK(finished.load() == 1);
  CHECK(saw_cancellation.load());
  // The late result is dropped: the caller's answer does not change.
  CHECK(code_of(done.get()) == absl::StatusCode::kDeadlineExceeded);
  fnhost::FunctionStats stats = stats_of(host, "slow");
  CHECK(stats.successes == 0);
  CHECK(stats.timeouts == 1);
}

TEST_CASE("a handler polling its cancellation sees it fire at the deadline", "[invocation]") {
  std::atomic<int> observed{0};  // 1: saw cancellation, 2: gave up waiting for it
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({
                  .name = "poller",
                  .handler = [&observed](const Event&, Context& ctx) -> Result {
                    const bool cancelled =
                        wait_until([&ctx] { return ctx.is_cancelled(); });
                    observed.store(cancelled ? 1 : 2);
                    return "stopped";
                  },
                  .timeout = absl::Milliseconds(50),
              })
              .ok());
  const Result& result = host.invoke("poller", {}).get();
  INFO(describe(result));
  CHECK(code_of(result) == absl::StatusCode::kDeadlineExceeded);
  CHECK(wait_until([&] { return observed.load() != 0; }));
  CHECK(observed.load() == 1);
  CHECK(wait_until([&] { return stats_of(host, "poller").late_results == 1; }));
}

TEST_CASE("ctx.sleep_for returns false when the deadline cancels it", "[invocation]") {
  std::atomic<int> slept{0};  // 1: returned true, 2: returned false
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({
                  .name = "sleeper",
                  .handler = [&slept](const Event&, Context& ctx) -> Result {
                    const bool completed = ctx.sleep_for(absl::Seconds(60));
                    slept.store(completed ? 1 : 2);
                    return "woke";
                  },
                  .timeout = absl::Milliseconds(50),
              })
              .ok());
  const Result& result = host.invoke("sleeper", {}).get();
  CHECK(code_of(result) == absl::StatusCode::kDeadlineExceeded);
  CHECK(wait_until([&] { return slept.load() != 0; }));
  CHECK(slept.load() == 2);
}

TEST_CASE("ctx.sleep_for returns true when nothing cancels it", "[invocation]") {
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({
                  .name = "napper",
                  .handler = [](const Event&, Context& ctx) -> Result {
                    return ctx.sleep_for(absl::Milliseconds(1)) ? "rested" : "cancelled";
                  },
                  .timeout = absl::Seconds(60),
              })
              .ok());
  const Result& result = host.invoke("napper", {}).get();
  INFO(describe(result));
  REQUIRE(result.ok());
  CHECK(*result == "rested");
}

TEST_CASE("ctx.remaining is positive and at most the timeout when the handler starts",
          "[invocation]") {
  struct Seen {
    std::mutex mu;
    absl::Duration remaining = absl::ZeroDuration();
  };
  auto seen = std::make_shared<Seen>();
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({
                  .name = "timer",
                  .handler = [seen](const Event&, Context& ctx) -> Result {
                    std::lock_guard<std::mutex> lock(seen->mu);
                    seen->remaining = ctx.remaining();
                    return "";
                  },
                  .timeout = absl::Seconds(30),
              })
              .ok());
  REQUIRE(host.invoke("timer", {}).get().ok());
  std::lock_guard<std::mutex> lock(seen->mu);
  INFO(absl::FormatDuration(seen->remaining));
  CHECK(seen->remaining > absl::ZeroDuration());
  CHECK(seen->remaining <= absl::Seconds(30));
}

TEST_CASE("the deadline counts init time", "[invocation]") {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> init_started{0};
  std::atomic<int> handler_runs{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host
              .register_function({
                  .name = "slow-init",
                  .handler = [&handler_runs](const Event&, Context&) -> Result {
                    handler_runs.fetch_add(1);
                    return "ran";
                  },
                  .init = [gate, &init_started](const InitContext&) -> InitResult {
                    init_started.fetch_add(1);
                    gate->wait();
                    return std::make_shared<int>(0);
                  },
                  .timeout = absl::Milliseconds(50),
              })
              .ok());
  const Result& result = host.invoke("slow-init", {}).get();  // init is still blocked
  INFO(describe(result));
  CHECK(code_of(result) == absl::StatusCode::kDeadlineExceeded);
  CHECK(wait_until([&] { return init_started.load() == 1; }));
  CHECK(wait_until([&] { return stats_of(host, "slow-init").timeouts == 1; }));
  gate->open();
}

TEST_CASE("a timed-out invocation's instance is discarded, not reused", "[invocation]") {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> inits{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host
              .register_function({
                  .name = "stuck-once",
                  .handler = [gate](const Event& event, Context& ctx) -> Result {
                    if (event.data == "block") gate->wait();
                    return std::string(ctx.is_cold_start() ? "cold:" : "warm:") +
                           std::to_string(*ctx.instance_state<int>());
                  },
                  .init = [&inits](const InitContext&) -> InitResult {
                    return std::make_shared<int>(inits.fetch_add(1));
                  },
                  .timeout = absl::Milliseconds(50),
              })
              .ok());
  CHECK(code_of(host.invoke("stuck-once", Event::with_data("block")).get()) ==
        absl::StatusCode::kDeadlineExceeded);
  gate->open();
  REQUIRE(wait_until([&] { return stats_of(host, "stuck-once").late_results == 1; }));
  CHECK(wait_until([&] { return stats_of(host, "stuck-once").instances == 0; }));

  const Result& next = host.invoke("stuck-once", {}).get();
  INFO(describe(next));
  REQUIRE(next.ok());
  CHECK(*next == "cold:1");
  CHECK(inits.load() == 2);
  CHECK(stats_of(host, "stuck-once").cold_starts == 2);
}

// ---------------------------------------------------------------------------------------------
// Context

TEST_CASE("Context identifies the invocation and the function", "[invocation]") {
  std::mutex mu;
  std::set<std::string> ids;
  std::atomic<int> empty_ids{0};
  std::atomic<int> wrong_names{0};
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({
                  .name = "who",
                  .handler = [&](const Event&, Context& ctx) -> Result {
                    std::string id = ctx.invocation_id();
                    if (id.empty()) empty_ids.fetch_add(1);
                    if (ctx.function_name() != "who") wrong_names.fetch_add(1);
                    std::lock_guard<std::mutex> lock(mu);
                    ids.insert(std::move(id));
                    return std::to_string(ctx.function_version());
                  },
              })
              .ok());
  constexpr int kSync = 50;
  constexpr int kAsync = 50;
  std::vector<Completion> completions;
  for (int i = 0; i < kSync; ++i) completions.push_back(host.invoke("who", {}));
  for (int i = 0; i < kAsync; ++i) REQUIRE(host.invoke_async("who", {}).ok());
  for (const Completion& done : completions) {
    const Result& result = done.get();
    INFO(describe(result));
    REQUIRE(result.ok());
    CHECK(*result == "1");
  }
  REQUIRE(wait_until([&] { return stats_of(host, "who").successes == kSync + kAsync; }));
  CHECK(empty_ids.load() == 0);
  CHECK(wrong_names.load() == 0);
  std::lock_guard<std::mutex> lock(mu);
  CHECK(ids.size() == static_cast<std::size_t>(kSync + kAsync));  // all distinct
}

TEST_CASE("Context reports version 1 after register and 2 after one update", "[invocation]") {
  auto version_handler = [](const Event&, Context& ctx) -> Result {
    return std::to_string(ctx.function_version());
  };
  fnhost::Host host = make_host();
  REQUIRE(host.register_function({.name = "versioned", .handler = version_handler}).ok());
  CHECK(*host.invoke("versioned", {}).get() == "1");
  REQUIRE(host.update_function({.name = "versioned", .handler = version_handler}).ok());
  CHECK(*host.invoke("versioned", {}).get() == "2");
  CHECK(stats_of(host, "versioned").version == 2);
}

TEST_CASE("Context::env returns the spec's values and nullopt for a missing key",
          "[invocation]") {
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({
                  .name = "env",
                  .handler = [](const Event& event, Context& ctx) -> Result {
                    std::optional<std::string_view> value = ctx.env(event.data);
                    if (!value.has_value()) return std::string("<nullopt>");
                    return std::string(*value);
                  },
                  .env = {{"K", "v"}, {"EMPTY", ""}},
              })
              .ok());
  CHECK(*host.invoke("env", Event::with_data("K")).get() == "v");
  CHECK(*host.invoke("env", Event::with_data("EMPTY")).get() == "");
  CHECK(*host.invoke("env", Event::with_data("MISSING")).get() == "<nullopt>");
}

TEST_CASE("ctx.invoke chains three functions synchronously", "[invocation]") {
  auto run_chain = [](fnhost::Host& host, const std::function<Result(Completion)>& answer) {
    REQUIRE(host
                .register_function({.name = "c",
                                    .handler = [](const Event& event, Context&) -> Result {
                                      return "c(" + event.data + ")";
                                    }})
                .ok());
    REQUIRE(host
                .register_function({.name = "b",
                                    .handler = [](const Event& event, Context& ctx) -> Result {
                                      Result inner = ctx.invoke("c", Event::with_data(event.data));
                                      if (!inner.ok()) return inner;
                                      return "b(" + *inner + ")";
                                    }})
                .ok());
    REQUIRE(host
                .register_function({.name = "a",
                                    .handler = [](const Event& event, Context& ctx) -> Result {
                                      Result inner = ctx.invoke("b", Event::with_data(event.data));
                                      if (!inner.ok()) return inner;
                                      return "a(" + *inner + ")";
                                    }})
                .ok());
    Result result = answer(host.invoke("a", Event::with_data("x")));
    INFO(describe(result));
    REQUIRE(result.ok());
    CHECK(*result == "a(b(c(x)))");
  };
  SECTION("on the autoscaling executor") {
    fnhost::Host host = make_host();
    run_chain(host, [](Completion done) -> Result { return done.get(); });
  }
  SECTION("on a ManualExecutor pumped by the test") {
    auto executor = std::make_shared<fnhost::ManualExecutor>();
    fnhost::Host host = make_host(manual_options(executor));
    run_chain(host, [&executor](Completion done) -> Result {
      executor->run_pending();
      REQUIRE(done.is_ready());
      return done.get();
    });
  }
}

TEST_CASE("ctx.invoke of an unknown function returns NotFound to the handler", "[invocation]") {
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({.name = "lost",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    Result inner = ctx.invoke("nowhere", {});
                                    if (inner.ok()) return std::string("found?");
                                    return std::string(absl::StatusCodeToString(
                                        inner.status().code()));
                                  }})
              .ok());
  const Result& result = host.invoke("lost", {}).get();
  INFO(describe(result));
  REQUIRE(result.ok());
  CHECK(*result == absl::StatusCodeToString(absl::StatusCode::kNotFound));
}

TEST_CASE("ctx.invoke_async queues an invocation of another function", "[invocation]") {
  std::atomic<int> received{0};
  std::atomic<int> right_payload{0};
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({.name = "target",
                                  .handler = [&](const Event& event, Context&) -> Result {
                                    // Payload first: the test waits on `received`.
                                    if (event.data == "forwarded") right_payload.fetch_add(1);
                                    received.fetch_add(1);
                                    return "";
                                  }})
              .ok());
  REQUIRE(host
              .register_function({.name = "forwarder",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    absl::Status queued = ctx.invoke_async(
                                        "target", Event::with_data("forwarded"));
                                    if (!queued.ok()) return queued;
                                    absl::Status missing = ctx.invoke_async("nowhere", {});
                                    return std::string(
                                        absl::StatusCodeToString(missing.code()));
                                  }})
              .ok());
  const Result& result = host.invoke("forwarder", {}).get();
  INFO(describe(result));
  REQUIRE(result.ok());
  CHECK(*result == absl::StatusCodeToString(absl::StatusCode::kNotFound));
  CHECK(wait_until([&] { return received.load() == 1; }));
  CHECK(right_payload.load() == 1);
}

// ---------------------------------------------------------------------------------------------
// Async

TEST_CASE("a failing async invocation is counted and logged with its id", "[invocation]") {
  auto sink = std::make_shared<CaptureLogSink>();
  fnhost::Host host = make_host(quiet_options(8, sink));
  REQUIRE(host
              .register_function({.name = "async-fail",
                                  .handler = [](const Event&, Context&) -> Result {
                                    return absl::InternalError("quota file corrupt");
                                  },
                                  // Counts one attempt per event: no retries.
                                  .retry = {.max_attempts = 1}})
              .ok());
  REQUIRE(host.invoke_async("async-fail", {}).ok());
  CHECK(wait_until([&] { return stats_of(host, "async-fail").errors == 1; }));
  auto matches = [](const fnhost::testing::CapturedLogRecord& record) {
    return (record.level == fnhost::LogLevel::kError ||
            record.level == fnhost::LogLevel::kWarning) &&
           record.function == "async-fail" && !record.invocation_id.empty() &&
           contains(record.message, "quota file corrupt");
  };
  CHECK(wait_until([&] { return sink->any(matches); }));
}

TEST_CASE("async invocations from many threads each end exactly once", "[invocation][stress]") {
  constexpr int kProducers = 8;
  constexpr int kPerProducer = 2000;
  constexpr int kTotal = kProducers * kPerProducer;
  std::vector<std::atomic<int>> runs(kTotal);
  std::atomic<int> bad_events{0};
  std::atomic<int> accepted{0};
  std::atomic<int> refused{0};
  {
    fnhost::Host host = make_host(quiet_options(8));
    REQUIRE(host
                .register_function({.name = "count",
                                    .handler = [&](const Event& event, Context&) -> Result {
                                      const int index = std::stoi(event.data);
                                      if (index < 0 || index >= kTotal) {
                                        bad_events.fetch_add(1);
                                      } else {
                                        runs[static_cast<std::size_t>(index)].fetch_add(1);
                                      }
                                      return "";
                                    }})
                .ok());
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (int i = 0; i < kPerProducer; ++i) {
          const int index = p * kPerProducer + i;
          if (host.invoke_async("count", Event::with_data(std::to_string(index))).ok()) {
            accepted.fetch_add(1);
          } else {
            refused.fetch_add(1);
            runs[static_cast<std::size_t>(index)].fetch_sub(1000);  // marks "never accepted"
          }
        }
      });
    }
    for (std::thread& producer : producers) producer.join();
    CHECK(refused.load() == 0);
    CHECK(wait_until([&] { return stats_of(host, "count").successes == accepted.load(); }));
    fnhost::FunctionStats stats = stats_of(host, "count");
    CHECK(stats.invocations == accepted.load());
    CHECK(stats.successes == accepted.load());
    CHECK(stats.errors == 0);
  }
  // The host is gone: nothing can run any more. Every accepted event ran exactly once.
  int not_once = 0;
  for (const std::atomic<int>& count : runs) {
    const int value = count.load();
    if (value != 1 && value != -1000) ++not_once;
  }
  CHECK(not_once == 0);
  CHECK(bad_events.load() == 0);
}

}  // namespace
