// SPDX-License-Identifier: Apache-2.0
// Ordering keys on triggers: events with the same key run one at a time and in publish order,
// each after the previous one ended (its retries included); different keys run in parallel;
// events without the key are not ordered.
#include <atomic>
#include <catch2/catch.hpp>
#include <map>
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
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::Event;
using fnhost::Host;
using fnhost::HostOptions;
using fnhost::Result;
using fnhost::testing::make_host;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

// What ran, per key, in order; and how many of one key ran at once at most.
struct Runs {
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> order;
  std::map<std::string, int> running;
  int max_same_key = 0;
  int running_total = 0;
  int max_total = 0;
  std::atomic<int> count{0};

  void begin(const std::string& key, const std::string& data) {
    std::lock_guard lock(mu);
    order[key].push_back(data);
    max_same_key = std::max(max_same_key, ++running[key]);
    max_total = std::max(max_total, ++running_total);
  }
  void end(const std::string& key) {
    std::lock_guard lock(mu);
    --running[key];
    --running_total;
    count.fetch_add(1);
  }
};

Event keyed(const std::string& device, const std::string& data) {
  return Event{.extensions = {{"device", device}}, .topic = "telemetry", .data = data};
}

TEST_CASE("events of one key run one at a time in publish order, keys run in parallel",
          "[ordering]") {
  Host host = make_host(fnhost::testing::quiet_options(8));
  Runs runs;
  REQUIRE(host.register_function({.name = "ingest",
                                  .handler = [&runs](const Event& event, Context&) -> Result {
                                    const std::string key(*event.extension("device"));
                                    runs.begin(key, event.data);
                                    // Long enough for the next of the key to be waiting.
                                    std::this_thread::sleep_for(std::chrono::microseconds(200));
                                    runs.end(key);
                                    return "";
                                  }})
              .ok());
  REQUIRE(host.subscribe({.pattern = "telemetry", .function = "ingest", .ordering_key = "device"})
              .ok());
  const std::vector<std::string> devices = {"d1", "d2", "d3", "d4"};
  constexpr int kPerDevice = 100;
  for (int i = 0; i < kPerDevice; ++i) {
    for (const std::string& device : devices) {
      REQUIRE(host.publish(keyed(device, std::to_string(i))).ok());
    }
  }
  REQUIRE(wait_until([&] { return runs.count.load() == kPerDevice * 4; }));
  std::lock_guard lock(runs.mu);
  CHECK(runs.max_same_key == 1);
  CHECK(runs.max_total > 1);  // different keys did run at once
  for (const std::string& device : devices) {
    std::vector<std::string> expected;
    for (int i = 0; i < kPerDevice; ++i) expected.push_back(std::to_string(i));
    CHECK(runs.order[device] == expected);
  }
  const fnhost::FunctionStats stats = stats_of(host, "ingest");
  CHECK(stats.events_accepted == kPerDevice * 4);
  CHECK(stats.events_succeeded == kPerDevice * 4);
  CHECK(stats.events_pending == 0);
  const std::vector<fnhost::TriggerInfo> triggers = host.triggers();
  REQUIRE(triggers.size() == 1);
  CHECK(triggers[0].ordering_key == "device");
  CHECK(triggers[0].ordered_waiting == 0);
  CHECK(triggers[0].delivered == kPerDevice * 4);
}

TEST_CASE("the next event of a key waits for the previous one's retries", "[ordering]") {
  fnhost::testing::ClockedHost clocked;
  Host& host = clocked.host;
  const std::shared_ptr<fnhost::ManualClock>& clock = clocked.clock;
  std::mutex mu;
  std::vector<std::string> seen;
  std::atomic<int> calls{0};
  REQUIRE(host.register_function({.name = "apply",
                                  .handler = [&](const Event& event, Context& ctx) -> Result {
                                    {
                                      std::lock_guard lock(mu);
                                      seen.push_back(event.data + "#" +
                                                     std::to_string(ctx.attempt()));
                                    }
                                    calls.fetch_add(1);
                                    if (event.data == "first" && ctx.attempt() == 1) {
                                      return absl::UnavailableError("try again");
                                    }
                                    if (event.data == "poison") {
                                      return fnhost::not_retryable(absl::InternalError("bad"));
                                    }
                                    return "";
                                  },
                                  .retry = {.initial_backoff = absl::Seconds(1)}})
              .ok());
  REQUIRE(host.subscribe({.pattern = "telemetry", .function = "apply", .ordering_key = "device"})
              .ok());
  REQUIRE(host.publish(keyed("d1", "first")).ok());
  REQUIRE(host.publish(keyed("d1", "poison")).ok());
  REQUIRE(host.publish(keyed("d1", "third")).ok());
  REQUIRE(wait_until([&] { return stats_of(host, "apply").retries == 1; }));
  // "first" waits for its retry: the others of d1 wait behind it, not run.
  CHECK(calls.load() == 1);
  CHECK(host.triggers()[0].ordered_waiting == 2);
  CHECK(stats_of(host, "apply").events_pending == 3);
  clock->advance(absl::Seconds(1));
  REQUIRE(wait_until([&] { return stats_of(host, "apply").events_pending == 0; }));
  std::lock_guard lock(mu);
  // A dead-lettered event lets the next one run.
  CHECK(seen == std::vector<std::string>{"first#1", "first#2", "poison#1", "third#1"});
  CHECK(stats_of(host, "apply").events_dead_lettered == 1);
}

TEST_CASE("events without the key attribute are not ordered", "[ordering]") {
  Host host = make_host(fnhost::testing::quiet_options(4));
  auto gate = std::make_shared<fnhost::testing::Gate>();
  fnhost::testing::GateOpener opener(gate);
  std::atomic<int> started{0};
  REQUIRE(host.register_function({.name = "f",
                                  .handler = fnhost::testing::gated_handler(gate, started)})
              .ok());
  REQUIRE(
      host.subscribe({.pattern = "telemetry", .function = "f", .ordering_key = "device"}).ok());
  REQUIRE(host.publish(Event{.topic = "telemetry", .data = "a"}).ok());
  REQUIRE(host.publish(Event{.topic = "telemetry", .data = "b"}).ok());
  // Both run at once: neither has a key.
  REQUIRE(wait_until([&] { return started.load() == 2; }));
  // With the same key the second waits.
  REQUIRE(host.publish(keyed("d1", "c")).ok());
  REQUIRE(host.publish(keyed("d1", "d")).ok());
  REQUIRE(wait_until([&] { return started.load() == 3; }));
  CHECK(host.triggers()[0].ordered_waiting == 1);
  gate->open();
  REQUIRE(wait_until([&] { return stats_of(host, "f").events_succeeded == 4; }));
}

TEST_CASE("a bad ordering_key is refused, shutdown dead-letters the events waiting in order",
          "[ordering]") {
  Host host = make_host();
  auto gate = std::make_shared<fnhost::testing::Gate>();
  fnhost::testing::GateOpener opener(gate);
  std::atomic<int> started{0};
  REQUIRE(host.register_function({.name = "f",
                                  .handler = fnhost::testing::gated_handler(gate, started)})
              .ok());
  const absl::StatusOr<fnhost::TriggerId> bad =
      host.subscribe({.pattern = "t", .function = "f", .ordering_key = "bad key"});
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.status().message()).find("ordering_key") != std::string::npos);

  REQUIRE(
      host.subscribe({.pattern = "telemetry", .function = "f", .ordering_key = "device"}).ok());
  for (int i = 0; i < 5; ++i) REQUIRE(host.publish(keyed("d1", std::to_string(i))).ok());
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  std::thread opener_thread([&] {
    // Let the running one finish once shutdown has begun.
    wait_until([&] { return !host.is_accepting(); });
    gate->open();
  });
  const fnhost::ShutdownReport report = host.shutdown(absl::Seconds(30));
  opener_thread.join();
  REQUIRE(wait_until([&] { return stats_of(host, "f").events_pending == 0; }));
  const fnhost::FunctionStats stats = stats_of(host, "f");
  CHECK(stats.events_accepted == 5);
  CHECK(stats.events_succeeded == 1);
  CHECK(stats.events_dead_lettered == 4);
  CHECK(host.dead_letter_count("f") == 4);
  CHECK(report.unfinished == 0);
}

}  // namespace
