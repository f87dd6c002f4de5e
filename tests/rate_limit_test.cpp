// SPDX-License-Identifier: Apache-2.0
// Rate limits and amplification limits: token buckets per function and per principal (exact
// under many concurrent callers, a retry-after hint on every refusal, deliveries that wait
// instead of failing), the fan-out bound on one publish and the bound on the calls one
// invocation makes. The buckets follow the host clock, so a manual clock makes them exact.
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/fnhost.hpp"
#include "testing/host_helpers.hpp"
#include "testing/scale.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Caller;
using fnhost::Context;
using fnhost::Event;
using fnhost::Host;
using fnhost::HostOptions;
using fnhost::RateLimit;
using fnhost::Result;
using fnhost::testing::ClockedHost;
using fnhost::testing::counting_handler;
using fnhost::testing::echo_handler;
using fnhost::testing::make_host;
using fnhost::testing::message_contains;
using fnhost::testing::quiet_options;
using fnhost::testing::wait_until;

TEST_CASE("a function's rate limit refuses past its burst, with a retry-after hint",
          "[rate_limit]") {
  ClockedHost clocked;
  Host& host = clocked.host;
  REQUIRE(host.register_function({.name = "f",
                                  .handler = echo_handler(),
                                  .rate_limit = {.per_second = 10, .burst = 3}})
              .ok());
  for (int i = 0; i < 3; ++i) CHECK(host.invoke("f", Event::with_data("x")).get().ok());
  const Result refused = host.invoke("f", Event::with_data("x")).get();
  REQUIRE(refused.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(message_contains(refused.status(), "function \"f\": over its rate_limit; retry after"));
  std::optional<absl::Duration> hint = fnhost::retry_after(refused.status());
  REQUIRE(hint.has_value());
  CHECK(*hint == absl::Milliseconds(100));
  clocked.clock->advance(absl::Milliseconds(99));
  CHECK(host.invoke_async("f", {}).code() == absl::StatusCode::kResourceExhausted);
  clocked.clock->advance(absl::Milliseconds(1));
  CHECK(host.invoke_async("f", {}).ok());
  const fnhost::FunctionStats stats = *host.function_stats("f");
  CHECK(stats.rate_limited == 2);
  CHECK(stats.throttles == 2);
  CHECK(host.metrics().limits.function_rate_limited == 2);
  CHECK(fnhost::prometheus_text(host.metrics())
            .find("fnhost_limit_refusals_total{reason=\"function_rate\"} 2") != std::string::npos);
  // Other statuses carry no hint.
  CHECK_FALSE(fnhost::retry_after(absl::ResourceExhaustedError("queue full")).has_value());
  CHECK_FALSE(fnhost::retry_after(absl::OkStatus()).has_value());
}

TEST_CASE("rate limits are validated", "[rate_limit]") {
  Host host = make_host();
  for (RateLimit bad : {RateLimit{.per_second = -1}, RateLimit{.per_second = 0.0001},
                        RateLimit{.per_second = 2e9}, RateLimit{.per_second = 1, .burst = 0},
                        RateLimit{.per_second = std::numeric_limits<double>::quiet_NaN()}}) {
    const absl::Status status =
        host.register_function({.name = "f", .handler = echo_handler(), .rate_limit = bad});
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(message_contains(status, "rate_limit."));
    CHECK(host.set_rate_limit("p", bad).code() == absl::StatusCode::kInvalidArgument);
  }
  HostOptions options = quiet_options();
  options.principal_rate_limit = {.per_second = 5, .burst = 0};
  CHECK(Host::create(options).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a function's rate limit holds exactly under many concurrent callers",
          "[rate_limit][stress]") {
  ClockedHost clocked;
  Host& host = clocked.host;
  constexpr int kBurst = 500;
  REQUIRE(host.register_function({.name = "f",
                                  .handler = echo_handler(),
                                  .rate_limit = {.per_second = 1000, .burst = kBurst}})
              .ok());
  const int rounds = fnhost::testing::scaled(20, 5);
  std::atomic<int64_t> accepted{0};
  std::atomic<int64_t> refused{0};
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::thread> callers;
    for (int t = 0; t < 8; ++t) {
      callers.emplace_back([&] {
        for (int i = 0; i < 200; ++i) {
          const absl::Status status = host.invoke_async("f", {});
          (status.ok() ? accepted : refused).fetch_add(1);
        }
      });
    }
    for (std::thread& thread : callers) thread.join();
    // The clock stood still: exactly one burst passed; then the bucket refills completely.
    CHECK(accepted.load() == int64_t{kBurst} * (round + 1));
    clocked.clock->advance(absl::Seconds(1));
  }
  CHECK(refused.load() == int64_t{rounds} * (1600 - kBurst));
}

TEST_CASE("a rate-limited delivery waits and is re-queued, never dead-lettered for it",
          "[rate_limit]") {
  ClockedHost clocked;
  Host& host = clocked.host;
  std::atomic<int> runs{0};
  REQUIRE(host.register_function({.name = "f",
                                  .handler = counting_handler(runs),
                                  .rate_limit = {.per_second = 1, .burst = 1}})
              .ok());
  REQUIRE(host.subscribe({.pattern = "t", .function = "f"}).ok());
  for (int i = 0; i < 3; ++i) REQUIRE(host.publish({.topic = "t"}).ok());
  REQUIRE(wait_until([&] { return runs.load() == 1; }));
  // The other two wait for a token (and the backoff) on the host clock, then run.
  for (int step = 0; step < 3600 && runs.load() < 3; ++step) {
    clocked.clock->advance(absl::Seconds(1));
    wait_until([&] { return runs.load() == 3; }, std::chrono::milliseconds(5));
  }
  CHECK(runs.load() == 3);
  // The third handler has returned; its success is counted just after.
  CHECK(wait_until([&] { return host.function_stats("f")->events_succeeded == 3; }));
  const fnhost::FunctionStats stats = *host.function_stats("f");
  CHECK(stats.events_dead_lettered == 0);
  CHECK(stats.events_succeeded == 3);
  CHECK(stats.throttle_requeues >= 2);
  CHECK(stats.rate_limited >= 2);
}

TEST_CASE("a principal's rate limit covers its invokes and publishes", "[rate_limit][access]") {
  HostOptions options = quiet_options();
  options.principal_rate_limit = {.per_second = 1, .burst = 2};
  ClockedHost clocked(options);
  Host& host = clocked.host;
  REQUIRE(host.register_function({.name = "f", .handler = echo_handler()}).ok());
  const Caller a = *host.caller("tenant-a");
  const Caller b = *host.caller("tenant-b");
  CHECK(a.invoke("f", {}).get().ok());
  CHECK(a.publish({.topic = "t"}).ok());
  const absl::Status third = a.invoke_async("f", {});
  REQUIRE(third.code() == absl::StatusCode::kResourceExhausted);
  CHECK(message_contains(third, "principal \"tenant-a\": over its rate limit"));
  CHECK(fnhost::retry_after(third) == absl::Seconds(1));
  // Each principal has its own bucket; the host has none.
  CHECK(b.invoke_async("f", {}).ok());
  for (int i = 0; i < 10; ++i) CHECK(host.invoke_async("f", {}).ok());
  // A bucket outlives its Caller handles.
  CHECK(host.caller("tenant-a")->invoke_async("f", {}).code() ==
        absl::StatusCode::kResourceExhausted);
  // set_rate_limit overrides the default for one principal.
  REQUIRE(host.set_rate_limit("tenant-a", {}).ok());
  for (int i = 0; i < 10; ++i) CHECK(a.invoke_async("f", {}).ok());
  CHECK(host.metrics().limits.principal_rate_limited == 2);
}

TEST_CASE("a handler's calls count against its principal's rate limit", "[rate_limit][access]") {
  ClockedHost clocked;
  Host& host = clocked.host;
  REQUIRE(host.register_function({.name = "leaf", .handler = echo_handler()}).ok());
  REQUIRE(host.register_function({.name = "spray",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    int accepted = 0;
                                    for (int i = 0; i < 10; ++i) {
                                      if (ctx.invoke_async("leaf", {}).ok()) ++accepted;
                                    }
                                    return std::to_string(accepted);
                                  }})
              .ok());
  REQUIRE(host.set_rate_limit("tenant", {.per_second = 1, .burst = 4}).ok());
  const Caller tenant = *host.caller("tenant");
  // One token for the call itself, three left for what it sprays.
  CHECK(tenant.invoke("spray", {}).get().value() == "3");
  CHECK(host.invoke("spray", {}).get().value() == "10");
}

TEST_CASE("a publish that matches more triggers than max_fanout is refused whole",
          "[limits][rate_limit]") {
  HostOptions options = quiet_options();
  options.limits.max_fanout = 3;
  Host host = make_host(options);
  std::atomic<int> runs{0};
  REQUIRE(host.register_function({.name = "f", .handler = counting_handler(runs)}).ok());
  for (int i = 0; i < 3; ++i) REQUIRE(host.subscribe({.pattern = "a/#", .function = "f"}).ok());
  CHECK(host.publish({.topic = "a/b"}).ok());
  REQUIRE(wait_until([&] { return runs.load() == 3; }));
  REQUIRE(host.subscribe({.pattern = "a/+", .function = "f"}).ok());
  std::atomic<int> settled{0};
  const absl::Status refused =
      host.publish({.topic = "a/b"}, [&](const fnhost::SettledEvent&) { settled.fetch_add(1); });
  REQUIRE(refused.code() == absl::StatusCode::kResourceExhausted);
  CHECK(message_contains(refused, "matches 4 triggers, more than HostLimits::max_fanout (3)"));
  CHECK(host.publish({.topic = "a"}).ok());  // "a/#" x3 only
  REQUIRE(wait_until([&] { return runs.load() == 6; }));
  CHECK(host.metrics().limits.fanout_exceeded == 1);
  CHECK(settled.load() == 0);
  CHECK(host.router_stats().published == 2);
}

TEST_CASE("one invocation may make at most max_calls_per_invocation calls", "[limits]") {
  HostOptions options = quiet_options();
  options.limits.max_calls_per_invocation = 5;
  Host host = make_host(options);
  REQUIRE(host.register_function({.name = "leaf", .handler = echo_handler()}).ok());
  REQUIRE(host.register_function({.name = "spray",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    int accepted = 0;
                                    absl::Status last;
                                    for (int i = 0; i < 8; ++i) {
                                      absl::Status sent = i % 2 == 0
                                                              ? ctx.invoke_async("leaf", {})
                                                              : ctx.publish({.topic = "nowhere"});
                                      if (sent.ok()) {
                                        ++accepted;
                                      } else {
                                        last = sent;
                                      }
                                    }
                                    if (accepted != 5) return absl::InternalError("count");
                                    return std::string(last.message());
                                  }})
              .ok());
  const Result result = host.invoke("spray", {}).get();
  REQUIRE(result.ok());
  CHECK(result.value().find("at most 5 calls (HostLimits::max_calls_per_invocation)") !=
        std::string::npos);
  // The count is per invocation.
  CHECK(host.invoke("spray", {}).get().ok());
  CHECK(host.metrics().limits.calls_per_invocation_exceeded == 6);
}

TEST_CASE("the amplification limits are validated", "[limits]") {
  for (auto set : {+[](fnhost::HostLimits& l) { l.max_fanout = -1; },
                   +[](fnhost::HostLimits& l) { l.max_calls_per_invocation = -1; },
                   +[](fnhost::HostLimits& l) { l.max_principals = 0; }}) {
    HostOptions options = quiet_options();
    set(options.limits);
    const absl::Status status = Host::create(options).status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(message_contains(status, "HostOptions::limits: max_"));
  }
}

}  // namespace
