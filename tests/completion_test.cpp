// SPDX-License-Identifier: Apache-2.0
// Tests for fnhost::Completion: ready completions, waiting, polling and callbacks.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/completion.hpp"
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
using fnhost::testing::Gate;
using fnhost::testing::GateOpener;
using fnhost::testing::make_host;
using fnhost::testing::manual_options;
using fnhost::testing::wait_until;

// Registers "held": a handler that counts its start, waits for `gate`, and returns "released".
void register_held(fnhost::Host& host, std::shared_ptr<Gate> gate, std::atomic<int>& started) {
  REQUIRE(host
              .register_function({.name = "held",
                                  .handler = [gate = std::move(gate), &started](
                                                 const Event&, Context&) -> Result {
                                    started.fetch_add(1);
                                    gate->wait();
                                    return "released";
                                  }})
              .ok());
}

TEST_CASE("Completion::ready is answered at once", "[completion]") {
  SECTION("with a value") {
    Completion done = Completion::ready(std::string("value"));
    CHECK(done.is_ready());
    CHECK(done.wait_for(absl::ZeroDuration()));
    REQUIRE(done.get().ok());
    CHECK(*done.get() == "value");
  }
  SECTION("with an error") {
    Completion done = Completion::ready(absl::NotFoundError("nothing here"));
    CHECK(done.is_ready());
    CHECK(code_of(done.get()) == absl::StatusCode::kNotFound);
    CHECK(fnhost::testing::message_of(done.get()) == "nothing here");
  }
}

TEST_CASE("then on a ready completion runs the callback at once on the calling thread",
          "[completion]") {
  Completion done = Completion::ready(std::string("now"));
  int calls = 0;
  std::thread::id where;
  std::string seen;
  done.then([&](const Result& result) {
    ++calls;
    where = std::this_thread::get_id();
    seen = result.ok() ? *result : "error";
  });
  CHECK(calls == 1);
  CHECK(where == std::this_thread::get_id());
  CHECK(seen == "now");
}

TEST_CASE("copies of a completion share one result", "[completion]") {
  Completion done = Completion::ready(std::string("shared"));
  Completion copy = done;
  CHECK(&copy.get() == &done.get());
  CHECK(*copy.get() == "shared");
}

TEST_CASE("a pending completion is not ready and wait_for returns false until it is answered",
          "[completion]") {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  register_held(host, gate, started);

  Completion done = host.invoke("held", {});
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  CHECK_FALSE(done.is_ready());
  CHECK_FALSE(done.wait_for(absl::Milliseconds(5)));
  CHECK_FALSE(done.wait_for(absl::ZeroDuration()));
  CHECK_FALSE(done.is_ready());

  gate->open();
  CHECK(done.wait_for(absl::Seconds(60)));
  CHECK(done.is_ready());
  const Result& result = done.get();
  INFO(describe(result));
  REQUIRE(result.ok());
  CHECK(*result == "released");
}

TEST_CASE("get blocks until the handler returns", "[completion]") {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  register_held(host, gate, started);

  Completion done = host.invoke("held", {});
  std::atomic<bool> got{false};
  std::string value;  // written by the waiter, read after join
  std::thread waiter([&] {
    const Result& result = done.get();
    value = result.ok() ? *result : describe(result);
    got.store(true);
  });
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  CHECK_FALSE(got.load());
  gate->open();
  waiter.join();
  CHECK(got.load());
  CHECK(value == "released");
}

TEST_CASE("callbacks registered before completion each run exactly once when it completes",
          "[completion]") {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  register_held(host, gate, started);

  Completion done = host.invoke("held", {});
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  constexpr int kCallbacks = 5;
  std::vector<std::atomic<int>> calls(kCallbacks);
  std::atomic<int> saw_value{0};
  for (int i = 0; i < kCallbacks; ++i) {
    done.then([&calls, &saw_value, i](const Result& result) {
      calls[static_cast<std::size_t>(i)].fetch_add(1);
      if (result.ok() && *result == "released") saw_value.fetch_add(1);
    });
  }
  for (const auto& count : calls) CHECK(count.load() == 0);

  gate->open();
  REQUIRE(done.wait_for(absl::Seconds(60)));
  REQUIRE(wait_until([&] { return saw_value.load() == kCallbacks; }));
  // A callback registered after completion runs at once, on this thread.
  int late_calls = 0;
  done.then([&late_calls](const Result&) { ++late_calls; });
  CHECK(late_calls == 1);
  // Destroying the host must not run any callback a second time.
  host.shutdown(absl::Seconds(60));
  for (const auto& count : calls) CHECK(count.load() == 1);
  CHECK(late_calls == 1);
}

TEST_CASE("then registered from several threads at once runs each callback once",
          "[completion]") {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  register_held(host, gate, started);

  Completion done = host.invoke("held", {});
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  std::atomic<int> calls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) done.then([&calls](const Result&) { calls.fetch_add(1); });
    });
  }
  // Open the gate while callbacks are still being registered: each must run once either way.
  gate->open();
  for (std::thread& thread : threads) thread.join();
  REQUIRE(done.wait_for(absl::Seconds(60)));
  CHECK(wait_until([&] { return calls.load() == kThreads * kPerThread; }));
  CHECK(calls.load() == kThreads * kPerThread);
}

TEST_CASE("a callback that throws does not stop the others or the host", "[completion]") {
  SECTION("on a ready completion") {
    Completion done = Completion::ready(std::string("x"));
    int after = 0;
    done.then([](const Result&) { throw std::runtime_error("callback failure"); });
    done.then([&after](const Result&) { ++after; });
    CHECK(after == 1);
  }
  SECTION("on a pending completion") {
    auto gate = std::make_shared<Gate>();
    std::atomic<int> started{0};
    fnhost::Host host = make_host();
    GateOpener open_on_exit(gate);
    register_held(host, gate, started);
    Completion done = host.invoke("held", {});
    std::atomic<int> after{0};
    done.then([](const Result&) { throw std::runtime_error("callback failure"); });
    done.then([&after](const Result&) { after.fetch_add(1); });
    gate->open();
    REQUIRE(done.wait_for(absl::Seconds(60)));
    CHECK(wait_until([&] { return after.load() == 1; }));
    // The worker survived: the host still answers.
    Completion again = host.invoke("held", {});
    REQUIRE(again.wait_for(absl::Seconds(60)));
    CHECK(again.get().ok());
  }
}

TEST_CASE("on a ManualExecutor host, then runs the callback on the pumping thread",
          "[completion]") {
  auto executor = std::make_shared<fnhost::ManualExecutor>();
  fnhost::Host host = make_host(manual_options(executor));
  REQUIRE(host.register_function(fnhost::testing::echo_spec("echo")).ok());

  Completion done = host.invoke("echo", Event::with_data("pumped"));
  int calls = 0;
  std::thread::id where;
  std::string seen;
  done.then([&](const Result& result) {
    ++calls;
    where = std::this_thread::get_id();
    seen = result.ok() ? *result : describe(result);
  });
  CHECK_FALSE(done.is_ready());
  CHECK(calls == 0);

  std::thread pump([&] { executor->run_pending(); });
  const std::thread::id pump_id = pump.get_id();
  pump.join();
  CHECK(done.is_ready());
  CHECK(calls == 1);
  CHECK(where == pump_id);
  CHECK(seen == "pumped");
}

TEST_CASE("a completion outlives the host that answered it", "[completion]") {
  std::optional<Completion> kept;
  {
    fnhost::Host host = make_host();
    REQUIRE(host.register_function(fnhost::testing::echo_spec("echo")).ok());
    kept = host.invoke("echo", Event::with_data("still here"));
    REQUIRE(kept->wait_for(absl::Seconds(60)));
  }
  REQUIRE(kept->is_ready());
  REQUIRE(kept->get().ok());
  CHECK(*kept->get() == "still here");
}

}  // namespace
