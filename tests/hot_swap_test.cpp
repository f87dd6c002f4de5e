// SPDX-License-Identifier: Apache-2.0
// Tests for update_function (hot swap) and remove_function: in-flight invocations finish on the
// code they started with, later ones use the new code, nothing fails in between.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Completion;
using fnhost::Context;
using fnhost::Event;
using fnhost::FunctionSpec;
using fnhost::InitContext;
using fnhost::Result;
using fnhost::testing::code_of;
using fnhost::testing::describe;
using fnhost::testing::Gate;
using fnhost::testing::GateOpener;
using fnhost::testing::make_host;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

// Version `label` of "swap": waits for `gate` (if any), then answers "<label>@<ctx version>".
FunctionSpec swap_spec(std::string label, std::shared_ptr<Gate> gate, std::atomic<int>* started,
                       int max_concurrency = 0) {
  return FunctionSpec{
      .name = "swap",
      .handler = [label = std::move(label), gate = std::move(gate), started](
                     const Event&, Context& ctx) -> Result {
        if (started != nullptr) started->fetch_add(1);
        if (gate != nullptr) gate->wait();
        return label + "@" + std::to_string(ctx.function_version());
      },
      .timeout = absl::Hours(1),
      .max_concurrency = max_concurrency,
  };
}

TEST_CASE("update_function lets running invocations finish on the old code", "[hot_swap]") {
  constexpr int kRunning = 3;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host.register_function(swap_spec("old", gate, &started)).ok());

  std::vector<Completion> old_calls;
  for (int i = 0; i < kRunning; ++i) old_calls.push_back(host.invoke("swap", {}));
  REQUIRE(wait_until([&] { return started.load() == kRunning; }));

  REQUIRE(host.update_function(swap_spec("new", nullptr, nullptr)).ok());
  CHECK(stats_of(host, "swap").version == 2);
  // Started after update_function returned: new code, while the old calls are still blocked.
  const Result& fresh = host.invoke("swap", {}).get();
  INFO(describe(fresh));
  REQUIRE(fresh.ok());
  CHECK(*fresh == "new@2");
  for (const Completion& done : old_calls) CHECK_FALSE(done.is_ready());

  gate->open();
  for (const Completion& done : old_calls) {
    const Result& result = done.get();
    INFO(describe(result));
    REQUIRE(result.ok());
    CHECK(*result == "old@1");
  }
}

TEST_CASE("update_function makes queued invocations run the new code", "[hot_swap]") {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host.register_function(swap_spec("old", gate, &started, /*max_concurrency=*/1)).ok());

  Completion running = host.invoke("swap", {});
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  Completion queued_a = host.invoke("swap", {});
  Completion queued_b = host.invoke("swap", {});
  REQUIRE(wait_until([&] { return stats_of(host, "swap").queued == 2; }));

  REQUIRE(host.update_function(swap_spec("new", nullptr, nullptr, /*max_concurrency=*/1)).ok());
  gate->open();
  CHECK(*running.get() == "old@1");
  INFO(describe(queued_a.get()));
  CHECK(*queued_a.get() == "new@2");
  CHECK(*queued_b.get() == "new@2");
}

TEST_CASE("after update_function the old version's instances are not reused", "[hot_swap]") {
  std::atomic<int> inits{0};
  auto spec_for = [&inits](int label) {
    return FunctionSpec{
        .name = "instanced",
        .handler = [label](const Event&, Context& ctx) -> Result {
          return std::to_string(label) + (ctx.is_cold_start() ? ":cold:" : ":warm:") +
                 std::to_string(*ctx.instance_state<int>());
        },
        .init = [&inits, label](const InitContext& init) -> absl::StatusOr<std::shared_ptr<void>> {
          inits.fetch_add(1);
          return std::make_shared<int>(label * 100 + static_cast<int>(init.function_version()));
        },
    };
  };
  fnhost::Host host = make_host();
  REQUIRE(host.register_function(spec_for(1)).ok());
  CHECK(*host.invoke("instanced", {}).get() == "1:cold:101");
  CHECK(*host.invoke("instanced", {}).get() == "1:warm:101");
  REQUIRE(host.update_function(spec_for(2)).ok());
  CHECK(*host.invoke("instanced", {}).get() == "2:cold:202");
  CHECK(*host.invoke("instanced", {}).get() == "2:warm:202");
  CHECK(inits.load() == 2);
}

TEST_CASE("update_function changes the configuration too", "[hot_swap]") {
  auto spec_with_env = [](std::string value) {
    return FunctionSpec{.name = "configured",
                        .handler = [](const Event&, Context& ctx) -> Result {
                          return std::string(ctx.env("MODE").value_or("<none>")) + "/" +
                                 std::to_string(ctx.memory_mb());
                        },
                        .memory_mb = value == "blue" ? 256 : 1024,
                        .env = {{"MODE", std::move(value)}}};
  };
  fnhost::Host host = make_host();
  REQUIRE(host.register_function(spec_with_env("blue")).ok());
  CHECK(*host.invoke("configured", {}).get() == "blue/256");
  REQUIRE(host.update_function(spec_with_env("green")).ok());
  CHECK(*host.invoke("configured", {}).get() == "green/1024");
}

TEST_CASE("stats survive an update and count across versions", "[hot_swap]") {
  fnhost::Host host = make_host();
  REQUIRE(host.register_function(swap_spec("v1", nullptr, nullptr)).ok());
  REQUIRE(host.invoke("swap", {}).get().ok());
  REQUIRE(host.update_function(swap_spec("v2", nullptr, nullptr)).ok());
  REQUIRE(host.invoke("swap", {}).get().ok());
  CHECK(wait_until([&] { return stats_of(host, "swap").successes == 2; }));
  fnhost::FunctionStats stats = stats_of(host, "swap");
  CHECK(stats.invocations == 2);
  CHECK(stats.version == 2);
}

TEST_CASE("remove_function refuses new calls and lets running and queued ones finish",
          "[hot_swap]") {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host.register_function(swap_spec("doomed", gate, &started, /*max_concurrency=*/1)).ok());

  Completion running = host.invoke("swap", {});
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  Completion queued = host.invoke("swap", {});
  REQUIRE(wait_until([&] { return stats_of(host, "swap").queued == 1; }));

  REQUIRE(host.remove_function("swap").ok());
  CHECK_FALSE(host.has_function("swap"));
  CHECK(host.function_names().empty());
  Completion refused = host.invoke("swap", {});
  REQUIRE(refused.is_ready());
  CHECK(code_of(refused.get()) == absl::StatusCode::kNotFound);
  CHECK(host.invoke_async("swap", {}).code() == absl::StatusCode::kNotFound);
  CHECK(host.remove_function("swap").code() == absl::StatusCode::kNotFound);
  CHECK(host.update_function(swap_spec("x", nullptr, nullptr)).code() ==
        absl::StatusCode::kNotFound);

  gate->open();
  const Result& ran = running.get();
  INFO(describe(ran));
  REQUIRE(ran.ok());
  CHECK(*ran == "doomed@1");
  const Result& drained = queued.get();
  INFO(describe(drained));
  REQUIRE(drained.ok());
  CHECK(*drained == "doomed@1");
}

TEST_CASE("a removed name can be registered again from version 1", "[hot_swap]") {
  fnhost::Host host = make_host();
  REQUIRE(host.register_function(swap_spec("first", nullptr, nullptr)).ok());
  REQUIRE(host.update_function(swap_spec("second", nullptr, nullptr)).ok());
  REQUIRE(host.remove_function("swap").ok());
  REQUIRE(host.register_function(swap_spec("again", nullptr, nullptr)).ok());
  const Result& result = host.invoke("swap", {}).get();
  INFO(describe(result));
  REQUIRE(result.ok());
  CHECK(*result == "again@1");
}

TEST_CASE("invocations racing 100 hot swaps always get a valid version's answer",
          "[hot_swap][stress]") {
  constexpr int kInvokers = 4;
  constexpr int kSwaps = 100;
  // Version k's code answers "k@<ctx version>"; both numbers must agree.
  auto spec_for = [](int version) {
    return FunctionSpec{.name = "swap",
                        .handler = [version](const Event&, Context& ctx) -> Result {
                          return std::to_string(version) + "@" +
                                 std::to_string(ctx.function_version());
                        }};
  };
  struct Failures {
    std::mutex mu;
    std::vector<std::string> items;
    void add(std::string item) {
      std::lock_guard<std::mutex> lock(mu);
      if (items.size() < 20) items.push_back(std::move(item));
    }
  } failures;
  std::atomic<bool> swapping_done{false};
  std::atomic<int> invocations{0};
  std::atomic<int> failure_count{0};

  fnhost::Host host = make_host();
  REQUIRE(host.register_function(spec_for(1)).ok());
  std::vector<std::thread> invokers;
  for (int t = 0; t < kInvokers; ++t) {
    invokers.emplace_back([&] {
      int last_version = 1;
      // Keep invoking until the swaps are done, and at least a few times after the last one.
      for (int after_done = 0; after_done < 5;) {
        if (swapping_done.load()) ++after_done;
        const Result& result = host.invoke("swap", {}).get();
        invocations.fetch_add(1);
        if (!result.ok()) {
          failure_count.fetch_add(1);
          failures.add("error: " + describe(result));
          continue;
        }
        const std::string& text = *result;
        const std::size_t at = text.find('@');
        const int code_version = at == std::string::npos ? -1 : std::stoi(text.substr(0, at));
        const int ctx_version =
            at == std::string::npos ? -2 : std::stoi(text.substr(at + 1));
        if (code_version != ctx_version || code_version < 1 || code_version > kSwaps + 1) {
          failure_count.fetch_add(1);
          failures.add("bad answer: " + text);
        } else if (code_version < last_version) {
          failure_count.fetch_add(1);
          failures.add("went back from " + std::to_string(last_version) + " to " + text);
        } else {
          last_version = code_version;
        }
      }
    });
  }
  std::atomic<int> swap_errors{0};
  std::thread swapper([&] {
    for (int version = 2; version <= kSwaps + 1; ++version) {
      if (!host.update_function(spec_for(version)).ok()) swap_errors.fetch_add(1);
      std::this_thread::yield();
    }
    swapping_done.store(true);
  });
  swapper.join();
  for (std::thread& invoker : invokers) invoker.join();

  {
    std::lock_guard<std::mutex> lock(failures.mu);
    for (const std::string& failure : failures.items) UNSCOPED_INFO(failure);
  }
  CHECK(failure_count.load() == 0);
  CHECK(swap_errors.load() == 0);
  CHECK(invocations.load() >= kInvokers * 5);
  CHECK(stats_of(host, "swap").version == kSwaps + 1);
  const Result& last = host.invoke("swap", {}).get();
  REQUIRE(last.ok());
  CHECK(*last == std::to_string(kSwaps + 1) + "@" + std::to_string(kSwaps + 1));
}

}  // namespace
