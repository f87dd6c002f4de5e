// SPDX-License-Identifier: Apache-2.0
// Regression tests for the lifetime of function versions and their instances: a version
// replaced by update_function, or removed by remove_function, is freed (its instances'
// states destroyed) once its last invocation ends — also while the function stays busy — and
// FunctionStats.instances counts an old version's instances until they are gone.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/instance_counter.hpp"
#include "testing/scale.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Completion;
using fnhost::Context;
using fnhost::Event;
using fnhost::FunctionSpec;
using fnhost::Result;
using fnhost::testing::describe;
using fnhost::testing::describe_state;
using fnhost::testing::Gate;
using fnhost::testing::GateOpener;
using fnhost::testing::InstanceCounter;
using fnhost::testing::make_host;
using fnhost::testing::quiet_options;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

constexpr int kMaxThreads = 8;
// How long freeing may take once it is due: far more than it needs, short enough that a
// failing case does not sit for minutes.
constexpr std::chrono::seconds kSettle{20};

// A version of "versioned" whose instances are counted by `counter`. Its handler checks that
// the instance belongs to its version, and waits at `gate` when the event says "hold".
FunctionSpec counted_spec(const InstanceCounter& counter, std::shared_ptr<Gate> gate,
                          std::atomic<int>* held, int min_instances = 0) {
  return FunctionSpec{
      .name = "versioned",
      .handler = [gate = std::move(gate), held](const Event& event, Context& ctx) -> Result {
        if (event.data == "hold") {
          held->fetch_add(1);
          gate->wait();
        }
        const int64_t* state = ctx.instance_state<int64_t>();
        if (state == nullptr) return absl::InternalError("no instance state");
        return std::to_string(*state) + "@" + std::to_string(ctx.function_version());
      },
      .init = counter.init(),
      .timeout = absl::Hours(1),
      .min_instances = min_instances,
  };
}

// Producers invoking "versioned" synchronously until stopped; failures counted.
class Load {
 public:
  Load(fnhost::Host& host, int threads) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, &host] {
        while (!stop_.load()) {
          const Result& result = host.invoke("versioned", {}).get();
          calls_.fetch_add(1);
          if (!result.ok()) failures_.fetch_add(1);
        }
      });
    }
  }
  ~Load() { stop(); }
  void stop() {
    stop_.store(true);
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  int64_t calls() const { return calls_.load(); }
  int64_t failures() const { return failures_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> failures_{0};
  std::vector<std::thread> threads_;
};

bool idle(const fnhost::Host& host) {
  const fnhost::FunctionStats stats = stats_of(host, "versioned");
  return stats.in_flight == 0 && stats.queued == 0;
}

TEST_CASE("after 300 hot swaps under constant load only the current version's instances live",
          "[versions][regression][stress]") {
  const int swaps = fnhost::testing::scaled(300, 100);
  InstanceCounter counter;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> held{0};
  fnhost::Host host = make_host(quiet_options(kMaxThreads));
  GateOpener open_on_exit(gate);
  REQUIRE(host.register_function(counted_spec(counter, gate, &held)).ok());
  // One long invocation keeps the function busy through every swap.
  Completion keeper = host.invoke("versioned", Event::with_data("hold"));
  REQUIRE(wait_until([&] { return held.load() == 1; }));
  {
    Load load(host, 4);
    REQUIRE(wait_until([&] { return load.calls() > 0; }));
    for (int swap = 0; swap < swaps; ++swap) {
      REQUIRE(host.update_function(counted_spec(counter, gate, &held, /*min_instances=*/1)).ok());
      std::this_thread::yield();
    }
    load.stop();
    CHECK(load.failures() == 0);
  }
  gate->open();
  REQUIRE(keeper.wait_for(absl::Seconds(60)));
  CHECK(keeper.get().ok());
  REQUIRE(wait_until([&] { return idle(host); }));
  CHECK(stats_of(host, "versioned").version == swaps + 1);
  CHECK(counter.created() >= swaps + 1);

  const bool settled = wait_until(
      [&] {
        const int64_t instances = stats_of(host, "versioned").instances;
        const int64_t alive = counter.alive();
        return alive <= instances && alive <= kMaxThreads;
      },
      kSettle);
  INFO("created=" << counter.created() << " destroyed=" << counter.destroyed() << " "
                  << describe_state(host, "versioned"));
  CHECK(settled);
}

TEST_CASE("an old version is freed when its last invocation ends even while the load goes on",
          "[versions][regression][stress]") {
  constexpr int kSwaps = 20;
  InstanceCounter counter;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> held{0};
  fnhost::Host host = make_host(quiet_options(kMaxThreads));
  GateOpener open_on_exit(gate);
  // Version 1 runs one held invocation on its only instance for the whole case, so the
  // function is never idle; versions 2.. serve the load.
  REQUIRE(host.register_function(counted_spec(counter, gate, &held)).ok());
  Completion keeper = host.invoke("versioned", Event::with_data("hold"));
  REQUIRE(wait_until([&] { return held.load() == 1; }));
  REQUIRE(counter.created() == 1);

  Load load(host, 4);
  for (int swap = 0; swap < kSwaps; ++swap) {
    REQUIRE(host.update_function(counted_spec(counter, gate, &held, /*min_instances=*/1)).ok());
    const int64_t calls = load.calls();
    // Let each version serve some of the load before the next replaces it.
    REQUIRE(wait_until([&] { return load.calls() > calls + 4; }));
  }
  REQUIRE(counter.created() >= kSwaps + 1);
  // Still under load: version 1 (held) keeps its one instance, the current version keeps at
  // most one per concurrent invocation; versions 2..kSwaps are gone.
  const bool settled = wait_until(
      [&] { return counter.alive() <= 1 + kMaxThreads; }, kSettle);
  INFO("created=" << counter.created() << " destroyed=" << counter.destroyed() << " "
                  << describe_state(host, "versioned"));
  CHECK(settled);
  CHECK(load.calls() > 0);
  load.stop();
  CHECK(load.failures() == 0);
  gate->open();
  REQUIRE(keeper.wait_for(absl::Seconds(60)));
  INFO(describe(keeper.get()));
  CHECK(keeper.get().ok());
}

TEST_CASE("remove_function destroys the idle provisioned instances promptly",
          "[versions][regression]") {
  constexpr int kProvisioned = 4;
  InstanceCounter counter;
  fnhost::Host host = make_host();
  REQUIRE(host.register_function({.name = "provisioned",
                                  .handler = fnhost::testing::echo_handler(),
                                  .init = counter.init(),
                                  .min_instances = kProvisioned})
              .ok());
  REQUIRE(counter.created() == kProvisioned);
  CHECK(stats_of(host, "provisioned").instances == kProvisioned);
  REQUIRE(host.remove_function("provisioned").ok());
  const bool destroyed =
      wait_until([&] { return counter.destroyed() == kProvisioned; }, kSettle);
  INFO("created=" << counter.created() << " destroyed=" << counter.destroyed());
  CHECK(destroyed);
}

TEST_CASE("remove_function during a running invocation frees its instance after it ends",
          "[versions][regression]") {
  InstanceCounter counter;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> held{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host.register_function(counted_spec(counter, gate, &held)).ok());
  Completion running = host.invoke("versioned", Event::with_data("hold"));
  REQUIRE(wait_until([&] { return held.load() == 1; }));
  REQUIRE(counter.created() == 1);

  REQUIRE(host.remove_function("versioned").ok());
  // Its invocation still runs on it.
  CHECK(counter.destroyed() == 0);
  gate->open();
  REQUIRE(running.wait_for(absl::Seconds(60)));
  INFO(describe(running.get()));
  CHECK(running.get().ok());
  const bool destroyed = wait_until([&] { return counter.destroyed() == 1; }, kSettle);
  INFO("created=" << counter.created() << " destroyed=" << counter.destroyed());
  CHECK(destroyed);
}

TEST_CASE("FunctionStats.instances counts an old version's instances until they are gone",
          "[versions][regression]") {
  InstanceCounter counter;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> held{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host.register_function(counted_spec(counter, gate, &held)).ok());
  Completion running = host.invoke("versioned", Event::with_data("hold"));
  REQUIRE(wait_until([&] { return held.load() == 1; }));
  CHECK(stats_of(host, "versioned").instances == 1);

  REQUIRE(host.update_function(counted_spec(counter, gate, &held, /*min_instances=*/1)).ok());
  REQUIRE(counter.created() == 2);
  // Version 1's busy instance and version 2's provisioned one.
  INFO(describe_state(host, "versioned"));
  CHECK(stats_of(host, "versioned").instances == 2);

  gate->open();
  REQUIRE(running.wait_for(absl::Seconds(60)));
  INFO(describe(running.get()));
  CHECK(running.get().ok());
  const bool settled = wait_until(
      [&] { return stats_of(host, "versioned").instances == 1 && counter.alive() == 1; },
      kSettle);
  INFO("created=" << counter.created() << " destroyed=" << counter.destroyed() << " "
                  << describe_state(host, "versioned"));
  CHECK(settled);
}

}  // namespace
