// SPDX-License-Identifier: Apache-2.0
// HostOptions::invocation_logs: START, END and REPORT records per invocation, with Lambda's
// billed duration (whole milliseconds, rounded up), memory size, init duration on a cold start,
// CPU time and outcome.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fnhost/fnhost.hpp"
#include "observability/invocation_reports.hpp"
#include "testing/capture_log_sink.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::Event;
using fnhost::LogLevel;
using fnhost::Result;
using fnhost::detail::billed_ms;
using fnhost::detail::billed_ms_of_ns;
using fnhost::detail::report_message;
using fnhost::testing::CaptureLogSink;
using fnhost::testing::CapturedLogRecord;

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

TEST_CASE("billed duration is whole milliseconds, rounded up, at least 1", "[logs][reports]") {
  CHECK(billed_ms(absl::ZeroDuration()) == 1);
  CHECK(billed_ms(absl::Microseconds(999)) == 1);
  CHECK(billed_ms(absl::Milliseconds(2)) == 2);
  CHECK(billed_ms(absl::Microseconds(2001)) == 3);
  CHECK(billed_ms(absl::Seconds(3)) == 3000);
  CHECK(billed_ms(absl::Nanoseconds(1'000'001)) == 2);
  CHECK(billed_ms(-absl::Seconds(1)) == 1);
  CHECK(billed_ms_of_ns(999'999'999) == 1000);
  CHECK(billed_ms_of_ns(1'000'000'000) == 1000);
}

TEST_CASE("a REPORT names duration, billed duration, memory, init, CPU time and outcome",
          "[logs][reports]") {
  fnhost::FinishedInvocation finished{.function = "resize",
                                      .version = 2,
                                      .number = 7,
                                      .outcome = fnhost::InvocationOutcome::kTimeout,
                                      .duration = absl::Microseconds(12345),
                                      .cold_start = true,
                                      .init_duration = absl::Microseconds(4500),
                                      .invocation_id = "abc-1",
                                      .cpu_time = absl::Microseconds(800),
                                      .memory_mb = 256};
  CHECK(report_message(finished) ==
        "REPORT RequestId: abc-1 Duration: 12.35 ms Billed Duration: 13 ms Memory Size: 256 MB "
        "Init Duration: 4.50 ms CPU Time: 0.80 ms Outcome: timeout");
  finished.cold_start = false;
  finished.outcome = fnhost::InvocationOutcome::kSuccess;
  CHECK(report_message(finished) ==
        "REPORT RequestId: abc-1 Duration: 12.35 ms Billed Duration: 13 ms Memory Size: 256 MB "
        "CPU Time: 0.80 ms Outcome: success");
}

TEST_CASE("invocation_logs writes START, END and REPORT for every invocation that runs",
          "[logs][reports]") {
  auto sink = std::make_shared<CaptureLogSink>();
  fnhost::HostOptions options = fnhost::testing::quiet_options(4, sink);
  options.invocation_logs = true;
  fnhost::Host host = fnhost::testing::make_host(options);
  std::vector<std::string> ids;
  std::mutex ids_mu;
  REQUIRE(host.register_function(
                  {.name = "work",
                   .handler = [&](const Event& event, Context& ctx) -> Result {
                     {
                       std::lock_guard lock(ids_mu);
                       ids.push_back(ctx.invocation_id());
                     }
                     // A few milliseconds of CPU, so the REPORT's CPU time is not zero.
                     const auto until =
                         std::chrono::steady_clock::now() + std::chrono::milliseconds(3);
                     while (std::chrono::steady_clock::now() < until) {
                     }
                     if (event.data == "fail") return absl::InternalError("failed");
                     return "";
                   },
                   .memory_mb = 256})
              .ok());
  REQUIRE(host.invoke("work", {}).get().ok());
  REQUIRE_FALSE(host.invoke("work", Event::with_data("fail")).get().ok());
  REQUIRE(ids.size() == 2);
  // END and REPORT come after the caller was answered.
  const auto reports = [&] {
    return sink->count_if(
        [](const CapturedLogRecord& record) { return starts_with(record.message, "REPORT "); });
  };
  REQUIRE(fnhost::testing::wait_until([&] { return reports() == 2; }));

  const std::vector<CapturedLogRecord> records = sink->records();
  for (size_t n = 0; n < ids.size(); ++n) {
    const std::string& id = ids[n];
    std::vector<CapturedLogRecord> mine;
    for (const CapturedLogRecord& record : records) {
      if (record.invocation_id == id) mine.push_back(record);
    }
    INFO("invocation " << id);
    REQUIRE(mine.size() == 3);
    CHECK(mine[0].message == "START RequestId: " + id + " Version: 1");
    CHECK(mine[1].message == "END RequestId: " + id);
    const std::string& report = mine[2].message;
    INFO(report);
    CHECK(starts_with(report, "REPORT RequestId: " + id + " Duration: "));
    CHECK(report.find(" Memory Size: 256 MB") != std::string::npos);
    CHECK(report.find(" CPU Time: ") != std::string::npos);
    CHECK(report.find(" CPU Time: 0.00 ms") == std::string::npos);
    for (const CapturedLogRecord& record : mine) CHECK(record.function == "work");
    if (n == 0) {
      CHECK(mine[2].level == LogLevel::kInfo);
      CHECK(report.find("Outcome: success") != std::string::npos);
    } else {
      CHECK(mine[2].level == LogLevel::kWarning);
      CHECK(report.find("Outcome: error") != std::string::npos);
    }
  }
}

TEST_CASE("a cold start's REPORT carries its init duration, without invocation_logs no records",
          "[logs][reports]") {
  auto sink = std::make_shared<CaptureLogSink>();
  fnhost::HostOptions options = fnhost::testing::quiet_options(4, sink);
  options.invocation_logs = true;
  fnhost::Host host = fnhost::testing::make_host(options);
  REQUIRE(host.register_function(
                  {.name = "cold",
                   .handler = [](const Event&, Context&) -> Result { return ""; },
                   .init = [](const fnhost::InitContext&)
                       -> absl::StatusOr<fnhost::InstanceState> { return fnhost::InstanceState(); }})
              .ok());
  REQUIRE(host.invoke("cold", {}).get().ok());
  // END and REPORT come after the caller was answered.
  CHECK(fnhost::testing::wait_until([&] {
    return sink->count_if([](const CapturedLogRecord& record) {
             return starts_with(record.message, "REPORT ") &&
                    record.message.find(" Init Duration: ") != std::string::npos;
           }) == 1;
  }));

  auto quiet_sink = std::make_shared<CaptureLogSink>();
  fnhost::Host quiet = fnhost::testing::make_host(fnhost::testing::quiet_options(4, quiet_sink));
  REQUIRE(quiet.register_function({.name = "f",
                                   .handler = [](const Event&, Context&) -> Result { return ""; }})
              .ok());
  REQUIRE(quiet.invoke("f", {}).get().ok());
  CHECK(quiet_sink->size() == 0);
}

}  // namespace
