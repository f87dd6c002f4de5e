// SPDX-License-Identifier: Apache-2.0
// Option validation (InvalidArgument naming the field), filter rules, start() refusals, and the
// reconnect backoff's bounds.
#include <catch2/catch.hpp>
#include <string>

#include "broker_fixture.hpp"
#include "fnhost/mqtt/connector.hpp"
#include "fnhost/mqtt/publisher.hpp"
#include "reconnect_backoff.hpp"
#include "testing/host_helpers.hpp"
#include "topic_filters.hpp"

namespace fnhost::mqtt::testing {
namespace {

using fnhost::testing::message_contains;

ConnectorOptions valid_options() {
  return {.broker = {.client_id = "c1"}, .subscriptions = {{.filter = "a/#", .qos = 1}}};
}

TEST_CASE("validate_connector_options names the bad field", "[mqtt][options]") {
  CHECK(validate_connector_options(valid_options()).ok());
  struct Case {
    std::function<void(ConnectorOptions&)> change;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](ConnectorOptions& o) { o.broker.client_id = ""; }, "broker.client_id"},
      {[](ConnectorOptions& o) { o.broker.client_id = "has space"; }, "broker.client_id"},
      {[](ConnectorOptions& o) { o.broker.client_id = std::string(129, 'c'); }, "broker.client_id"},
      {[](ConnectorOptions& o) { o.broker.port = 0; }, "broker.port"},
      {[](ConnectorOptions& o) { o.broker.port = 65536; }, "broker.port"},
      {[](ConnectorOptions& o) { o.broker.host = ""; }, "broker.host"},
      {[](ConnectorOptions& o) { o.broker.password = "p"; }, "broker.password"},
      {[](ConnectorOptions& o) { o.broker.keep_alive = absl::Milliseconds(1500); },
       "broker.keep_alive"},
      {[](ConnectorOptions& o) { o.broker.keep_alive = absl::ZeroDuration(); },
       "broker.keep_alive"},
      {[](ConnectorOptions& o) { o.broker.connect_timeout = absl::ZeroDuration(); },
       "broker.connect_timeout"},
      {[](ConnectorOptions& o) { o.broker.max_packet_bytes = 10; }, "broker.max_packet_bytes"},
      {[](ConnectorOptions& o) { o.subscriptions.clear(); }, "subscriptions"},
      {[](ConnectorOptions& o) { o.subscriptions[0].filter = "a/#/b"; }, "subscriptions[0].filter"},
      {[](ConnectorOptions& o) { o.subscriptions[0].filter = "a//b"; }, "subscriptions[0].filter"},
      {[](ConnectorOptions& o) { o.subscriptions[0].filter = "a+/b"; }, "subscriptions[0].filter"},
      {[](ConnectorOptions& o) { o.subscriptions[0].filter = ""; }, "subscriptions[0].filter"},
      {[](ConnectorOptions& o) { o.subscriptions[0].filter = "$share/g"; },
       "subscriptions[0].filter"},
      {[](ConnectorOptions& o) { o.subscriptions[0].filter = "$share//a"; },
       "subscriptions[0].filter"},
      {[](ConnectorOptions& o) { o.subscriptions[0].filter = "$share/g+/a"; },
       "subscriptions[0].filter"},
      {[](ConnectorOptions& o) { o.subscriptions[0].qos = 2; }, "subscriptions[0].qos"},
      {[](ConnectorOptions& o) { o.subscriptions.push_back({.filter = "a/b/+"}); },
       "subscriptions[1].filter"},
      {[](ConnectorOptions& o) { o.subscriptions.push_back({.filter = "$share/g/a"}); },
       "subscriptions[1].filter"},
      {[](ConnectorOptions& o) { o.max_in_flight = 0; }, "max_in_flight"},
      {[](ConnectorOptions& o) { o.max_in_flight = 65536; }, "max_in_flight"},
      {[](ConnectorOptions& o) { o.initial_reconnect_delay = absl::ZeroDuration(); },
       "initial_reconnect_delay"},
      {[](ConnectorOptions& o) { o.initial_reconnect_delay = absl::Hours(2); },
       "initial_reconnect_delay"},
      {[](ConnectorOptions& o) { o.max_reconnect_delay = absl::Hours(2); }, "max_reconnect_delay"},
      {[](ConnectorOptions& o) { o.stop_timeout = absl::Seconds(-1); }, "stop_timeout"},
  };
  for (const Case& bad : cases) {
    ConnectorOptions options = valid_options();
    bad.change(options);
    absl::Status status = validate_connector_options(options);
    INFO(bad.field << " -> " << status.ToString());
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(message_contains(status, "ConnectorOptions::" + bad.field));
  }
}

TEST_CASE("validate_publisher_options names the bad field", "[mqtt][options]") {
  CHECK(validate_publisher_options({}).ok());
  const std::vector<std::pair<PublisherOptions, std::string>> cases = {
      {{.topic = "a/+"}, "topic"},
      {{.topic_prefix = "a/#"}, "topic_prefix"},
      {{.qos = 2}, "qos"},
      {{.ack_timeout = absl::ZeroDuration()}, "ack_timeout"},
      {{.retry = {.max_attempts = 0}}, "retry"},
      {{.timeout = absl::ZeroDuration()}, "timeout"},
      {{.broker = {.port = -1}}, "broker.port"},
  };
  for (const auto& [options, field] : cases) {
    absl::Status status = validate_publisher_options(options);
    INFO(field << " -> " << status.ToString());
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(message_contains(status, "PublisherOptions::" + field));
  }
}

TEST_CASE("Filters overlap when some topic matches both", "[mqtt][options]") {
  CHECK(detail::patterns_overlap("a/b", "a/b"));
  CHECK(detail::patterns_overlap("a/+", "a/b"));
  CHECK(detail::patterns_overlap("a/#", "a"));
  CHECK(detail::patterns_overlap("#", "x/y"));
  CHECK(detail::patterns_overlap("+/b/#", "a/+/c"));
  CHECK(!detail::patterns_overlap("a/b", "a/c"));
  CHECK(!detail::patterns_overlap("a/+", "a"));
  CHECK(!detail::patterns_overlap("a/+", "a/b/c"));
  CHECK(!detail::patterns_overlap("+/b", "a/c/#"));
  absl::StatusOr<detail::ParsedFilter> shared = detail::parse_filter("$share/workers/jobs/+");
  REQUIRE(shared.ok());
  CHECK(shared->share_group == "workers");
  CHECK(shared->pattern == "jobs/+");
}

TEST_CASE("start() refuses an unregistered function and an unreachable broker", "[mqtt][options]") {
  Host host = fnhost::testing::make_host();
  ConnectorOptions options = valid_options();
  options.subscriptions[0].function = "missing";
  absl::StatusOr<std::unique_ptr<Connector>> missing = Connector::start(host, options);
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  CHECK(message_contains(missing.status(), "subscriptions[0].function"));

  ConnectorOptions unreachable = valid_options();
  unreachable.broker.port = free_loopback_port();  // nothing listens there
  absl::StatusOr<std::unique_ptr<Connector>> refused = Connector::start(host, unreachable);
  CHECK(refused.status().code() == absl::StatusCode::kUnavailable);
  CHECK(message_contains(refused.status(), "MQTT broker 127.0.0.1:"));
}

TEST_CASE("Reconnect delays grow, stay between d/2 and d and stop at the maximum",
          "[mqtt][options]") {
  const absl::Duration initial = absl::Milliseconds(100);
  const absl::Duration max = absl::Seconds(2);
  for (const uint64_t bits : {uint64_t{0}, ~uint64_t{0}, uint64_t{0x123456789abcdef0}}) {
    CHECK(detail::reconnect_delay(initial, max, 1, bits) >= absl::Milliseconds(50));
    CHECK(detail::reconnect_delay(initial, max, 1, bits) <= absl::Milliseconds(100));
    CHECK(detail::reconnect_delay(initial, max, 3, bits) >= absl::Milliseconds(200));
    CHECK(detail::reconnect_delay(initial, max, 3, bits) <= absl::Milliseconds(400));
    CHECK(detail::reconnect_delay(initial, max, 50, bits) >= absl::Seconds(1));
    CHECK(detail::reconnect_delay(initial, max, 50, bits) <= max);
  }
}

}  // namespace
}  // namespace fnhost::mqtt::testing
