// SPDX-License-Identifier: Apache-2.0
// Messages from a real broker into the host: QoS 0 and 1, into publish and into a function,
// and topic filters mapped onto fnhost patterns.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "broker_fixture.hpp"
#include "fnhost/mqtt/connector.hpp"
#include "testing/host_helpers.hpp"

namespace fnhost::mqtt::testing {
namespace {

TEST_CASE("QoS 0 and QoS 1 messages are published into the host and reach its triggers",
          "[mqtt][delivery]") {
  MosquittoBroker broker;
  Host host = fnhost::testing::make_host();
  EventLog received;
  REQUIRE(host.register_function({.name = "sink", .handler = received.recorder()}).ok());
  REQUIRE(host.subscribe({.pattern = "#", .function = "sink"}).ok());
  auto connector = start_connector(host, {.broker = broker.broker("delivery-publish"),
                                          .subscriptions = {{.filter = "sensors/+/temp", .qos = 1},
                                                            {.filter = "alerts/#", .qos = 0}}});

  broker.pub({"-q", "1", "-t", "sensors/7/temp", "-m", "21.5"});
  broker.pub({"-q", "0", "-t", "alerts/fire", "-m", "hot"});
  REQUIRE(wait_until([&] { return received.size() == 2; }));
  REQUIRE(wait_until([&] { return connector->stats().acked == 1; }));

  std::vector<Event> events = received.events();
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.topic < b.topic; });
  CHECK(events[0].topic == "alerts/fire");
  CHECK(events[0].data == "hot");
  CHECK(events[0].extension("mqttqos") == std::optional<std::string_view>("0"));
  CHECK(events[1].topic == "sensors/7/temp");
  CHECK(events[1].data == "21.5");
  CHECK(events[1].extension("mqttqos") == std::optional<std::string_view>("1"));
  CHECK(events[1].type == "mqtt.message");
  CHECK(events[1].source == "mqtt://127.0.0.1:" + std::to_string(broker.port()));
  const ConnectorStats stats = connector->stats();
  INFO(describe(stats));
  CHECK(stats.received == 2);
  CHECK(stats.accepted == 2);
  CHECK(stats.connected);
  CHECK(wait_until([&] { return connector->stats().in_flight == 0; }));
}

TEST_CASE("A subscription with a function invokes it for each message", "[mqtt][delivery]") {
  MosquittoBroker broker;
  Host host = fnhost::testing::make_host();
  EventLog received;
  REQUIRE(host.register_function({.name = "resize", .handler = received.recorder()}).ok());
  auto connector = start_connector(
      host, {.broker = broker.broker("delivery-invoke"),
             .subscriptions = {{.filter = "images/#", .qos = 1, .function = "resize"}}});

  broker.pub({"-q", "1", "-t", "images/cat.png", "-m", "meow"});
  broker.pub({"-q", "0", "-t", "images/dog.png", "-m", "woof"});
  REQUIRE(wait_until([&] { return received.size() == 2; }));
  REQUIRE(wait_until([&] { return connector->stats().acked == 1; }));
  std::vector<std::string> payloads = received.payloads();
  std::sort(payloads.begin(), payloads.end());
  CHECK(payloads == std::vector<std::string>{"meow", "woof"});
  // Nothing went through the router.
  CHECK(host.router_stats().published == 0);
}

TEST_CASE("Filters map one to one onto fnhost patterns: + is one level, # the rest",
          "[mqtt][delivery]") {
  MosquittoBroker broker;
  Host host = fnhost::testing::make_host();
  EventLog received;
  REQUIRE(host.register_function({.name = "sink", .handler = received.recorder()}).ok());
  auto connector =
      start_connector(host, {.broker = broker.broker("delivery-filters"),
                             .subscriptions = {{.filter = "a/+/c", .qos = 1, .function = "sink"},
                                               {.filter = "x/#", .qos = 1, .function = "sink"},
                                               {.filter = "end", .qos = 1, .function = "sink"}}});

  for (const char* topic : {"a/b/c", "a/b/c/d", "a/c", "x", "x/y", "x/y/z", "y/x"}) {
    broker.pub({"-q", "1", "-t", topic, "-m", topic});
  }
  // Published last, on one connection after the others: once it is in, so is every message
  // the broker forwarded before it.
  broker.pub({"-q", "1", "-t", "end", "-m", "end"});
  REQUIRE(wait_until([&] { return received.size() >= 5; }));
  REQUIRE(wait_until([&] { return connector->stats().acked == 5; }));
  std::vector<std::string> topics;
  for (const Event& event : received.events()) topics.push_back(event.topic);
  std::sort(topics.begin(), topics.end());
  CHECK(topics == std::vector<std::string>{"a/b/c", "end", "x", "x/y", "x/y/z"});
  CHECK(connector->stats().received == 5);
}

TEST_CASE("A topic that is not an fnhost topic is acknowledged and counted as refused",
          "[mqtt][delivery]") {
  MosquittoBroker broker;
  Host host = fnhost::testing::make_host();
  EventLog received;
  REQUIRE(host.register_function({.name = "sink", .handler = received.recorder()}).ok());
  REQUIRE(host.subscribe({.pattern = "#", .function = "sink"}).ok());
  auto connector = start_connector(host, {.broker = broker.broker("delivery-refused"),
                                          .subscriptions = {{.filter = "a/+/c", .qos = 1}}});
  // MQTT's '+' matches an empty level; an fnhost topic has none.
  broker.pub({"-q", "1", "-t", "a//c", "-m", "empty level"});
  broker.pub({"-q", "1", "-t", "a/b/c", "-m", "fine"});
  REQUIRE(wait_until([&] { return connector->stats().acked == 2; }));
  REQUIRE(wait_until([&] { return received.size() == 1; }));
  const ConnectorStats stats = connector->stats();
  INFO(describe(stats));
  CHECK(stats.refused == 1);
  CHECK(stats.accepted == 1);
  CHECK(received.payloads() == std::vector<std::string>{"fine"});
}

TEST_CASE(
    "A message over max_packet_bytes is skipped, acknowledged and refused and the next one "
    "arrives",
    "[mqtt][delivery][limits]") {
  MosquittoBroker broker;
  Host host = fnhost::testing::make_host();
  EventLog received;
  REQUIRE(host.register_function({.name = "sink", .handler = received.recorder()}).ok());
  BrokerOptions options = broker.broker("delivery-oversize");
  options.max_packet_bytes = 1024;
  auto connector = start_connector(
      host,
      {.broker = options, .subscriptions = {{.filter = "big/#", .qos = 1, .function = "sink"}}});
  broker.pub({"-q", "1", "-t", "big/one", "-m", std::string(5000, 'x')});
  broker.pub({"-q", "1", "-t", "big/two", "-m", "small"});
  REQUIRE(wait_until([&] { return connector->stats().acked == 2; }));
  REQUIRE(wait_until([&] { return received.size() == 1; }));
  CHECK(received.payloads() == std::vector<std::string>{"small"});
  CHECK(connector->stats().refused == 1);
  CHECK(connector->stats().connected);
}

}  // namespace
}  // namespace fnhost::mqtt::testing
