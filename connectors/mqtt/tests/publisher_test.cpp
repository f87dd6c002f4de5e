// SPDX-License-Identifier: Apache-2.0
// The publisher destination: results published to a broker, checked with the tests' own
// subscriber and with mosquitto_sub.
#include "fnhost/mqtt/publisher.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "broker_fixture.hpp"
#include "testing/host_helpers.hpp"

namespace fnhost::mqtt::testing {
namespace {

TEST_CASE("An on_success destination publishes each result to a fixed topic at QoS 1",
          "[mqtt][publisher]") {
  MosquittoBroker broker;
  TestSubscriber subscriber(broker, {"results/#"});
  Host host = fnhost::testing::make_host();
  REQUIRE(register_publisher(host, "to-mqtt",
                             {.broker = broker.broker(), .topic = "results/done", .qos = 1})
              .ok());
  REQUIRE(host.register_function({.name = "work",
                                  .handler = [](const Event& event, Context&) -> Result {
                                    return "done:" + event.data;
                                  },
                                  .on_success = {.function = "to-mqtt"}})
              .ok());
  REQUIRE(host.invoke_async("work", Event::with_data("job-1")).ok());
  std::optional<detail::Publish> message = subscriber.next();
  REQUIRE(message.has_value());
  CHECK(message->topic == "results/done");
  CHECK(message->payload == "done:job-1");
  REQUIRE(wait_until([&] { return host.function_stats("to-mqtt")->events_succeeded == 1; }));
}

TEST_CASE("A publisher sends the event's data to its topic with a prefix, at QoS 0 too",
          "[mqtt][publisher]") {
  MosquittoBroker broker;
  TestSubscriber subscriber(broker, {"out/#"});
  Host host = fnhost::testing::make_host();
  REQUIRE(register_publisher(host, "forward",
                             {.broker = broker.broker("forwarder"),
                              .topic_prefix = "out/",
                              .qos = 0,
                              .payload = PublishedPayload::kData})
              .ok());
  REQUIRE(host.subscribe({.pattern = "in/#", .function = "forward"}).ok());
  REQUIRE(host.publish({.topic = "in/7", .data = "payload-7"}).ok());
  std::optional<detail::Publish> message = subscriber.next();
  REQUIRE(message.has_value());
  CHECK(message->topic == "out/in/7");
  CHECK(message->payload == "payload-7");
}

TEST_CASE("A retained result can be read with mosquitto_sub", "[mqtt][publisher]") {
  MosquittoBroker broker;
  Host host = fnhost::testing::make_host();
  REQUIRE(register_publisher(
              host, "status",
              {.broker = broker.broker(), .topic = "status/current", .qos = 1, .retain = true})
              .ok());
  REQUIRE(host.invoke("status", Event::with_data("green")).get().ok());
  const std::string out = (broker.directory() / "sub.out").string();
  ChildProcess sub({"/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p",
                    std::to_string(broker.port()), "-t", "status/current", "-C", "1", "-W", "60"},
                   out);
  REQUIRE(sub.wait_exit() == 0);
  CHECK(read_file(out) == "green\n");
}

TEST_CASE("A publisher without a broker fails with Unavailable and succeeds once it is back",
          "[mqtt][publisher]") {
  MosquittoBroker broker;
  Host host = fnhost::testing::make_host();
  REQUIRE(register_publisher(host, "to-mqtt", {.broker = broker.broker(), .topic = "t"}).ok());
  REQUIRE(host.invoke("to-mqtt", Event::with_data("1")).get().ok());
  broker.stop();
  Result failed = host.invoke("to-mqtt", Event::with_data("2")).get();
  CHECK(failed.status().code() == absl::StatusCode::kUnavailable);
  broker.start();
  CHECK(wait_until([&] { return host.invoke("to-mqtt", Event::with_data("3")).get().ok(); }));
  // An event without a topic and no fixed topic: InvalidArgument, never retried.
  REQUIRE(register_publisher(host, "by-topic", {.broker = broker.broker()}).ok());
  CHECK(host.invoke("by-topic", Event::with_data("x")).get().status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fnhost::mqtt::testing
