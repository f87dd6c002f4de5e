// SPDX-License-Identifier: Apache-2.0
// Tests for fnhost::Host: creation, the registry facade, sync and async entry points, and the
// executor underneath.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fnhost/host.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::Event;
using fnhost::Result;
using fnhost::testing::code_of;
using fnhost::testing::describe;
using fnhost::testing::echo_spec;
using fnhost::testing::Gate;
using fnhost::testing::gated_handler;
using fnhost::testing::GateOpener;
using fnhost::testing::make_host;
using fnhost::testing::manual_options;
using fnhost::testing::quiet_options;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

TEST_CASE("Host::create with quiet options returns an accepting host", "[host]") {
  fnhost::Host host = make_host();
  CHECK(host.is_accepting());
  CHECK(host.function_names().empty());
  CHECK_FALSE(host.has_function("anything"));
}

TEST_CASE("Host::create with an invalid executor option returns InvalidArgument", "[host]") {
  fnhost::HostOptions options = quiet_options();
  SECTION("max_threads = 0") { options.executor_options.max_threads = 0; }
  SECTION("min_threads above max_threads") {
    options.executor_options.min_threads = 9;
    options.executor_options.max_threads = 8;
  }
  SECTION("negative drain_timeout") { options.drain_timeout = absl::Seconds(-1); }
  absl::StatusOr<fnhost::Host> host = fnhost::Host::create(std::move(options));
  REQUIRE_FALSE(host.ok());
  CHECK(host.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("register_function makes a function visible by name, sorted", "[host]") {
  fnhost::Host host = make_host();
  REQUIRE(host.register_function(echo_spec("zeta")).ok());
  REQUIRE(host.register_function(echo_spec("alpha")).ok());
  REQUIRE(host.register_function(echo_spec("mid.dle-1_x")).ok());
  CHECK(host.has_function("alpha"));
  CHECK(host.has_function("zeta"));
  CHECK_FALSE(host.has_function("beta"));
  CHECK(host.function_names() == std::vector<std::string>{"alpha", "mid.dle-1_x", "zeta"});
}

TEST_CASE("registering a name twice returns AlreadyExists and keeps the first", "[host]") {
  fnhost::Host host = make_host();
  REQUIRE(host.register_function(fnhost::testing::constant_spec("dup", "first")).ok());
  absl::Status second = host.register_function(fnhost::testing::constant_spec("dup", "second"));
  CHECK(second.code() == absl::StatusCode::kAlreadyExists);
  const Result& result = host.invoke("dup", {}).get();
  INFO(describe(result));
  REQUIRE(result.ok());
  CHECK(*result == "first");
}

TEST_CASE("update_function and remove_function of an unknown name return NotFound", "[host]") {
  fnhost::Host host = make_host();
  CHECK(host.update_function(echo_spec("ghost")).code() == absl::StatusCode::kNotFound);
  CHECK(host.remove_function("ghost").code() == absl::StatusCode::kNotFound);
  CHECK(host.function_stats("ghost").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("invoke returns the handler's result", "[host]") {
  fnhost::Host host = make_host();
  REQUIRE(host.register_function(echo_spec("echo")).ok());
  fnhost::Completion done = host.invoke("echo", Event::with_data("hello"));
  const Result& result = done.get();
  INFO(describe(result));
  REQUIRE(result.ok());
  CHECK(*result == "hello");
  CHECK(done.is_ready());
}

TEST_CASE("invoke of an unknown function returns an already-ready NotFound completion",
          "[host]") {
  fnhost::Host host = make_host();
  REQUIRE(host.register_function(echo_spec("known")).ok());
  fnhost::Completion done = host.invoke("unknown", Event::with_data("x"));
  REQUIRE(done.is_ready());
  CHECK(code_of(done.get()) == absl::StatusCode::kNotFound);
  CHECK(host.invoke_async("unknown", Event::with_data("x")).code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE("invoke with an empty name returns InvalidArgument", "[host]") {
  fnhost::Host host = make_host();
  fnhost::Completion done = host.invoke("", {});
  REQUIRE(done.is_ready());
  CHECK(code_of(done.get()) == absl::StatusCode::kInvalidArgument);
  CHECK(host.invoke_async("", {}).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("invoke_async returns OK at once and the handler runs", "[host]") {
  std::atomic<int> runs{0};
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({.name = "count",
                                  .handler = [&runs](const Event&, Context&) -> Result {
                                    runs.fetch_add(1);
                                    return "ok";
                                  }})
              .ok());
  for (int i = 0; i < 10; ++i) REQUIRE(host.invoke_async("count", {}).ok());
  CHECK(wait_until([&] { return runs.load() == 10; }));
  CHECK(wait_until([&] { return stats_of(host, "count").successes == 10; }));
}

TEST_CASE("a handler may call back into the host", "[host]") {
  std::atomic<int> sink_runs{0};
  fnhost::Host host = make_host();
  fnhost::Host* host_ptr = &host;
  REQUIRE(host
              .register_function({.name = "sink",
                                  .handler = [&sink_runs](const Event&, Context&) -> Result {
                                    sink_runs.fetch_add(1);
                                    return "";
                                  }})
              .ok());
  REQUIRE(host
              .register_function(
                  {.name = "caller",
                   .handler = [host_ptr](const Event&, Context&) -> Result {
                     if (!host_ptr->has_function("sink")) return absl::InternalError("no sink");
                     absl::Status queued = host_ptr->invoke_async("sink", {});
                     if (!queued.ok()) return queued;
                     absl::StatusOr<fnhost::FunctionStats> stats =
                         host_ptr->function_stats("caller");
                     if (!stats.ok()) return stats.status();
                     return std::to_string(stats->invocations);
                   }})
              .ok());
  const Result& result = host.invoke("caller", {}).get();
  INFO(describe(result));
  REQUIRE(result.ok());
  CHECK(*result == "1");
  CHECK(wait_until([&] { return sink_runs.load() == 1; }));
}

TEST_CASE("executor_stats reflects invocations running on the executor", "[host]") {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::Host host = make_host(quiet_options(4));
  GateOpener open_on_exit(gate);
  REQUIRE(host
              .register_function({.name = "held",
                                  .handler = gated_handler(gate, started, "done")})
              .ok());
  fnhost::Completion done = host.invoke("held", {});
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  fnhost::ExecutorStats running = host.executor_stats();
  CHECK(running.threads >= 1);
  CHECK(running.busy >= 1);
  CHECK(running.spawned >= 1);
  gate->open();
  REQUIRE(done.get().ok());
  CHECK(wait_until([&] { return host.executor_stats().completed >= 1; }));
}

TEST_CASE("Host::executor is the executor passed in the options", "[host]") {
  auto executor = std::make_shared<fnhost::ManualExecutor>();
  fnhost::Host host = make_host(manual_options(executor));
  CHECK(&host.executor() == executor.get());
}

TEST_CASE("a host on a ManualExecutor runs invocations only when the executor is pumped",
          "[host]") {
  auto executor = std::make_shared<fnhost::ManualExecutor>();
  std::vector<int> order;  // only touched on this thread: the pumping thread runs handlers
  fnhost::Host host = make_host(manual_options(executor));
  REQUIRE(host
              .register_function({.name = "ordered",
                                  .handler = [&order](const Event& event, Context&) -> Result {
                                    order.push_back(std::stoi(event.data));
                                    return event.data;
                                  }})
              .ok());
  std::vector<fnhost::Completion> completions;
  for (int i = 0; i < 5; ++i) {
    completions.push_back(host.invoke("ordered", Event::with_data(std::to_string(i))));
  }
  for (const fnhost::Completion& done : completions) CHECK_FALSE(done.is_ready());
  CHECK(order.empty());
  CHECK(host.executor_stats().queued >= 1);

  executor->run_pending();
  for (std::size_t i = 0; i < completions.size(); ++i) {
    REQUIRE(completions[i].is_ready());
    const Result& result = completions[i].get();
    INFO(describe(result));
    REQUIRE(result.ok());
    CHECK(*result == std::to_string(i));
  }
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("a ManualExecutor host runs handlers on the pumping thread", "[host]") {
  auto executor = std::make_shared<fnhost::ManualExecutor>();
  std::thread::id handler_thread;
  fnhost::Host host = make_host(manual_options(executor));
  REQUIRE(host
              .register_function({.name = "where",
                                  .handler = [&handler_thread](const Event&, Context&) -> Result {
                                    handler_thread = std::this_thread::get_id();
                                    return "";
                                  }})
              .ok());
  REQUIRE(host.invoke_async("where", {}).ok());
  std::thread pump([&] { executor->run_pending(); });
  const std::thread::id pump_id = pump.get_id();
  pump.join();
  CHECK(handler_thread == pump_id);
}

TEST_CASE("a moved Host keeps working under its new name", "[host]") {
  fnhost::Host first = make_host();
  REQUIRE(first.register_function(echo_spec("echo")).ok());
  fnhost::Host second = std::move(first);
  const Result& result = second.invoke("echo", Event::with_data("moved")).get();
  INFO(describe(result));
  REQUIRE(result.ok());
  CHECK(*result == "moved");
  fnhost::Host third = make_host();
  third = std::move(second);
  CHECK(third.has_function("echo"));
  CHECK(*third.invoke("echo", Event::with_data("again")).get() == "again");
}

TEST_CASE("several hosts can share one AutoscalingExecutor", "[host]") {
  absl::StatusOr<std::unique_ptr<fnhost::AutoscalingExecutor>> created =
      fnhost::AutoscalingExecutor::create({.max_threads = 4});
  REQUIRE(created.ok());
  std::shared_ptr<fnhost::Executor> shared = std::move(*created);
  {
    fnhost::Host a = make_host(manual_options(shared));
    fnhost::Host b = make_host(manual_options(shared));
    REQUIRE(a.register_function(echo_spec("echo")).ok());
    REQUIRE(b.register_function(echo_spec("echo")).ok());
    CHECK(*a.invoke("echo", Event::with_data("a")).get() == "a");
    CHECK(*b.invoke("echo", Event::with_data("b")).get() == "b");
    CHECK(&a.executor() == shared.get());
  }
  // The hosts are gone; the executor they did not create still works.
  std::atomic<bool> ran{false};
  REQUIRE(shared->submit([&ran] { ran.store(true); }).ok());
  CHECK(wait_until([&] { return ran.load(); }));
  CHECK(shared->shutdown().ok());
}

}  // namespace
