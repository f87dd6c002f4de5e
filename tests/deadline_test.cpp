// SPDX-License-Identifier: Apache-2.0
// Regression tests for deadlines: a handler that returns after its deadline has timed out, even
// when it returns before the timer thread got round to firing; one that returns well before it
// never has.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <string>
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
using fnhost::Result;
using fnhost::testing::code_of;
using fnhost::testing::describe;
using fnhost::testing::make_host;
using fnhost::testing::quiet_options;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;
using fnhost::testing::blocking_tasks::spin_for;

constexpr int kInvocations = 300;
constexpr int kConcurrent = 4;

// Runs kInvocations synchronous invocations of `name`, kConcurrent at a time, and counts the
// answers by code.
struct Answers {
  int ok = 0;
  int deadline_exceeded = 0;
  int other = 0;
  std::string first_unexpected;
};

Answers invoke_all(fnhost::Host& host, const std::string& name, absl::StatusCode expected) {
  Answers answers;
  for (int sent = 0; sent < kInvocations; sent += kConcurrent) {
    std::vector<Completion> wave;
    for (int i = 0; i < kConcurrent && sent + i < kInvocations; ++i) {
      wave.push_back(host.invoke(name, {}));
    }
    for (const Completion& done : wave) {
      const Result& result = done.get();
      if (result.ok()) {
        ++answers.ok;
      } else if (code_of(result) == absl::StatusCode::kDeadlineExceeded) {
        ++answers.deadline_exceeded;
      } else {
        ++answers.other;
      }
      const absl::StatusCode code = result.ok() ? absl::StatusCode::kOk : code_of(result);
      if (code != expected && answers.first_unexpected.empty()) {
        answers.first_unexpected = describe(result);
      }
    }
  }
  return answers;
}

TEST_CASE("a handler that returns after its 1 ms deadline is answered DeadlineExceeded",
          "[deadline][regression][stress]") {
  // Busy, not sleeping: the handler never notices its cancellation and returns a value late.
  const int busy_us = GENERATE(1500, 3000);
  INFO("handler busy for " << busy_us << " us, timeout 1 ms");
  fnhost::Host host = make_host(quiet_options(8));
  REQUIRE(host.register_function({.name = "late",
                                  .handler = [busy_us](const Event&, Context&) -> Result {
                                    spin_for(std::chrono::microseconds(busy_us));
                                    return "too late";
                                  },
                                  .timeout = absl::Milliseconds(1)})
              .ok());
  const Answers answers = invoke_all(host, "late", absl::StatusCode::kDeadlineExceeded);
  INFO("first unexpected answer: " << answers.first_unexpected);
  CHECK(answers.deadline_exceeded == kInvocations);
  CHECK(answers.ok == 0);
  CHECK(answers.other == 0);
  REQUIRE(wait_until([&] { return stats_of(host, "late").in_flight == 0; }));
  const fnhost::FunctionStats stats = stats_of(host, "late");
  INFO(describe(stats));
  CHECK(stats.successes == 0);
  CHECK(stats.timeouts == kInvocations);
  CHECK(stats.errors == 0);
}

TEST_CASE("a handler that returns well before its deadline is never reported as a timeout",
          "[deadline][regression]") {
  fnhost::Host host = make_host(quiet_options(8));
  REQUIRE(host.register_function({.name = "prompt",
                                  .handler = [](const Event&, Context&) -> Result {
                                    spin_for(std::chrono::microseconds(100));
                                    return "in time";
                                  },
                                  .timeout = absl::Seconds(10)})
              .ok());
  const Answers answers = invoke_all(host, "prompt", absl::StatusCode::kOk);
  INFO("first unexpected answer: " << answers.first_unexpected);
  CHECK(answers.ok == kInvocations);
  CHECK(answers.deadline_exceeded == 0);
  REQUIRE(wait_until([&] { return stats_of(host, "prompt").successes == kInvocations; }));
  const fnhost::FunctionStats stats = stats_of(host, "prompt");
  INFO(describe(stats));
  CHECK(stats.timeouts == 0);
  CHECK(stats.late_results == 0);
}

}  // namespace
