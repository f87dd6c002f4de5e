// SPDX-License-Identifier: Apache-2.0
// Tests for FunctionSpec: validation (validate_function_spec, register_function,
// update_function), provisioned instances (min_instances) and what init sees.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/function.hpp"
#include "fnhost/host.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::Event;
using fnhost::FunctionSpec;
using fnhost::Result;
using fnhost::testing::code_of;
using fnhost::testing::message_contains;
using fnhost::testing::describe;
using fnhost::testing::echo_spec;
using fnhost::testing::make_host;
using fnhost::testing::message_of;
using fnhost::testing::stats_of;

// One invalid spec and the field its rejection must name.
struct InvalidCase {
  std::string label;
  std::string field;
  FunctionSpec spec;
};

FunctionSpec valid_spec(std::string name = "valid") { return echo_spec(std::move(name)); }

InvalidCase invalid_case(int index) {
  FunctionSpec spec = valid_spec();
  switch (index) {
    case 0:
      spec.name = "";
      return {"empty name", "name", spec};
    case 1:
      spec.name = std::string(129, 'a');
      return {"name of 129 characters", "name", spec};
    case 2:
      spec.name = "has space";
      return {"name with a space", "name", spec};
    case 3:
      spec.name = "a/b";
      return {"name with a slash", "name", spec};
    case 4:
      spec.name = "caf\xc3\xa9";
      return {"name with a non-ASCII character", "name", spec};
    case 5:
      spec.handler = nullptr;
      return {"missing handler", "handler", spec};
    case 6:
      spec.timeout = absl::ZeroDuration();
      return {"zero timeout", "timeout", spec};
    case 7:
      spec.timeout = absl::Seconds(-1);
      return {"negative timeout", "timeout", spec};
    case 8:
      spec.timeout = absl::Hours(1) + absl::Milliseconds(1);
      return {"timeout over one hour", "timeout", spec};
    case 9:
      spec.max_concurrency = -1;
      return {"negative max_concurrency", "max_concurrency", spec};
    case 10:
      spec.max_queued = -1;
      return {"negative max_queued", "max_queued", spec};
    case 11:
      spec.min_instances = -1;
      return {"negative min_instances", "min_instances", spec};
    case 12:
      spec.max_concurrency = 2;
      spec.min_instances = 3;
      return {"min_instances above max_concurrency", "min_instances", spec};
    case 13:
      spec.memory_mb = 0;
      return {"memory_mb of 0", "memory_mb", spec};
    case 14:
      spec.memory_mb = 65537;
      return {"memory_mb over 65536", "memory_mb", spec};
    default:
      spec.memory_mb = -128;
      return {"negative memory_mb", "memory_mb", spec};
  }
}

constexpr int kInvalidCases = 16;

TEST_CASE("validate_function_spec accepts a minimal spec and the boundary values",
          "[function_spec]") {
  FunctionSpec spec = valid_spec();
  SECTION("minimal") {}
  SECTION("name of 128 characters") { spec.name = std::string(128, 'x'); }
  SECTION("name using every allowed character class") { spec.name = "Az09_.-"; }
  SECTION("one-character name") { spec.name = "f"; }
  SECTION("timeout of exactly one hour") { spec.timeout = absl::Hours(1); }
  SECTION("timeout of one nanosecond") { spec.timeout = absl::Nanoseconds(1); }
  SECTION("memory_mb at both ends") {
    spec.memory_mb = 1;
    CHECK(fnhost::validate_function_spec(spec).ok());
    spec.memory_mb = 65536;
  }
  SECTION("min_instances equal to max_concurrency") {
    spec.max_concurrency = 3;
    spec.min_instances = 3;
  }
  SECTION("min_instances without a concurrency limit") { spec.min_instances = 5; }
  SECTION("max_queued with a concurrency limit") {
    spec.max_concurrency = 1;
    spec.max_queued = 10;
  }
  absl::Status status = fnhost::validate_function_spec(spec);
  INFO(status.ToString());
  CHECK(status.ok());
}

TEST_CASE("validate_function_spec rejects each bad field with InvalidArgument naming it",
          "[function_spec]") {
  const int index = GENERATE(range(0, kInvalidCases));
  InvalidCase bad = invalid_case(index);
  INFO(bad.label);
  absl::Status status = fnhost::validate_function_spec(bad.spec);
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(message_contains(status, bad.field));
}

TEST_CASE("register_function rejects each bad field with InvalidArgument and registers nothing",
          "[function_spec]") {
  const int index = GENERATE(range(0, kInvalidCases));
  InvalidCase bad = invalid_case(index);
  INFO(bad.label);
  fnhost::Host host = make_host();
  const std::string name = bad.spec.name;
  absl::Status status = host.register_function(std::move(bad.spec));
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(message_contains(status, bad.field));
  CHECK(host.function_names().empty());
  if (!name.empty()) CHECK_FALSE(host.has_function(name));
}

TEST_CASE("update_function rejects a bad spec and the old version keeps serving",
          "[function_spec]") {
  // Index 0..4 change the name (the update would then target another function); use the
  // field checks that keep the name "valid".
  const int index = GENERATE(range(5, kInvalidCases));
  InvalidCase bad = invalid_case(index);
  INFO(bad.label);
  fnhost::Host host = make_host();
  REQUIRE(host.register_function(fnhost::testing::constant_spec("valid", "v1")).ok());
  absl::Status status = host.update_function(std::move(bad.spec));
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(message_contains(status, bad.field));
  CHECK(stats_of(host, "valid").version == 1);
  const Result& result = host.invoke("valid", {}).get();
  INFO(describe(result));
  REQUIRE(result.ok());
  CHECK(*result == "v1");
}

TEST_CASE("registering a duplicate name returns AlreadyExists", "[function_spec]") {
  fnhost::Host host = make_host();
  REQUIRE(host.register_function(valid_spec("same")).ok());
  CHECK(host.register_function(valid_spec("same")).code() == absl::StatusCode::kAlreadyExists);
}

TEST_CASE("min_instances initialises instances inside register_function", "[function_spec]") {
  std::atomic<int> inits{0};
  std::atomic<int> cold_invocations{0};
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({
                  .name = "provisioned",
                  .handler = [&cold_invocations](const Event&, Context& ctx) -> Result {
                    if (ctx.is_cold_start()) cold_invocations.fetch_add(1);
                    return "warm";
                  },
                  .init = [&inits](const fnhost::InitContext&)
                      -> absl::StatusOr<std::shared_ptr<void>> {
                    inits.fetch_add(1);
                    return std::make_shared<int>(7);
                  },
                  .max_concurrency = 4,
                  .min_instances = 2,
              })
              .ok());
  // The inits ran on the registering thread, before register_function returned.
  CHECK(inits.load() == 2);
  fnhost::FunctionStats before = stats_of(host, "provisioned");
  CHECK(before.instances == 2);
  CHECK(before.cold_starts == 0);

  for (int i = 0; i < 2; ++i) {
    const Result& result = host.invoke("provisioned", {}).get();
    INFO(describe(result));
    REQUIRE(result.ok());
  }
  CHECK(cold_invocations.load() == 0);
  CHECK(inits.load() == 2);
  fnhost::FunctionStats after = stats_of(host, "provisioned");
  CHECK(after.cold_starts == 0);
  CHECK(after.instances == 2);
}

TEST_CASE("a failing init during register_function returns Internal and registers nothing",
          "[function_spec]") {
  std::atomic<int> inits{0};
  fnhost::Host host = make_host();
  absl::Status status = host.register_function({
      .name = "broken",
      .handler = fnhost::testing::echo_handler(),
      .init = [&inits](const fnhost::InitContext&) -> absl::StatusOr<std::shared_ptr<void>> {
        // The first provisioned instance succeeds, the second fails.
        if (inits.fetch_add(1) == 0) return std::make_shared<int>(1);
        return absl::UnavailableError("database unreachable");
      },
      .min_instances = 2,
  });
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kInternal);
  CHECK(message_contains(status, "database unreachable"));
  CHECK_FALSE(host.has_function("broken"));
  CHECK(host.function_stats("broken").status().code() == absl::StatusCode::kNotFound);
  CHECK(code_of(host.invoke("broken", {}).get()) == absl::StatusCode::kNotFound);
  // The name is free again.
  CHECK(host.register_function(valid_spec("broken")).ok());
}

TEST_CASE("init sees the function name, version and environment", "[function_spec]") {
  struct Seen {
    std::string name;
    int64_t version = 0;
    std::string region;
    bool missing_is_nullopt = false;
  };
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({
                  .name = "configured",
                  .handler = [](const Event&, Context& ctx) -> Result {
                    const Seen* seen = ctx.instance_state<Seen>();
                    if (seen == nullptr) return absl::InternalError("no instance state");
                    return seen->name + "|" + std::to_string(seen->version) + "|" + seen->region +
                           "|" + (seen->missing_is_nullopt ? "nullopt" : "set");
                  },
                  .init = [](const fnhost::InitContext& init)
                      -> absl::StatusOr<std::shared_ptr<void>> {
                    auto seen = std::make_shared<Seen>();
                    seen->name = std::string(init.function_name());
                    seen->version = init.function_version();
                    seen->region = std::string(init.env("REGION").value_or("<none>"));
                    seen->missing_is_nullopt = !init.env("MISSING").has_value();
                    return seen;
                  },
                  .env = {{"REGION", "eu-west-1"}},
              })
              .ok());
  const Result& result = host.invoke("configured", {}).get();
  INFO(describe(result));
  REQUIRE(result.ok());
  CHECK(*result == "configured|1|eu-west-1|nullopt");
}

TEST_CASE("the spec's memory_mb and env reach the handler's Context", "[function_spec]") {
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({
                  .name = "ctx",
                  .handler = [](const Event&, Context& ctx) -> Result {
                    return std::to_string(ctx.memory_mb()) + "|" +
                           std::string(ctx.env("K").value_or("<none>")) + "|" +
                           (ctx.env("NOPE").has_value() ? "set" : "nullopt");
                  },
                  .memory_mb = 512,
                  .env = {{"K", "value with spaces"}},
              })
              .ok());
  const Result& result = host.invoke("ctx", {}).get();
  INFO(describe(result));
  REQUIRE(result.ok());
  CHECK(*result == "512|value with spaces|nullopt");
  CHECK(message_of(result).empty());
}

}  // namespace
