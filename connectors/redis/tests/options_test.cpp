// SPDX-License-Identifier: Apache-2.0
// Option validation: every bad field is InvalidArgument naming it; start() refuses what it
// cannot use.
#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

#include "fnhost/redis/stream_trigger.hpp"
#include "fnhost/redis/stream_writer.hpp"
#include "redis_fixture.hpp"
#include "testing/host_helpers.hpp"

namespace fnhost::redis {
namespace {

using fnhost::testing::message_contains;

StreamTriggerOptions good_options() {
  return {.stream = "s", .group = "g", .consumer = "c", .function = "f"};
}

TEST_CASE("bad stream trigger options are InvalidArgument naming the field", "[redis][options]") {
  REQUIRE(validate_stream_trigger_options(good_options()).ok());
  struct Case {
    std::string field;
    std::function<void(StreamTriggerOptions&)> spoil;
  };
  const std::vector<Case> cases = {
      {"server::host", [](auto& o) { o.server.host = ""; }},
      {"server::port", [](auto& o) { o.server.port = 0; }},
      {"server::port", [](auto& o) { o.server.port = 65536; }},
      {"server::io_timeout", [](auto& o) { o.server.io_timeout = absl::ZeroDuration(); }},
      {"server::password", [](auto& o) { o.server.username = "u"; }},
      {"stream", [](auto& o) { o.stream = ""; }},
      {"stream", [](auto& o) { o.stream = std::string(1025, 's'); }},
      {"group", [](auto& o) { o.group = ""; }},
      {"consumer", [](auto& o) { o.consumer = ""; }},
      {"function", [](auto& o) { o.function = ""; }},
      {"function", [](auto& o) { o.topic = "t"; }},
      {"topic", [](auto& o) { o.function = "", o.topic = "a/+/b"; }},
      {"topic", [](auto& o) { o.function = "", o.topic = "a//b"; }},
      {"group_start_id", [](auto& o) { o.group_start_id = "latest"; }},
      {"max_in_flight", [](auto& o) { o.max_in_flight = 0; }},
      {"max_in_flight", [](auto& o) { o.max_in_flight = 100'001; }},
      {"read_block", [](auto& o) { o.read_block = absl::ZeroDuration(); }},
      {"claim_idle", [](auto& o) { o.claim_idle = absl::Milliseconds(-1); }},
      {"claim_interval", [](auto& o) { o.claim_interval = absl::ZeroDuration(); }},
      {"stop_timeout", [](auto& o) { o.stop_timeout = absl::Seconds(-1); }},
      {"reconnect_backoff_initial",
       [](auto& o) { o.reconnect_backoff_initial = absl::Minutes(2); }},
      {"reconnect_backoff_initial",
       [](auto& o) { o.reconnect_backoff_initial = absl::Seconds(10); }},
      {"dead_letter_stream", [](auto& o) { o.dead_letter_stream = "s"; }},
  };
  for (const Case& bad : cases) {
    StreamTriggerOptions options = good_options();
    bad.spoil(options);
    const absl::Status status = validate_stream_trigger_options(options);
    INFO(bad.field << " -> " << status.ToString());
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(message_contains(status, "StreamTriggerOptions::" + bad.field));
  }
  StreamTriggerOptions no_reclaim = good_options();
  no_reclaim.claim_idle = absl::ZeroDuration();
  CHECK(validate_stream_trigger_options(no_reclaim).ok());
}

TEST_CASE("start refuses bad options, an unknown function and an unreachable server",
          "[redis][options]") {
  Host host = fnhost::testing::make_host();
  StreamTriggerOptions options = good_options();
  options.max_in_flight = 0;
  CHECK(StreamTrigger::start(host, options).status().code() == absl::StatusCode::kInvalidArgument);

  options = good_options();
  absl::StatusOr<std::unique_ptr<StreamTrigger>> unknown = StreamTrigger::start(host, options);
  CHECK(unknown.status().code() == absl::StatusCode::kNotFound);
  CHECK(message_contains(unknown.status(), "\"f\""));

  REQUIRE(host.register_function(fnhost::testing::echo_spec("f")).ok());
  options.server.port = testing::free_loopback_port();  // nobody listens there
  options.server.io_timeout = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<StreamTrigger>> unreachable = StreamTrigger::start(host, options);
  CHECK(unreachable.status().code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("bad stream writer options are InvalidArgument naming the field", "[redis][options]") {
  Host host = fnhost::testing::make_host();
  CHECK(message_contains(register_stream_writer(host, "w", {.stream = ""}),
                         "StreamWriterOptions::stream"));
  CHECK(message_contains(register_stream_writer(host, "w", {.stream = "s", .max_len = -1}),
                         "StreamWriterOptions::max_len"));
  CHECK(message_contains(register_stream_writer(host, "w", {.stream = "s", .max_concurrency = 0}),
                         "StreamWriterOptions::max_concurrency"));
  CHECK(message_contains(
      register_stream_writer(host, "w", {.server = {.port = 70000}, .stream = "s"}),
      "StreamWriterOptions::server::port"));
  CHECK(register_stream_writer(host, "", {.stream = "s"}).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(!host.has_function("w"));
}

}  // namespace
}  // namespace fnhost::redis
