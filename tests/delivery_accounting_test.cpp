// SPDX-License-Identifier: Apache-2.0
// The accounting invariant of reliable delivery under stress: many producers (invoke_async and
// publish to a fan-out), handlers that succeed, fail (retryable or not), throw, time out or
// throttle at random, tiny backoffs, and a shutdown racing the producers. For every function,
// every accepted event ends exactly once — a success or a dead letter — and nothing is pending
// after shutdown; no event is lost or succeeds twice.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/fnhost.hpp"
#include "testing/host_helpers.hpp"
#include "testing/scale.hpp"
#include "testing/wait.hpp"
#include "testing/watchdog.hpp"

namespace {

using fnhost::Context;
using fnhost::Event;
using fnhost::Host;
using fnhost::Result;

// Events that succeeded, per function, as the host counted them: the handler notes which event
// each invocation number runs, and the observer records the ones that finished as a success
// (a handler that returned "ok" after its deadline or after shutdown claimed it did not
// succeed, and its event is retried or dead-lettered). A second success of one event is a
// duplicate.
struct Ledger final : fnhost::InvocationObserver {
  std::mutex mu;
  std::map<std::string, std::map<uint64_t, std::string>> running;  // function -> number -> id
  std::map<std::string, std::multiset<std::string>> succeeded;

  void note(const std::string& function, const std::string& invocation_id,
            const std::string& event_id) {
    // The id ends with the invocation's number in 12 hex digits.
    const uint64_t number = std::stoull(invocation_id.substr(invocation_id.size() - 12), nullptr, 16);
    std::lock_guard lock(mu);
    running[function][number] = event_id;
  }
  void on_finished(const fnhost::FinishedInvocation& invocation) override {
    if (invocation.outcome != fnhost::InvocationOutcome::kSuccess) return;
    const std::string function(invocation.function);
    std::lock_guard lock(mu);
    auto& numbers = running[function];
    auto it = numbers.find(invocation.number);
    if (it == numbers.end()) return;  // not a success path of the handler (cannot happen)
    succeeded[function].insert(it->second);
    numbers.erase(it);
  }
};

uint64_t mix(const std::string& id, int attempt) {
  uint64_t h = std::hash<std::string>{}(id) ^ (uint64_t(attempt) * 0x9e3779b97f4a7c15ULL);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  return h ^ (h >> 33);
}

// A handler whose outcome is random but fixed per (event, attempt).
fnhost::Handler chaotic(const std::string& function, Ledger& ledger) {
  return [function, &ledger](const Event& event, Context& ctx) -> Result {
    const std::string& id = event.id.empty() ? event.data : event.id;
    switch (mix(id, ctx.attempt()) % 10) {
      case 0:
      case 1:
        return absl::UnavailableError("flaky");  // retried
      case 2:
        return fnhost::not_retryable(absl::InternalError("poison"));  // dead-lettered at once
      case 3:
        throw std::runtime_error("threw");  // Internal: retried
      case 4:
        ctx.sleep_for(absl::Seconds(5));  // past the 5 ms timeout: retried once it returns
        return "late";
      case 5:
        return absl::ResourceExhaustedError("downstream full");  // throttle: no attempt used
      default:
        ledger.note(function, ctx.invocation_id(), id);
        return "ok";
    }
  };
}

TEST_CASE("every accepted event ends once, as a success or a dead letter, under faults and "
          "shutdown",
          "[delivery][stress]") {
  const int rounds = fnhost::testing::scaled(6, 2);
  const int producers = 6;
  fnhost::testing::Watchdog watchdog("delivery accounting", std::chrono::seconds(400));
  std::mt19937 random(12345);
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    auto ledger_owner = std::make_shared<Ledger>();
    Ledger& ledger = *ledger_owner;
    fnhost::HostOptions options = fnhost::testing::quiet_options(16);
    options.observers.push_back(ledger_owner);
    auto store = fnhost::make_memory_dead_letter_store(1'000'000);
    options.dead_letter_store = store;
    Host host = fnhost::testing::make_host(std::move(options));
    const fnhost::RetryPolicy policy{.max_attempts = 3,
                                     .initial_backoff = absl::Milliseconds(1),
                                     .max_backoff = absl::Milliseconds(5)};
    const std::vector<std::string> functions = {"direct", "fan_a", "fan_b"};
    for (const std::string& name : functions) {
      fnhost::FunctionSpec spec{.name = name,
                                .handler = chaotic(name, ledger),
                                .timeout = absl::Milliseconds(5),
                                .retry = policy};
      // A small queue behind one runner: fan-out deliveries find it full and wait.
      if (name == "fan_b") {
        spec.max_concurrency = 1;
        spec.max_queued = 4;
      }
      REQUIRE(host.register_function(std::move(spec)).ok());
    }
    REQUIRE(host.subscribe({.pattern = "orders/#", .function = "fan_a"}).ok());
    REQUIRE(host.subscribe({.pattern = "orders/+/created", .function = "fan_b"}).ok());

    std::atomic<bool> stop{false};
    std::atomic<int64_t> direct_accepted{0};
    std::atomic<int64_t> published{0};
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        for (int i = 0; !stop.load(); ++i) {
          const std::string id = std::to_string(p) + "-" + std::to_string(i);
          if (i % 2 == 0) {
            const absl::Status queued = host.invoke_async("direct", Event{.id = id});
            if (queued.ok()) {
              direct_accepted.fetch_add(1);
            } else if (queued.code() == absl::StatusCode::kUnavailable) {
              return;
            }
          } else {
            const absl::Status sent = host.publish(Event{.id = id, .topic = "orders/eu/created"});
            if (sent.ok()) {
              published.fetch_add(1);
            } else if (sent.code() == absl::StatusCode::kUnavailable) {
              return;
            }
          }
          if (i % 64 == 0) std::this_thread::yield();
        }
      });
    }
    // Let the producers run a while (bounded by work, not time: a slow machine just does less),
    // then shut down under them with a short or zero drain.
    REQUIRE(fnhost::testing::wait_until(
        [&] { return direct_accepted.load() + published.load() >= 2000; }));
    const absl::Duration drain = absl::Milliseconds(std::uniform_int_distribution<int>(0, 20)(random));
    const fnhost::ShutdownReport report = host.shutdown(drain);
    stop = true;
    for (std::thread& thread : threads) thread.join();
    // Handlers cancelled by shutdown settle their events as they return (they honour
    // cancellation): then nothing is pending.
    REQUIRE(fnhost::testing::wait_until([&] {
      for (const std::string& name : functions) {
        if (fnhost::testing::stats_of(host, name).events_pending != 0) return false;
      }
      return true;
    }));
    INFO("dropped " << report.dropped << " unfinished " << report.unfinished
                    << " retries dead-lettered " << report.retries_dead_lettered);
    // A publish racing shutdown may reach one subscriber and find the other closed: that
    // delivery is refused (counted on its trigger), the event was published all the same.
    std::map<std::string, int64_t> expected_accepted = {{"direct", direct_accepted.load()}};
    int64_t refused = 0;
    for (const fnhost::TriggerInfo& trigger : host.triggers()) {
      expected_accepted[trigger.function] = trigger.delivered;
      refused += trigger.refused;
      // Each producer stops at its first refused publish, which the triggers counted too.
      CHECK(trigger.delivered + trigger.refused >= published.load());
      CHECK(trigger.delivered + trigger.refused <= published.load() + producers);
    }
    CHECK(refused <= 4 * producers);
    for (const std::string& name : functions) {
      INFO("function " << name);
      const fnhost::FunctionStats stats = fnhost::testing::stats_of(host, name);
      CHECK(stats.events_accepted == expected_accepted[name]);
      CHECK(stats.events_accepted == stats.events_succeeded + stats.events_dead_lettered);
      CHECK(stats.events_pending == 0);
      CHECK(stats.dead_letters_lost == 0);
      CHECK(store->count(name) == stats.events_dead_lettered);
      // Exactly once: successes are distinct events; with the dead letters they are all the
      // accepted events.
      std::multiset<std::string> succeeded;
      {
        std::lock_guard lock(ledger.mu);
        succeeded = ledger.succeeded[name];
      }
      std::set<std::string> distinct(succeeded.begin(), succeeded.end());
      CHECK(distinct.size() == succeeded.size());
      CHECK(static_cast<int64_t>(succeeded.size()) == stats.events_succeeded);
      std::set<std::string> ended = distinct;
      for (const fnhost::DeadLetter& letter : store->list(name, 1'000'000)) {
        CHECK(ended.insert(letter.event.id).second);  // not also a success or another letter
      }
      CHECK(static_cast<int64_t>(ended.size()) == stats.events_accepted);
    }
  }
}

}  // namespace
