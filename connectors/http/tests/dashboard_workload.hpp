// SPDX-License-Identifier: Apache-2.0
// Functions with known numbers for the dashboard tests, on a gateway whose executor has just
// scaled up and down (so the thread chart has a shape):
//   greet   5 invocations, all succeed
//   flaky   4 invocations, 3 errors
//   sleepy  1 invocation past its 50 ms deadline: 1 timeout
//   held    max_concurrency 1, max_queued 2: 1 running (held at a gate), 2 queued, 1 throttled
//   burst   24 asynchronous invocations that each block 20 ms, all succeed
//   idle    registered, never invoked (no percentiles yet)
// While the workload lives, `held` keeps one worker busy and two invocations queued; release()
// lets them finish (the destructor does too).
#pragma once

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "fnhost/host.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace fnhost::http::testing {

struct DashboardWorkload {
  explicit DashboardWorkload(Host& host) : host_(host) {
    register_functions();
    for (int i = 0; i < 5; ++i) REQUIRE(host.invoke("greet", Event::with_data("x")).get().ok());
    for (const char* data : {"fail", "ok", "fail", "fail"}) {
      (void)host.invoke("flaky", Event::with_data(data)).get();
    }
    CHECK(host.invoke("sleepy", Event::with_data("x")).get().status().code() ==
          absl::StatusCode::kDeadlineExceeded);
    for (int i = 0; i < 24; ++i) REQUIRE(host.invoke_async("burst", Event::with_data("x")).ok());

    held_.push_back(host.invoke("held", Event::with_data("x")));
    REQUIRE(fnhost::testing::wait_until([&] { return held_started_.load() == 1; }));
    for (int i = 0; i < 2; ++i) held_.push_back(host.invoke("held", Event::with_data("x")));
    REQUIRE(fnhost::testing::wait_until(
        [&] { return fnhost::testing::stats_of(host, "held").queued == 2; }));
    Completion throttled = host.invoke("held", Event::with_data("x"));
    REQUIRE(throttled.is_ready());
    CHECK(throttled.get().status().code() == absl::StatusCode::kResourceExhausted);

    // Settled: nothing but `held` runs or waits, so every number stays put until release().
    REQUIRE(fnhost::testing::wait_until([&] {
      return fnhost::testing::stats_of(host, "burst").events_succeeded == 24 &&
             fnhost::testing::stats_of(host, "sleepy").in_flight == 0;
    }));
  }

  DashboardWorkload(const DashboardWorkload&) = delete;
  DashboardWorkload& operator=(const DashboardWorkload&) = delete;
  ~DashboardWorkload() { release(); }

  // Lets `held` finish its three invocations.
  void release() {
    gate_->open();
    for (Completion& completion : held_) (void)completion.wait_for(absl::Seconds(60));
    held_.clear();
  }

 private:
  void register_functions() {
    auto handler = [](std::string output) {
      return [output](const Event&, Context&) -> Result { return output; };
    };
    REQUIRE(host_.register_function({.name = "greet", .handler = handler("hello")}).ok());
    REQUIRE(host_
                .register_function({.name = "flaky",
                                    .handler = [](const Event& event, Context&) -> Result {
                                      if (event.data == "fail") {
                                        return absl::InternalError("flaky failed");
                                      }
                                      return std::string("ok");
                                    }})
                .ok());
    REQUIRE(host_
                .register_function({.name = "sleepy",
                                    .handler = [](const Event&, Context& context) -> Result {
                                      context.sleep_for(absl::Seconds(60));
                                      return std::string("late");
                                    },
                                    .timeout = absl::Milliseconds(50)})
                .ok());
    REQUIRE(host_
                .register_function({.name = "burst",
                                    .handler = [](const Event&, Context& context) -> Result {
                                      context.sleep_for(absl::Milliseconds(20));
                                      return std::string();
                                    }})
                .ok());
    REQUIRE(host_
                .register_function(
                    {.name = "held",
                     .handler = fnhost::testing::gated_handler(gate_, held_started_, "done"),
                     .timeout = absl::Seconds(120),
                     .max_concurrency = 1,
                     .max_queued = 2})
                .ok());
    REQUIRE(host_.register_function({.name = "idle", .handler = handler("")}).ok());
  }

  Host& host_;
  std::shared_ptr<fnhost::testing::Gate> gate_ = std::make_shared<fnhost::testing::Gate>();
  std::atomic<int> held_started_{0};
  std::vector<Completion> held_;
};

}  // namespace fnhost::http::testing
