// SPDX-License-Identifier: Apache-2.0
// Tests for triggers and publish: MQTT-style patterns, filters, fan-out sharing one event,
// unrouted events and the catch-all, refusals counted per trigger, subscribe/unsubscribe while
// events flow, and chaining with Context::publish.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/scale.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::Event;
using fnhost::Filter;
using fnhost::FunctionSpec;
using fnhost::Host;
using fnhost::Result;
using fnhost::RouterStats;
using fnhost::TriggerId;
using fnhost::TriggerInfo;
using fnhost::testing::Gate;
using fnhost::testing::make_host;
using fnhost::testing::message_contains;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

// Records what a function received: topics, and the address of each event it was handed.
struct Received {
  std::mutex mu;
  std::vector<std::string> topics;
  std::vector<const Event*> addresses;
  std::atomic<int> count{0};

  std::vector<std::string> sorted_topics() {
    std::lock_guard lock(mu);
    std::vector<std::string> copy = topics;
    std::sort(copy.begin(), copy.end());
    return copy;
  }
};

FunctionSpec recording_spec(std::string name, Received& received) {
  return FunctionSpec{.name = std::move(name),
                      .handler = [&received](const Event& event, Context&) -> Result {
                        {
                          std::lock_guard lock(received.mu);
                          received.topics.push_back(event.topic);
                          received.addresses.push_back(&event);
                        }
                        received.count.fetch_add(1);
                        return "";
                      }};
}

FunctionSpec noop_spec(std::string name) {
  return FunctionSpec{.name = std::move(name),
                      .handler = [](const Event&, Context&) -> Result { return ""; }};
}

TriggerId subscribe(Host& host, std::string pattern, std::string function,
                    Filter filter = Filter()) {
  absl::StatusOr<TriggerId> id = host.subscribe(
      {.pattern = std::move(pattern), .function = std::move(function), .filter = filter});
  REQUIRE(id.ok());
  return *id;
}

Event on_topic(std::string topic, std::string data = "") {
  return Event{.topic = std::move(topic), .data = std::move(data)};
}

TEST_CASE("publish routes by MQTT-style patterns", "[publish]") {
  Host host = make_host();
  Received exact;
  Received one_level;
  Received rest;
  Received everything;
  REQUIRE(host.register_function(recording_spec("exact", exact)).ok());
  REQUIRE(host.register_function(recording_spec("one_level", one_level)).ok());
  REQUIRE(host.register_function(recording_spec("rest", rest)).ok());
  REQUIRE(host.register_function(recording_spec("everything", everything)).ok());
  subscribe(host, "devices/d1/temp", "exact");
  subscribe(host, "devices/+/temp", "one_level");
  subscribe(host, "devices/#", "rest");
  subscribe(host, "#", "everything");

  for (const char* topic : {"devices/d1/temp", "devices/d2/temp", "devices/d1/humidity", "devices",
                            "devices/d1/temp/raw", "other"}) {
    REQUIRE(host.publish(on_topic(topic)).ok());
  }
  REQUIRE(wait_until([&] {
    return exact.count == 1 && one_level.count == 2 && rest.count == 5 && everything.count == 6;
  }));
  CHECK(exact.sorted_topics() == std::vector<std::string>{"devices/d1/temp"});
  CHECK(one_level.sorted_topics() ==
        std::vector<std::string>{"devices/d1/temp", "devices/d2/temp"});
  // "devices/#" matches its parent level "devices" too, as in MQTT.
  CHECK(rest.sorted_topics() == std::vector<std::string>{"devices", "devices/d1/humidity",
                                                         "devices/d1/temp", "devices/d1/temp/raw",
                                                         "devices/d2/temp"});
  const RouterStats stats = host.router_stats();
  CHECK(stats.published == 6);
  CHECK(stats.routed == 6);
  CHECK(stats.unrouted == 0);
  CHECK(stats.deliveries == 1 + 2 + 5 + 6);
  CHECK(stats.triggers == 4);
}

TEST_CASE("fan-out shares one event among the subscribers", "[publish]") {
  constexpr int kSubscribers = 8;
  Host host = make_host();
  std::vector<std::unique_ptr<Received>> received;
  for (int i = 0; i < kSubscribers; ++i) {
    received.push_back(std::make_unique<Received>());
    const std::string name = "sub" + std::to_string(i);
    REQUIRE(host.register_function(recording_spec(name, *received.back())).ok());
    subscribe(host, "orders/created", name);
  }
  // Hold every subscriber's invocation until all have started, so the event is alive in all
  // of them at once and its address cannot have been reused.
  REQUIRE(host.publish(Event{.type = "order.created",
                             .topic = "orders/created",
                             .data = std::string(512 * 1024, 'x')})
              .ok());
  REQUIRE(wait_until([&] {
    for (const auto& one : received) {
      if (one->count.load() != 1) return false;
    }
    return true;
  }));
  std::set<const Event*> addresses;
  for (const auto& one : received) {
    std::lock_guard lock(one->mu);
    addresses.insert(one->addresses.begin(), one->addresses.end());
  }
  CHECK(addresses.size() == 1);
  CHECK(host.router_stats().deliveries == kSubscribers);
}

TEST_CASE("a filter selects events by their attributes", "[publish]") {
  Host host = make_host();
  Received pngs;
  REQUIRE(host.register_function(recording_spec("pngs", pngs)).ok());
  absl::StatusOr<Filter> filter =
      Filter::parse(R"(all(exact(type, "image.uploaded"), suffix(subject, ".png")))");
  REQUIRE(filter.ok());
  const TriggerId id = subscribe(host, "uploads/#", "pngs", *filter);

  REQUIRE(host.publish({.type = "image.uploaded", .subject = "a.png", .topic = "uploads/1"}).ok());
  REQUIRE(host.publish({.type = "image.uploaded", .subject = "b.jpg", .topic = "uploads/2"}).ok());
  REQUIRE(host.publish({.type = "image.deleted", .subject = "c.png", .topic = "uploads/3"}).ok());
  REQUIRE(wait_until([&] { return pngs.count == 1; }));
  CHECK(pngs.sorted_topics() == std::vector<std::string>{"uploads/1"});

  const std::vector<TriggerInfo> triggers = host.triggers();
  REQUIRE(triggers.size() == 1);
  CHECK(triggers[0].id == id);
  CHECK(triggers[0].pattern == "uploads/#");
  CHECK(triggers[0].function == "pngs");
  CHECK(triggers[0].filter == filter->to_string());
  CHECK(triggers[0].delivered == 1);
  CHECK(triggers[0].filtered_out == 2);
  // Filtered out by every trigger: nothing took them.
  CHECK(host.router_stats().unrouted == 2);
}

TEST_CASE("unrouted events are counted and go to the catch-all function when set", "[publish]") {
  Host host = make_host();
  Received catch_all;
  REQUIRE(host.register_function(recording_spec("catch_all", catch_all)).ok());
  REQUIRE(host.register_function(noop_spec("orders")).ok());
  subscribe(host, "orders/+", "orders");

  REQUIRE(host.publish(on_topic("nobody/listens")).ok());
  CHECK(host.router_stats().unrouted == 1);
  CHECK(host.router_stats().catch_all == 0);

  absl::Status missing = host.set_unrouted_function("no_such_function");
  CHECK(missing.code() == absl::StatusCode::kNotFound);
  REQUIRE(host.set_unrouted_function("catch_all").ok());
  REQUIRE(host.publish(on_topic("still/nobody")).ok());
  REQUIRE(host.publish(on_topic("orders/1")).ok());
  REQUIRE(wait_until([&] { return catch_all.count == 1; }));
  CHECK(catch_all.sorted_topics() == std::vector<std::string>{"still/nobody"});
  RouterStats stats = host.router_stats();
  CHECK(stats.published == 3);
  CHECK(stats.unrouted == 2);
  CHECK(stats.catch_all == 1);
  CHECK(stats.routed == 1);

  REQUIRE(host.set_unrouted_function("").ok());
  REQUIRE(host.publish(on_topic("again/nobody")).ok());
  stats = host.router_stats();
  CHECK(stats.unrouted == 3);
  CHECK(stats.catch_all == 1);
}

TEST_CASE("subscribe refuses bad input with a status that says what to fix", "[publish]") {
  Host host = make_host();
  REQUIRE(host.register_function(noop_spec("f")).ok());

  absl::StatusOr<TriggerId> bad = host.subscribe({.pattern = "a/#/b", .function = "f"});
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(message_contains(bad.status(), "byte 2"));
  CHECK(message_contains(bad.status(), "\"f\""));

  bad = host.subscribe({.pattern = "a+/b", .function = "f"});
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  bad = host.subscribe({.pattern = "a//b", .function = "f"});
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  bad = host.subscribe({.pattern = "", .function = "f"});
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  bad = host.subscribe(
      {.pattern = "a", .function = "f", .filter = Filter::exact("bad attribute!", "x")});
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  bad = host.subscribe({.pattern = "a", .function = ""});
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  bad = host.subscribe({.pattern = "a", .function = "missing"});
  CHECK(bad.status().code() == absl::StatusCode::kNotFound);
  // A hostile pattern is quoted only in part.
  bad = host.subscribe({.pattern = std::string(100'000, 'p') + "/#/x", .function = "f"});
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(bad.status().message().size() < 400);
  CHECK(host.triggers().empty());
}

TEST_CASE("publish refuses a bad topic and works after nothing subscribed", "[publish]") {
  Host host = make_host();
  for (const char* topic : {"", "a//b", "a/+", "a/#", "/a", "a/"}) {
    INFO("topic " << topic);
    CHECK(host.publish(on_topic(topic)).code() == absl::StatusCode::kInvalidArgument);
  }
  CHECK(host.publish(on_topic(std::string(5000, 't'))).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(host.router_stats().published == 0);
  CHECK(host.publish(on_topic("a/b")).ok());
  CHECK(host.router_stats().unrouted == 1);
}

TEST_CASE("unsubscribe stops deliveries, ids are never reused", "[publish]") {
  Host host = make_host();
  Received received;
  REQUIRE(host.register_function(recording_spec("f", received)).ok());
  const TriggerId first = subscribe(host, "t", "f");
  REQUIRE(host.publish(on_topic("t")).ok());
  REQUIRE(wait_until([&] { return received.count == 1; }));
  REQUIRE(host.unsubscribe(first).ok());
  CHECK(host.unsubscribe(first).code() == absl::StatusCode::kNotFound);
  CHECK(host.unsubscribe(0).code() == absl::StatusCode::kNotFound);
  REQUIRE(host.publish(on_topic("t")).ok());
  CHECK(host.router_stats().unrouted == 1);
  const TriggerId second = subscribe(host, "t", "f");
  CHECK(second != first);
  REQUIRE(host.publish(on_topic("t")).ok());
  REQUIRE(wait_until([&] { return received.count == 2; }));
  CHECK(host.router_stats().triggers == 1);
}

TEST_CASE("a removed function's triggers refuse visibly and work again once it is back",
          "[publish]") {
  Host host = make_host();
  Received received;
  REQUIRE(host.register_function(recording_spec("f", received)).ok());
  const TriggerId id = subscribe(host, "t", "f");
  REQUIRE(host.remove_function("f").ok());
  REQUIRE(host.publish(on_topic("t")).ok());
  REQUIRE(host.publish(on_topic("t")).ok());
  std::vector<TriggerInfo> triggers = host.triggers();
  REQUIRE(triggers.size() == 1);
  CHECK(triggers[0].refused == 2);
  CHECK(triggers[0].delivered == 0);
  CHECK(host.router_stats().refused == 2);

  REQUIRE(host.register_function(recording_spec("f", received)).ok());
  REQUIRE(host.publish(on_topic("t")).ok());
  REQUIRE(wait_until([&] { return received.count == 1; }));
  triggers = host.triggers();
  CHECK(triggers[0].id == id);
  CHECK(triggers[0].delivered == 1);
}

TEST_CASE("a delivery that finds a full queue waits and is re-queued, counted as throttled",
          "[publish]") {
  fnhost::testing::ClockedHost clocked;
  Host& host = clocked.host;
  const std::shared_ptr<fnhost::ManualClock>& clock = clocked.clock;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::testing::GateOpener opener(gate);
  REQUIRE(host.register_function({.name = "slow",
                                  .handler = fnhost::testing::gated_handler(gate, started),
                                  .max_concurrency = 1,
                                  .max_queued = 1})
              .ok());
  Received fast;
  REQUIRE(host.register_function(recording_spec("fast", fast)).ok());
  subscribe(host, "jobs", "slow");
  subscribe(host, "jobs", "fast");
  REQUIRE(host.publish(on_topic("jobs")).ok());
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  REQUIRE(host.publish(on_topic("jobs")).ok());  // queued behind the running one
  REQUIRE(host.publish(on_topic("jobs")).ok());  // slow's queue is full: it waits there
  REQUIRE(wait_until([&] { return fast.count == 3; }));
  std::vector<TriggerInfo> triggers = host.triggers();
  REQUIRE(triggers.size() == 2);
  CHECK(triggers[0].function == "slow");
  CHECK(triggers[0].delivered == 3);
  CHECK(triggers[0].throttled == 1);
  CHECK(triggers[0].refused == 0);
  CHECK(triggers[1].delivered == 3);
  CHECK(triggers[1].throttled == 0);
  CHECK(host.router_stats().throttled == 1);
  CHECK(host.router_stats().refused == 0);
  fnhost::FunctionStats slow = stats_of(host, "slow");
  CHECK(slow.events_accepted == 3);
  CHECK(slow.throttle_requeues == 1);
  CHECK(slow.events_pending == 3);
  gate->open();
  REQUIRE(wait_until([&] { return stats_of(host, "slow").successes == 2; }));
  // The waiting one is re-queued after its backoff (at most the policy's 100 ms, jittered),
  // used no attempt, and succeeds.
  clock->advance(absl::Milliseconds(100));
  REQUIRE(wait_until([&] { return stats_of(host, "slow").successes == 3; }));
  slow = stats_of(host, "slow");
  CHECK(slow.events_succeeded == 3);
  CHECK(slow.events_pending == 0);
  CHECK(slow.events_dead_lettered == 0);
  CHECK(slow.retries == 0);
}

TEST_CASE("a handler publishes with Context::publish", "[publish]") {
  Host host = make_host();
  Received downstream;
  REQUIRE(host.register_function(recording_spec("downstream", downstream)).ok());
  REQUIRE(host.register_function({.name = "upstream",
                                  .handler = [](const Event& event, Context& ctx) -> Result {
                                    absl::Status published = ctx.publish(
                                        Event{.topic = "stage2/" + event.data, .data = event.data});
                                    if (!published.ok()) return published;
                                    return "";
                                  }})
              .ok());
  subscribe(host, "stage1", "upstream");
  subscribe(host, "stage2/+", "downstream");
  REQUIRE(host.publish(on_topic("stage1", "x")).ok());
  REQUIRE(wait_until([&] { return downstream.count == 1; }));
  CHECK(downstream.sorted_topics() == std::vector<std::string>{"stage2/x"});
}

TEST_CASE("after shutdown publish and subscribe are refused", "[publish]") {
  Host host = make_host();
  REQUIRE(host.register_function(noop_spec("f")).ok());
  subscribe(host, "t", "f");
  host.shutdown(absl::Seconds(5));
  CHECK(host.publish(on_topic("t")).code() == absl::StatusCode::kUnavailable);
  CHECK(host.subscribe({.pattern = "t", .function = "f"}).status().code() ==
        absl::StatusCode::kUnavailable);
  CHECK(host.router_stats().published == 0);
}

TEST_CASE("thousands of triggers route each event only to its own", "[publish]") {
  constexpr int kDevices = 2000;
  Host host = make_host();
  Received per_device;
  Received any_device;
  REQUIRE(host.register_function(recording_spec("per_device", per_device)).ok());
  REQUIRE(host.register_function(recording_spec("any_device", any_device)).ok());
  for (int i = 0; i < kDevices; ++i) {
    subscribe(host, "devices/d" + std::to_string(i) + "/temp", "per_device");
  }
  subscribe(host, "devices/+/temp", "any_device");
  for (int i = 0; i < kDevices; i += 97) {
    REQUIRE(host.publish(on_topic("devices/d" + std::to_string(i) + "/temp")).ok());
  }
  const int published = (kDevices + 96) / 97;
  REQUIRE(
      wait_until([&] { return per_device.count == published && any_device.count == published; }));
  CHECK(host.router_stats().deliveries == 2 * published);
}

// Publishers, subscription churn and a shutdown racing each other: every delivery the router
// counted ends as a success of its function or as a drop in the shutdown report.
TEST_CASE("no publish delivers to a trigger after unsubscribe returned", "[publish][stress]") {
  const int rounds = fnhost::testing::scaled(20, 4);
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    Host host = make_host(fnhost::testing::quiet_options(4));
    const auto noop = [](const Event&, Context&) -> Result { return ""; };
    REQUIRE(host.register_function({.name = "kept", .handler = noop}).ok());
    REQUIRE(host.register_function({.name = "removed", .handler = noop}).ok());
    subscribe(host, "load/#", "kept");
    const TriggerId doomed = subscribe(host, "load/+", "removed");
    std::atomic<bool> stop{false};
    std::atomic<int64_t> published{0};
    std::vector<std::thread> publishers;
    for (int p = 0; p < 3; ++p) {
      publishers.emplace_back([&] {
        while (!stop.load()) {
          if (host.publish(on_topic("load/x")).ok()) published.fetch_add(1);
        }
      });
    }
    REQUIRE(wait_until([&] { return stats_of(host, "removed").invocations >= 50; }));
    REQUIRE(host.unsubscribe(doomed).ok());
    // Every delivery to the removed trigger was admitted before unsubscribe returned.
    const int64_t at_removal = stats_of(host, "removed").invocations;
    const int64_t published_then = published.load();
    REQUIRE(wait_until([&] { return published.load() >= published_then + 200; }));
    stop.store(true);
    for (std::thread& publisher : publishers) publisher.join();
    CHECK(stats_of(host, "removed").invocations == at_removal);
  }
}

TEST_CASE("publishing races subscribe, unsubscribe and shutdown without losing a delivery",
          "[publish][stress]") {
  const int rounds = fnhost::testing::scaled(20, 4);
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    std::optional<Host> host(make_host(fnhost::testing::quiet_options(4)));
    std::atomic<int64_t> runs{0};
    REQUIRE(host->register_function({.name = "f",
                                     .handler = [&runs](const Event&, Context&) -> Result {
                                       runs.fetch_add(1);
                                       return "";
                                     }})
                .ok());
    subscribe(*host, "load/#", "f");
    std::atomic<bool> stop{false};
    std::atomic<int64_t> accepted{0};
    std::atomic<int64_t> unexpected{0};
    std::vector<std::thread> threads;
    for (int p = 0; p < 3; ++p) {
      threads.emplace_back([&, p] {
        for (int i = 0; !stop.load(); ++i) {
          absl::Status published =
              host->publish(on_topic("load/" + std::to_string(p) + "/" + std::to_string(i % 7)));
          if (published.ok()) {
            accepted.fetch_add(1);
          } else if (published.code() != absl::StatusCode::kUnavailable) {
            unexpected.fetch_add(1);
          }
        }
      });
    }
    threads.emplace_back([&] {
      std::vector<TriggerId> ids;
      for (int i = 0; !stop.load(); ++i) {
        absl::StatusOr<TriggerId> id =
            host->subscribe({.pattern = "load/+/" + std::to_string(i % 7), .function = "f"});
        if (id.ok()) ids.push_back(*id);
        if (ids.size() > 4) {
          if (!host->unsubscribe(ids.front()).ok()) unexpected.fetch_add(1);
          ids.erase(ids.begin());
        }
      }
    });
    REQUIRE(wait_until([&] { return accepted.load() >= 200; }));
    const fnhost::ShutdownReport report = host->shutdown(absl::Milliseconds(round % 2));
    stop.store(true);
    for (std::thread& thread : threads) thread.join();
    const RouterStats stats = host->router_stats();
    const fnhost::FunctionStats function = stats_of(*host, "f");
    host.reset();
    CHECK(unexpected.load() == 0);
    CHECK(stats.published == accepted.load());
    CHECK(stats.published == stats.routed + stats.unrouted);
    // Every delivery was accepted as an invocation, and ended as a success, a drop or an
    // unfinished run in the shutdown report (a delivery refused at the close is counted as
    // refused, not delivered).
    CHECK(stats.deliveries == function.invocations);
    CHECK(function.invocations ==
          function.successes + function.errors + function.dropped + report.unfinished);
    CHECK(report.dropped == function.dropped);
    CHECK(runs.load() >= function.successes);
  }
}

}  // namespace
