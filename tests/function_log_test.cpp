// SPDX-License-Identifier: Apache-2.0
// Context::log(): fmt-formatted records with the function and invocation id, filtered by
// FunctionSpec::log_level before formatting; secret env values redacted from every record of
// the function, the host's own included.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fnhost/fnhost.hpp"
#include "observability/redaction.hpp"
#include "testing/capture_log_sink.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::Event;
using fnhost::LogLevel;
using fnhost::Result;
using fnhost::testing::CaptureLogSink;
using fnhost::testing::CapturedLogRecord;
using fnhost::testing::wait_until;

fnhost::Host host_logging_to(const std::shared_ptr<CaptureLogSink>& sink) {
  return fnhost::testing::make_host(fnhost::testing::quiet_options(4, sink));
}

// Counts how often it is formatted: a record dropped by its level must not format its arguments.
struct Counted {
  std::atomic<int>* formatted;
};

}  // namespace

template <>
struct fmt::formatter<Counted> : fmt::formatter<std::string_view> {
  auto format(const Counted& counted, fmt::format_context& ctx) const {
    counted.formatted->fetch_add(1);
    return fmt::formatter<std::string_view>::format("counted", ctx);
  }
};

namespace {

TEST_CASE("ctx.log() formats a record with the function and the invocation id", "[logs]") {
  auto sink = std::make_shared<CaptureLogSink>();
  fnhost::Host host = host_logging_to(sink);
  std::string id;
  REQUIRE(host.register_function({.name = "resize",
                                  .handler = [&id](const Event& event, Context& ctx) -> Result {
                                    id = ctx.invocation_id();
                                    ctx.log().info("resized {} to {}x{}", event.data, 64, 32);
                                    ctx.log().warning("{} is large", event.data);
                                    return "";
                                  }})
              .ok());
  REQUIRE(host.invoke("resize", Event::with_data("cat.png")).get().ok());
  REQUIRE(host.flush_telemetry());
  const std::vector<CapturedLogRecord> records = sink->records();
  REQUIRE(records.size() == 2);
  CHECK(records[0].level == LogLevel::kInfo);
  CHECK(records[0].function == "resize");
  CHECK(records[0].invocation_id == id);
  CHECK(records[0].message == "resized cat.png to 64x32");
  CHECK(records[1].level == LogLevel::kWarning);
  CHECK(records[1].message == "cat.png is large");
}

TEST_CASE("log_level drops lower records before formatting them", "[logs]") {
  auto sink = std::make_shared<CaptureLogSink>();
  fnhost::Host host = host_logging_to(sink);
  std::atomic<int> formatted{0};
  std::atomic<int> enabled_debug{-1};
  REQUIRE(host.register_function({.name = "quiet",
                                  .handler = [&](const Event&, Context& ctx) -> Result {
                                    enabled_debug = ctx.log().enabled(LogLevel::kDebug) ? 1 : 0;
                                    ctx.log().debug("{}", Counted{&formatted});
                                    ctx.log().info("{}", Counted{&formatted});
                                    ctx.log().warning("{}", Counted{&formatted});
                                    ctx.log().error("{}", Counted{&formatted});
                                    ctx.log().write(LogLevel::kInfo, "not written");
                                    return "";
                                  },
                                  .log_level = LogLevel::kWarning})
              .ok());
  REQUIRE(host.invoke("quiet", {}).get().ok());
  CHECK(enabled_debug.load() == 0);
  CHECK(formatted.load() == 2);
  REQUIRE(host.flush_telemetry());
  const std::vector<CapturedLogRecord> records = sink->records();
  REQUIRE(records.size() == 2);
  CHECK(records[0].level == LogLevel::kWarning);
  CHECK(records[1].level == LogLevel::kError);
  CHECK(records[1].message == "counted");

  // Debug enabled: all four (the default level is info).
  REQUIRE(host.register_function({.name = "chatty",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    ctx.log().debug("d");
                                    ctx.log().info("i");
                                    return "";
                                  },
                                  .log_level = LogLevel::kDebug})
              .ok());
  REQUIRE(host.invoke("chatty", {}).get().ok());
  REQUIRE(host.flush_telemetry());
  CHECK(sink->count_if([](const CapturedLogRecord& r) { return r.function == "chatty"; }) == 2);
}

TEST_CASE("secret env values are redacted from the function's records, the host's too",
          "[logs]") {
  auto sink = std::make_shared<CaptureLogSink>();
  fnhost::Host host = host_logging_to(sink);
  REQUIRE(host.register_function(
                  {.name = "billing",
                   .handler = [](const Event&, Context& ctx) -> Result {
                     const std::string key(*ctx.env("API_KEY"));
                     ctx.log().info("calling with key={} user={}", key, *ctx.env("USER"));
                     return absl::InternalError("upstream refused key " + key);
                   },
                   .env = {{"API_KEY", "sk-live-1234"}, {"USER", "alice"}, {"TOKEN", "sk-live"}},
                   .retry = {.max_attempts = 1},
                   .secret_env = {"API_KEY", "TOKEN"}})
              .ok());
  REQUIRE(host.invoke_async("billing", {}).ok());
  // The handler's record, and the host's record of the failed attempt.
  REQUIRE(wait_until([&] {
    return sink->any([](const CapturedLogRecord& record) {
      return record.message.find("upstream refused key") != std::string::npos;
    });
  }));
  REQUIRE(wait_until(
      [&] { return fnhost::testing::stats_of(host, "billing").events_dead_lettered == 1; }));
  REQUIRE(host.flush_telemetry());
  bool saw_handler_record = false;
  bool saw_failure_record = false;
  for (const CapturedLogRecord& record : sink->records()) {
    INFO(record.message);
    CHECK(record.message.find("sk-live") == std::string::npos);
    if (record.message == "calling with key=[redacted] user=alice") saw_handler_record = true;
    if (record.message.find("upstream refused key [redacted]") != std::string::npos) {
      saw_failure_record = true;
    }
  }
  CHECK(saw_handler_record);
  CHECK(saw_failure_record);
}

TEST_CASE("redact replaces whole secrets, longest first, and never inside its marker",
          "[logs]") {
  using fnhost::detail::redact;
  const std::vector<std::string> secrets = {"abcdef", "abc", "red"};  // longest first
  CHECK(redact("x abcdef y abc z", secrets) == "x [redacted] y [redacted] z");
  CHECK(redact("abcabc", secrets) == "[redacted][redacted]");
  CHECK(redact("no secret here", secrets) == "no secret here");
  CHECK(redact("", secrets).empty());
  CHECK(redact("bored", secrets) == "bo[redacted]");
  fnhost::FunctionSpec spec{.env = {{"A", "short"}, {"B", "longer one"}, {"C", ""}}};
  spec.secret_env = {"A", "B", "C"};
  const auto values = fnhost::detail::secret_values(spec);
  REQUIRE(values != nullptr);
  CHECK(*values == std::vector<std::string>{"longer one", "short"});  // empty C skipped
}

TEST_CASE("secret_env must name keys env sets, log_level must be a LogLevel", "[logs]") {
  fnhost::Host host = fnhost::testing::make_host();
  const auto noop = [](const Event&, Context&) -> Result { return ""; };
  absl::Status missing = host.register_function(
      {.name = "f", .handler = noop, .env = {{"A", "1"}}, .secret_env = {"B"}});
  CHECK(missing.code() == absl::StatusCode::kInvalidArgument);
  CHECK(fnhost::testing::message_contains(missing, "secret_env names \"B\""));
  absl::Status level = host.register_function(
      {.name = "g", .handler = noop, .log_level = static_cast<LogLevel>(7)});
  CHECK(level.code() == absl::StatusCode::kInvalidArgument);
  CHECK(fnhost::testing::message_contains(level, "log_level"));
}

}  // namespace
