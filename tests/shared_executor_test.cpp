// SPDX-License-Identifier: Apache-2.0
// A host on an executor it does not own: what happens when that executor stops accepting work,
// and that records and versions recycled on the hot path never leak one invocation's state
// into the next.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>

#include "fnhost/fnhost.hpp"
#include "testing/capture_log_sink.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

using fnhost::Context;
using fnhost::Event;
using fnhost::Result;
using fnhost::testing::code_of;
using fnhost::testing::describe;
using fnhost::testing::make_host;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

TEST_CASE("invocations on a host whose shared executor was shut down are answered Unavailable",
          "[shared_executor]") {
  std::shared_ptr<fnhost::AutoscalingExecutor> executor =
      fnhost::AutoscalingExecutor::create({.max_threads = 4}).value();
  auto sink = std::make_shared<fnhost::testing::CaptureLogSink>();
  fnhost::Host host = make_host({.executor = executor, .log_sink = sink});
  std::atomic<int> ran{0};
  REQUIRE(host.register_function({.name = "f",
                                  .handler = [&ran](const Event&, Context&) -> Result {
                                    ran.fetch_add(1);
                                    return "ran";
                                  }})
              .ok());
  REQUIRE(host.invoke("f", {}).get().ok());

  CHECK(executor->shutdown().ok());
  const Result& result = host.invoke("f", {}).get();
  INFO(describe(result));
  CHECK(code_of(result) == absl::StatusCode::kUnavailable);
  // Accepted, then answered: the async one is dropped, counted and logged, never lost.
  CHECK(host.invoke_async("f", {}).ok());
  CHECK(wait_until([&] { return stats_of(host, "f").dropped == 2; }));
  CHECK(stats_of(host, "f").queued == 0);
  CHECK(ran.load() == 1);
  CHECK(wait_until([&] { return sink->size() >= 1; }));
}

TEST_CASE("recycled invocation records start clean", "[shared_executor]") {
  fnhost::Host host = make_host();
  REQUIRE(host.register_function(
                  {.name = "echo-attributes",
                   .handler = [](const Event& event, Context& ctx) -> Result {
                     if (ctx.is_cancelled()) return absl::InternalError("cancelled at start");
                     return event.type + "|" + event.subject + "|" +
                            std::to_string(event.extensions.size()) + "|" + event.data;
                   }})
              .ok());
  for (int i = 0; i < 2000; ++i) {
    Event event;
    if (i % 2 == 0) {
      event.type = "t";
      event.subject = "s";
      event.extensions = {{"k", "v"}};
      event.data = std::string(static_cast<size_t>(i % 7), 'x');
    }
    const Result& result = host.invoke("echo-attributes", std::move(event)).get();
    INFO(describe(result));
    REQUIRE(result.ok());
    const std::string expected =
        i % 2 == 0 ? "t|s|1|" + std::string(static_cast<size_t>(i % 7), 'x') : "||0|";
    REQUIRE(*result == expected);
  }
}

TEST_CASE("many hot swaps while invocations run leave every version answering correctly",
          "[shared_executor][stress]") {
  fnhost::Host host = make_host();
  const auto version_spec = [](int version) {
    return fnhost::FunctionSpec{.name = "v",
                                .handler = [version](const Event&, Context& ctx) -> Result {
                                  return std::to_string(version) + "@" +
                                         std::to_string(ctx.function_version());
                                }};
  };
  REQUIRE(host.register_function(version_spec(1)).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::thread caller([&] {
    while (!stop.load()) {
      const Result& result = host.invoke("v", {}).get();
      // The handler's own number and the Context's version agree: the code and the version
      // record an invocation runs on come from one registration.
      if (!result.ok()) {
        bad.fetch_add(1);
        continue;
      }
      const size_t at = result->find('@');
      if (at == std::string::npos || result->substr(0, at) != result->substr(at + 1)) {
        bad.fetch_add(1);
      }
    }
  });
  for (int version = 2; version <= 300; ++version) {
    REQUIRE(host.update_function(version_spec(version)).ok());
  }
  stop.store(true);
  caller.join();
  CHECK(bad.load() == 0);
}
