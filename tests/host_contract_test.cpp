// SPDX-License-Identifier: Apache-2.0
// Regression tests for small parts of the Host contract: versions seen by init under concurrent
// update_function, moving a result out of a Completion, bounded status messages for huge names,
// and which names are valid.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"
#include "testing/blocking_tasks.hpp"
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
using fnhost::testing::make_host;
using fnhost::testing::stats_of;
using fnhost::testing::blocking_tasks::spin_for;

// Set on the threads that call update_function: an init on such a thread provisions the
// version being installed (register_function and update_function run init on the caller).
thread_local bool provisioning_thread = false;

TEST_CASE("concurrent update_function gives every version instances initialised for it",
          "[host][regression]") {
  constexpr int kUpdaters = 4;
  constexpr int kUpdatesEach = 25;
  constexpr int64_t kFinalVersion = 1 + kUpdaters * kUpdatesEach;
  std::mutex mu;
  std::vector<int64_t> provisioned_versions;  // InitContext versions seen while provisioning
  const auto spec = [&mu, &provisioned_versions] {
    return FunctionSpec{
        .name = "racy",
        .handler = [](const Event&, Context& ctx) -> Result {
          const int64_t* state = ctx.instance_state<int64_t>();
          if (state == nullptr) return absl::InternalError("no instance state");
          if (*state != ctx.function_version()) {
            return absl::InternalError("instance initialised for version " +
                                       std::to_string(*state) + " runs version " +
                                       std::to_string(ctx.function_version()));
          }
          return std::to_string(ctx.function_version());
        },
        .init = [&mu, &provisioned_versions](
                    const InitContext& init) -> absl::StatusOr<std::shared_ptr<void>> {
          if (provisioning_thread) {
            {
              std::lock_guard<std::mutex> lock(mu);
              provisioned_versions.push_back(init.function_version());
            }
            // An init takes a while (a connection, a model): other updates overlap it.
            spin_for(std::chrono::microseconds(200));
          }
          return std::make_shared<int64_t>(init.function_version());
        },
        .min_instances = 1,
    };
  };
  fnhost::Host host = make_host();
  REQUIRE(host.register_function(spec()).ok());

  std::atomic<bool> updating{true};
  std::atomic<int> update_failures{0};
  std::atomic<int> mismatches{0};
  std::atomic<int> invocations{0};
  std::mutex first_mu;
  std::string first_mismatch;
  std::thread invoker([&] {
    while (updating.load()) {
      const Result& result = host.invoke("racy", {}).get();
      invocations.fetch_add(1);
      if (!result.ok()) {
        mismatches.fetch_add(1);
        std::lock_guard<std::mutex> lock(first_mu);
        if (first_mismatch.empty()) first_mismatch = describe(result);
      }
    }
  });
  std::vector<std::thread> updaters;
  for (int t = 0; t < kUpdaters; ++t) {
    updaters.emplace_back([&] {
      provisioning_thread = true;
      for (int i = 0; i < kUpdatesEach; ++i) {
        if (!host.update_function(spec()).ok()) update_failures.fetch_add(1);
      }
    });
  }
  for (std::thread& updater : updaters) updater.join();
  updating.store(false);
  invoker.join();

  CHECK(update_failures.load() == 0);
  CHECK(stats_of(host, "racy").version == kFinalVersion);
  // Afterwards, every invocation runs the last version on an instance made for it.
  for (int i = 0; i < 20; ++i) {
    const Result& result = host.invoke("racy", {}).get();
    if (!result.ok()) {
      mismatches.fetch_add(1);
      if (first_mismatch.empty()) first_mismatch = describe(result);
    } else {
      CHECK(*result == std::to_string(kFinalVersion));
    }
  }
  INFO("invocations during the updates: " << invocations.load()
                                          << "; first mismatch: " << first_mismatch);
  CHECK(mismatches.load() == 0);
  // Each update provisioned one instance, for its own, distinct version: 2..kFinalVersion.
  std::vector<int64_t> versions = provisioned_versions;
  std::sort(versions.begin(), versions.end());
  std::vector<int64_t> expected;
  for (int64_t version = 2; version <= kFinalVersion; ++version) expected.push_back(version);
  CHECK(versions == expected);
}

TEST_CASE("get on a temporary Completion moves the result instead of copying it",
          "[host][regression]") {
  constexpr std::size_t kSize = std::size_t{1} << 20;
  std::atomic<const char*> produced{nullptr};
  fnhost::Host host = make_host();
  REQUIRE(host.register_function({.name = "big",
                                  .handler = [&produced](const Event&, Context&) -> Result {
                                    std::string output(kSize, 'x');
                                    produced.store(output.data());
                                    return output;
                                  }})
              .ok());
  SECTION("host.invoke(...).get()") {
    const Result result = host.invoke("big", {}).get();
    REQUIRE(result.ok());
    CHECK(result->size() == kSize);
    CHECK(static_cast<const void*>(result->data()) == static_cast<const void*>(produced.load()));
  }
  SECTION("std::move(completion).get()") {
    Completion done = host.invoke("big", {});
    REQUIRE(done.wait_for(absl::Seconds(60)));
    const Result result = std::move(done).get();
    REQUIRE(result.ok());
    CHECK(result->size() == kSize);
    CHECK(static_cast<const void*>(result->data()) == static_cast<const void*>(produced.load()));
  }
}

TEST_CASE("a status never quotes more than a bounded prefix of a huge name", "[host][regression]") {
  constexpr std::size_t kBound = 1024;
  const std::string huge(std::size_t{1} << 20, 'n');
  fnhost::Host host = make_host();
  REQUIRE(host.register_function(fnhost::testing::echo_spec("present")).ok());
  const auto check_bounded = [&](const absl::Status& status, const char* what) {
    INFO(what << ": " << absl::StatusCodeToString(status.code()) << ", message of "
              << status.message().size() << " bytes");
    CHECK((status.code() == absl::StatusCode::kNotFound ||
           status.code() == absl::StatusCode::kInvalidArgument));
    CHECK(status.message().size() < kBound);
  };
  const Result invoked = host.invoke(huge, {}).get();
  check_bounded(invoked.status(), "invoke");
  check_bounded(host.invoke_async(huge, {}), "invoke_async");
  check_bounded(host.function_stats(huge).status(), "function_stats");
  check_bounded(host.remove_function(huge), "remove_function");
  check_bounded(host.update_function(fnhost::testing::echo_spec(huge)), "update_function");
  check_bounded(host.register_function(fnhost::testing::echo_spec(huge)), "register_function");

  const std::string enormous(std::size_t{64} << 20, 'e');
  const absl::Status registered = host.register_function(fnhost::testing::echo_spec(enormous));
  INFO("register_function with a 64 MiB name: message of " << registered.message().size()
                                                           << " bytes");
  CHECK(registered.code() == absl::StatusCode::kInvalidArgument);
  CHECK(registered.message().size() < kBound);
  CHECK(host.function_names() == std::vector<std::string>{"present"});
}

TEST_CASE("'.' and '..' are refused as function names while 'a.b' is valid", "[host][regression]") {
  fnhost::Host host = make_host();
  for (const char* name : {".", ".."}) {
    INFO("name \"" << name << "\"");
    CHECK(fnhost::validate_function_spec(fnhost::testing::echo_spec(name)).code() ==
          absl::StatusCode::kInvalidArgument);
    const absl::Status registered = host.register_function(fnhost::testing::echo_spec(name));
    INFO(registered.ToString());
    CHECK(registered.code() == absl::StatusCode::kInvalidArgument);
    CHECK_FALSE(host.has_function(name));
  }
  for (const char* name : {"a.b"}) {
    INFO("name \"" << name << "\"");
    const absl::Status registered = host.register_function(fnhost::testing::echo_spec(name));
    INFO(registered.ToString());
    CHECK(registered.ok());
    const Result echoed = host.invoke(name, Event::with_data("hi")).get();
    INFO(describe(echoed));
    CHECK((echoed.ok() && *echoed == "hi"));
  }
}

TEST_CASE("instance_state with the wrong type is null, not undefined behaviour", "[host]") {
  fnhost::Host host = fnhost::testing::make_host();
  struct Model {
    int weights = 7;
  };
  REQUIRE(host.register_function(
                  {.name = "typed",
                   .handler = [](const fnhost::Event&, fnhost::Context& ctx) -> fnhost::Result {
                     const Model* model = ctx.instance_state<Model>();
                     const std::string* wrong = ctx.instance_state<std::string>();
                     const int* also_wrong = ctx.instance_state<int>();
                     if (model == nullptr) return absl::InternalError("model missing");
                     if (wrong != nullptr || also_wrong != nullptr) {
                       return absl::InternalError("a wrong type was handed out");
                     }
                     return std::to_string(model->weights);
                   },
                   .init = [](const fnhost::InitContext&) { return std::make_shared<Model>(); }})
              .ok());
  const fnhost::Result result = host.invoke("typed", {}).get();
  INFO(fnhost::testing::describe(result));
  REQUIRE(result.ok());
  CHECK(*result == "7");
}

}  // namespace
