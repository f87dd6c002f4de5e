// SPDX-License-Identifier: Apache-2.0
// InvocationObserver: every invocation is reported admitted or refused, and every admitted one
// finishes exactly once with the outcome its caller saw.
#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/fnhost.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::Event;
using fnhost::FunctionSpec;
using fnhost::InvocationOutcome;
using fnhost::Result;
using namespace fnhost::testing;

class CountingObserver final : public fnhost::InvocationObserver {
 public:
  void on_admitted(const fnhost::AdmittedInvocation&) override { admitted.fetch_add(1); }
  void on_refused(const fnhost::RefusedInvocation& refused) override {
    std::lock_guard<std::mutex> lock(mu);
    ++refusals[refused.code];
  }
  void on_started(const fnhost::StartedInvocation& started) override {
    started_count.fetch_add(1);
    if (started.queue_wait < absl::ZeroDuration()) negative_waits.fetch_add(1);
  }
  void on_finished(const fnhost::FinishedInvocation& finished) override {
    std::lock_guard<std::mutex> lock(mu);
    ++outcomes[finished.outcome];
    if (finished.cold_start) ++cold_starts;
  }
  int outcome(InvocationOutcome outcome) {
    std::lock_guard<std::mutex> lock(mu);
    return outcomes[outcome];
  }
  int finished_total() {
    std::lock_guard<std::mutex> lock(mu);
    int total = 0;
    for (const auto& [outcome, count] : outcomes) total += count;
    return total;
  }

  std::atomic<int> admitted{0};
  std::atomic<int> started_count{0};
  std::atomic<int> negative_waits{0};
  std::mutex mu;
  std::map<absl::StatusCode, int> refusals;
  std::map<InvocationOutcome, int> outcomes;
  int cold_starts = 0;
};

TEST_CASE("an observer sees every invocation admitted or refused and finished with its outcome",
          "[observer]") {
  auto observer = std::make_shared<CountingObserver>();
  fnhost::HostOptions options = quiet_options();
  options.observers.push_back(observer);
  fnhost::Host host = make_host(std::move(options));
  REQUIRE(host.register_function(echo_spec("ok")).ok());
  REQUIRE(host.register_function({.name = "fails",
                                  .handler = [](const Event&, Context&) -> Result {
                                    return absl::InternalError("no");
                                  }})
              .ok());
  REQUIRE(host.register_function({.name = "slow",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    ctx.sleep_for(absl::InfiniteDuration());
                                    return std::string("late");
                                  },
                                  .timeout = absl::Milliseconds(20)})
              .ok());

  for (int i = 0; i < 10; ++i) REQUIRE(host.invoke("ok", Event::with_data("x")).get().ok());
  REQUIRE(code_of(host.invoke("fails", {}).get()) == absl::StatusCode::kInternal);
  REQUIRE(code_of(host.invoke("slow", {}).get()) == absl::StatusCode::kDeadlineExceeded);
  REQUIRE(code_of(host.invoke("missing", {}).get()) == absl::StatusCode::kNotFound);
  REQUIRE(host.invoke_async("", {}).code() == absl::StatusCode::kInvalidArgument);

  REQUIRE(wait_until([&] { return observer->finished_total() == 12; }));
  CHECK(observer->admitted.load() == 12);
  CHECK(observer->started_count.load() == 12);
  CHECK(observer->negative_waits.load() == 0);
  CHECK(observer->outcome(InvocationOutcome::kSuccess) == 10);
  CHECK(observer->outcome(InvocationOutcome::kError) == 1);
  CHECK(observer->outcome(InvocationOutcome::kTimeout) == 1);
  std::lock_guard<std::mutex> lock(observer->mu);
  CHECK(observer->refusals[absl::StatusCode::kNotFound] == 1);
  CHECK(observer->refusals[absl::StatusCode::kInvalidArgument] == 1);
  CHECK(observer->cold_starts >= 3);
}

TEST_CASE("an observer sees queued invocations dropped and running ones cancelled by shutdown",
          "[observer]") {
  auto observer = std::make_shared<CountingObserver>();
  auto gate = std::make_shared<Gate>();
  fnhost::HostOptions options = quiet_options();
  options.observers.push_back(observer);
  fnhost::Host host = make_host(std::move(options));
  GateOpener opener(gate);
  std::atomic<int> started{0};
  REQUIRE(host.register_function(
                  {.name = "held", .handler = gated_handler(gate, started), .max_concurrency = 1})
              .ok());
  for (int i = 0; i < 5; ++i) REQUIRE(host.invoke_async("held", {}).ok());
  REQUIRE(wait_until([&] { return started.load() == 1; }));

  const fnhost::ShutdownReport report = host.shutdown(absl::ZeroDuration());
  CHECK(report.dropped == 4);
  CHECK(report.unfinished == 1);
  CHECK(observer->outcome(InvocationOutcome::kDropped) == 4);
  gate->open();
  // The cancelled one is reported when its handler returns.
  REQUIRE(wait_until([&] { return observer->outcome(InvocationOutcome::kCancelled) == 1; }));
  CHECK(observer->refusals.empty());
}

TEST_CASE("an observer that throws does not disturb invocations", "[observer]") {
  struct Throwing final : fnhost::InvocationObserver {
    void on_admitted(const fnhost::AdmittedInvocation&) override { throw std::runtime_error("a"); }
    void on_started(const fnhost::StartedInvocation&) override { throw 42; }
    void on_finished(const fnhost::FinishedInvocation&) override { throw std::runtime_error("f"); }
  };
  fnhost::HostOptions options = quiet_options();
  options.observers.push_back(std::make_shared<Throwing>());
  fnhost::Host host = make_host(std::move(options));
  REQUIRE(host.register_function(echo_spec("ok")).ok());
  for (int i = 0; i < 20; ++i) {
    const Result result = host.invoke("ok", Event::with_data("x")).get();
    REQUIRE(result.ok());
    CHECK(*result == "x");
  }
}

}  // namespace
