// SPDX-License-Identifier: Apache-2.0
// Access control through the host: Callers act as principals, the installed policy decides each
// invoke, publish and management call (deny wins, then allow, else deny), refusals name the
// deciding statement and are counted, handlers' calls are checked as their function's identity
// or as the principal they run for, and policies are replaced atomically while calls run.
#include <atomic>
#include <chrono>
#include <catch2/catch.hpp>
#include <memory>
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

using fnhost::AccessStats;
using fnhost::Caller;
using fnhost::Context;
using fnhost::Event;
using fnhost::Host;
using fnhost::Policy;
using fnhost::Result;
using fnhost::testing::echo_handler;
using fnhost::testing::make_host;
using fnhost::testing::message_contains;
using fnhost::testing::wait_until;

Policy parse_policy(std::string_view text) {
  absl::StatusOr<Policy> policy = Policy::parse(text);
  INFO(policy.status().ToString());
  REQUIRE(policy.ok());
  return *policy;
}

Caller caller_of(Host& host, std::string_view principal) {
  absl::StatusOr<Caller> caller = host.caller(principal);
  INFO(caller.status().ToString());
  REQUIRE(caller.ok());
  return *caller;
}

void register_echo(Host& host, const std::string& name) {
  REQUIRE(host.register_function(fnhost::testing::echo_spec(name)).ok());
}

AccessStats access_of(const Host& host) { return host.metrics().access; }

TEST_CASE("without a policy every principal may do everything", "[access]") {
  Host host = make_host();
  register_echo(host, "shop-cart");
  const Caller tenant = caller_of(host, "tenant-a");
  CHECK(tenant.principal() == "tenant-a");
  CHECK(tenant.invoke("shop-cart", Event::with_data("x")).get().value() == "x");
  CHECK(tenant.invoke_async("shop-cart", Event::with_data("x")).ok());
  CHECK(tenant.publish({.topic = "anything"}).ok());
  CHECK(tenant.register_function({.name = "tenant-fn", .handler = echo_handler()}).ok());
  CHECK_FALSE(host.policy().has_value());
}

TEST_CASE("caller names are validated and the host's own name is reserved", "[access]") {
  Host host = make_host();
  for (std::string_view bad : {std::string_view(""), std::string_view("host"),
                               std::string_view("has space"), std::string_view("a\nb")}) {
    absl::StatusOr<Caller> caller = host.caller(bad);
    CHECK(caller.status().code() == absl::StatusCode::kInvalidArgument);
  }
  const std::string huge(1 << 20, 'p');
  absl::StatusOr<Caller> caller = host.caller(huge);
  REQUIRE(caller.status().code() == absl::StatusCode::kInvalidArgument);
  // A refusal quotes a bounded prefix, not the megabyte.
  CHECK(caller.status().message().size() < 512);
  CHECK(host.caller("tenant:eu/a@b.c-d_e").ok());
}

TEST_CASE("the principal table is bounded by max_principals", "[access]") {
  fnhost::HostOptions options = fnhost::testing::quiet_options();
  options.limits.max_principals = 3;
  Host host = make_host(options);
  CHECK(host.caller("a").ok());
  CHECK(host.caller("b").ok());
  CHECK(host.caller("c").ok());
  CHECK(host.caller("a").ok());  // known names are not new
  absl::StatusOr<Caller> fourth = host.caller("d");
  CHECK(fourth.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(message_contains(fourth.status(), "max_principals"));
}

TEST_CASE("deny wins over allow, allow over the implicit deny", "[access]") {
  Host host = make_host();
  for (const char* name : {"shop-cart", "shop-pay", "billing-run"}) register_echo(host, name);
  host.set_policy(parse_policy(R"(
    shop:        allow invoke on function:shop-* for tenant-*
    everything:  allow * on * for admin
    no-pay:      deny invoke on function:shop-pay for tenant-b
  )"));
  const Caller a = caller_of(host, "tenant-a");
  const Caller b = caller_of(host, "tenant-b");
  const Caller admin = caller_of(host, "admin");
  const Caller stranger = caller_of(host, "stranger");

  CHECK(a.invoke("shop-pay", Event::with_data("1")).get().value() == "1");
  CHECK(b.invoke("shop-cart", Event::with_data("2")).get().value() == "2");

  const Result denied = b.invoke("shop-pay", Event::with_data("3")).get();
  REQUIRE(denied.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(message_contains(denied.status(), "\"tenant-b\" may not invoke function \"shop-pay\""));
  CHECK(message_contains(denied.status(), "denied by policy statement \"no-pay\""));

  const absl::Status implicit = a.invoke_async("billing-run", Event::with_data("4"));
  REQUIRE(implicit.code() == absl::StatusCode::kPermissionDenied);
  CHECK(message_contains(implicit, "no policy statement allows it"));

  CHECK(stranger.invoke("shop-cart", {}).get().status().code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(admin.invoke("billing-run", Event::with_data("5")).get().value() == "5");
  // The host's own calls are never checked.
  CHECK(host.invoke("billing-run", Event::with_data("6")).get().value() == "6");

  const AccessStats stats = access_of(host);
  CHECK(stats.denied_explicitly == 1);
  CHECK(stats.denied_implicitly == 2);
  REQUIRE(stats.denials_by_statement.size() == 3);
  CHECK(stats.denials_by_statement[2] == std::pair<std::string, int64_t>{"no-pay", 1});
  CHECK(stats.denials_by_statement[0].second == 0);
  const std::string text = fnhost::prometheus_text(host.metrics());
  CHECK(text.find("fnhost_access_denials_total{reason=\"explicit_deny\"} 1") != std::string::npos);
  CHECK(text.find("fnhost_access_denials_total{reason=\"implicit_deny\"} 2") != std::string::npos);
  CHECK(text.find("fnhost_policy_statement_denials_total{statement=\"no-pay\"} 1") !=
        std::string::npos);
}

TEST_CASE("a denied call reveals nothing about whether the function exists", "[access]") {
  Host host = make_host();
  register_echo(host, "secret");
  host.set_policy(parse_policy("none: allow invoke on function:public-* for *"));
  const Caller tenant = caller_of(host, "tenant");
  CHECK(tenant.invoke("secret", {}).get().status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(tenant.invoke("missing", {}).get().status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(tenant.invoke_async("missing", {}).code() == absl::StatusCode::kPermissionDenied);
  CHECK(tenant.invoke_async("secret", {}, [](const fnhost::SettledEvent&) {}).code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(tenant.invoke_async("missing", {}, [](const fnhost::SettledEvent&) {}).code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(tenant.invoke("public-missing", {}).get().status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("publish is checked on the topic, deliveries run as the trigger's owner", "[access]") {
  Host host = make_host();
  std::atomic<int> delivered{0};
  std::atomic<int> forwarded{0};
  std::atomic<int> forward_denied{0};
  REQUIRE(host.register_function({.name = "audit", .handler = echo_handler()}).ok());
  REQUIRE(host.register_function({.name = "relay",
                                  .handler = [&](const Event&, Context& ctx) -> Result {
                                    delivered.fetch_add(1);
                                    const absl::Status sent =
                                        ctx.invoke_async("audit", Event::with_data("a"));
                                    (sent.ok() ? forwarded : forward_denied).fetch_add(1);
                                    return std::string();
                                  }})
              .ok());
  host.set_policy(parse_policy(R"(
    sensors:  allow publish on topic:sensors/+/temp for device-*
    relay:    allow manage on function:relay for operator
  )"));
  const Caller device = caller_of(host, "device-7");
  const Caller op = caller_of(host, "operator");
  // The operator's trigger: its deliveries (and what they call) run as "operator", who may not
  // invoke "audit" — whoever published.
  REQUIRE(op.subscribe({.pattern = "sensors/#", .function = "relay"}).ok());

  CHECK(device.publish({.topic = "sensors/7/temp"}).ok());
  const absl::Status wrong_topic = device.publish({.topic = "sensors/7/humidity"});
  CHECK(wrong_topic.code() == absl::StatusCode::kPermissionDenied);
  CHECK(message_contains(wrong_topic, "may not publish topic \"sensors/7/humidity\""));
  CHECK(host.publish({.topic = "sensors/8/temp"}).ok());
  REQUIRE(wait_until([&] { return delivered.load() == 2; }));
  CHECK(wait_until([&] { return forward_denied.load() == 2; }));
  CHECK(forwarded.load() == 0);
  // A subscription needs manage on its function.
  CHECK(device.subscribe({.pattern = "x", .function = "relay"}).status().code() ==
        absl::StatusCode::kPermissionDenied);
}

TEST_CASE("a function's identity is what its handler's calls are checked as", "[access]") {
  Host host = make_host();
  register_echo(host, "ledger");
  REQUIRE(host.register_function({.name = "report",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    return ctx.invoke("ledger", Event::with_data("read"));
                                  },
                                  .identity = "role-reporter"})
              .ok());
  REQUIRE(host.register_function({.name = "inherit",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    return ctx.invoke("ledger", Event::with_data("read"));
                                  }})
              .ok());
  host.set_policy(parse_policy(R"(
    tenants:  allow invoke on function:report,function:inherit for tenant
  )"));
  // Called by the host, "report" still runs its calls as role-reporter: least privilege.
  const Result by_host = host.invoke("report", {}).get();
  CHECK(by_host.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(message_contains(by_host.status(), "\"role-reporter\" may not invoke function \"ledger\""));
  // Without an identity a function's calls run as whoever called it.
  CHECK(host.invoke("inherit", {}).get().value() == "read");
  const Caller tenant = caller_of(host, "tenant");
  const Result by_tenant = tenant.invoke("inherit", {}).get();
  CHECK(by_tenant.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(message_contains(by_tenant.status(), "\"tenant\" may not invoke function \"ledger\""));

  host.set_policy(parse_policy(R"(
    tenants:  allow invoke on function:report,function:inherit for tenant
    reporter: allow invoke on function:ledger for role-reporter
  )"));
  CHECK(tenant.invoke("report", {}).get().value() == "read");
  CHECK(host.invoke("report", {}).get().value() == "read");
}

TEST_CASE("functions a caller registers run as that caller", "[access]") {
  Host host = make_host();
  register_echo(host, "core");
  host.set_policy(parse_policy(R"(
    own:  allow manage,invoke on function:mod-* for mod-*
  )"));
  const Caller mod = caller_of(host, "mod-x");
  const absl::Status borrowed = mod.register_function(
      {.name = "mod-steal", .handler = echo_handler(), .identity = "role-admin"});
  CHECK(borrowed.code() == absl::StatusCode::kPermissionDenied);
  CHECK(message_contains(borrowed, "may not give it identity"));
  REQUIRE(mod.register_function({.name = "mod-call-core",
                                 .handler = [](const Event&, Context& ctx) -> Result {
                                   return ctx.invoke("core", {});
                                 }})
              .ok());
  // Invoked by the host, the mod's code is still confined to the mod's rights.
  CHECK(host.invoke("mod-call-core", {}).get().status().code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(mod.register_function({.name = "core-2", .handler = echo_handler()}).code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(mod.update_function({.name = "core", .handler = echo_handler()}).code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(mod.remove_function("core").code() == absl::StatusCode::kPermissionDenied);
  CHECK(host.has_function("core"));
  CHECK(mod.remove_function("mod-call-core").ok());
}

TEST_CASE("unsubscribe, schedule, redrive and delete are manage on their function", "[access]") {
  Host host = make_host();
  REQUIRE(host.register_function({.name = "mine",
                                  .handler = [](const Event&, Context&) -> Result {
                                    return absl::InvalidArgumentError("always fails");
                                  }})
              .ok());
  register_echo(host, "theirs");
  host.set_policy(parse_policy("own: allow manage,invoke on function:mine for owner"));
  const Caller owner = caller_of(host, "owner");
  absl::StatusOr<fnhost::TriggerId> theirs = host.subscribe({.pattern = "t", .function = "theirs"});
  REQUIRE(theirs.ok());
  CHECK(owner.unsubscribe(*theirs).code() == absl::StatusCode::kPermissionDenied);
  CHECK(owner.unsubscribe(987654).code() == absl::StatusCode::kNotFound);
  absl::StatusOr<fnhost::TriggerId> mine = owner.subscribe({.pattern = "t", .function = "mine"});
  REQUIRE(mine.ok());
  CHECK(owner.unsubscribe(*mine).ok());
  CHECK(owner.schedule({.expression = "rate(1 hour)", .function = "theirs"}).status().code() ==
        absl::StatusCode::kPermissionDenied);
  absl::StatusOr<fnhost::TriggerId> schedule =
      owner.schedule({.expression = "rate(1 hour)", .function = "mine"});
  REQUIRE(schedule.ok());
  CHECK(owner.unsubscribe(*schedule).ok());

  REQUIRE(owner.invoke_async("mine", Event::with_data("x")).ok());
  REQUIRE(wait_until([&] { return host.dead_letter_count("mine") == 1; }));
  const uint64_t letter = host.dead_letters("mine").at(0).id;
  const Caller stranger = caller_of(host, "stranger");
  CHECK(stranger.redrive(letter).code() == absl::StatusCode::kPermissionDenied);
  CHECK(stranger.delete_dead_letter(letter).code() == absl::StatusCode::kPermissionDenied);
  CHECK(host.dead_letter_count("mine") == 1);
  CHECK(owner.delete_dead_letter(letter).ok());
  CHECK(host.dead_letter_count("mine") == 0);
}

TEST_CASE("policies are replaced atomically while many callers call", "[access][stress]") {
  Host host = make_host();
  register_echo(host, "f");
  const Policy allow = parse_policy("a: allow invoke on function:f for *");
  const Policy deny = parse_policy("a: allow invoke on function:f for *\nd: deny * on * for *");
  host.set_policy(allow);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> allowed{0};
  std::atomic<int64_t> denied{0};
  std::atomic<int64_t> other{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 6; ++t) {
    callers.emplace_back([&, t] {
      const Caller caller = *host.caller("tenant-" + std::to_string(t));
      while (!stop.load()) {
        const absl::Status status = caller.invoke_async("f", Event::with_data("x"));
        if (status.ok()) {
          allowed.fetch_add(1);
        } else if (status.code() == absl::StatusCode::kPermissionDenied) {
          denied.fetch_add(1);
        } else {
          other.fetch_add(1);
        }
      }
    });
  }
  // Swap while they call: at least `swaps` times, and until they made a few hundred calls (on a
  // loaded machine their threads can start after the swaps would have ended).
  const int swaps = fnhost::testing::scaled(400, 100);
  const auto deadline = std::chrono::steady_clock::now() + fnhost::testing::kGenerousTimeout;
  for (int i = 0; i < swaps || (allowed.load() + denied.load() < 200 &&
                                std::chrono::steady_clock::now() < deadline);
       ++i) {
    host.set_policy(i % 2 == 0 ? deny : allow);
    if (i % 50 == 0) host.clear_policy();
    if (i >= swaps) std::this_thread::yield();
  }
  host.set_policy(deny);
  // Every call that starts after set_policy returned sees the new policy.
  const Caller late = *host.caller("tenant-late");
  CHECK(late.invoke_async("f", {}).code() == absl::StatusCode::kPermissionDenied);
  stop.store(true);
  for (std::thread& thread : callers) thread.join();
  CHECK(other.load() == 0);
  CHECK(allowed.load() + denied.load() > 0);
  const AccessStats stats = access_of(host);
  CHECK(stats.denied_explicitly == denied.load() + 1);
  REQUIRE(wait_until([&] { return host.function_stats("f")->events_pending == 0; }));
  CHECK(host.function_stats("f")->events_succeeded == allowed.load());
}

TEST_CASE("a function's destinations are sent as its principal and checked", "[access]") {
  Host host = make_host();
  std::atomic<int> billed{0};
  REQUIRE(host.register_function({.name = "billing",
                                  .handler = [&billed](const Event&, Context&) -> Result {
                                    billed.fetch_add(1);
                                    return std::string();
                                  }})
              .ok());
  host.set_policy(parse_policy("own: allow manage,invoke on function:mod-* for mod"));
  const Caller mod = caller_of(host, "mod");
  // The mod cannot invoke "billing"; a destination must not let it either.
  REQUIRE(mod.register_function({.name = "mod-hook",
                                 .handler = echo_handler(),
                                 .on_success = {.function = "billing"},
                                 .on_failure = {.topic = "billing/charges"}})
              .ok());
  REQUIRE(host.subscribe({.pattern = "billing/#", .function = "billing"}).ok());
  REQUIRE(host.invoke_async("mod-hook", Event::with_data("x")).ok());
  REQUIRE(wait_until([&] { return host.function_stats("mod-hook")->destination_errors == 1; }));
  CHECK(billed.load() == 0);
  CHECK(access_of(host).denied_implicitly == 1);
  // Allowed, the same destination delivers.
  host.set_policy(parse_policy(R"(
    own:  allow manage,invoke on function:mod-* for mod
    bill: allow invoke on function:billing for mod
  )"));
  REQUIRE(host.invoke_async("mod-hook", Event::with_data("y")).ok());
  REQUIRE(wait_until([&] { return billed.load() == 1; }));
  CHECK(host.function_stats("mod-hook")->destination_errors == 1);
}

}  // namespace
