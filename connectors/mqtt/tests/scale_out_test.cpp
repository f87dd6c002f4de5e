// SPDX-License-Identifier: Apache-2.0
// Scale-out and recovery: a shared subscription splits one topic over two hosts; a broker
// restart is survived by reconnecting with backoff; a host at its capacity holds messages back
// (ResourceExhausted means wait) instead of dropping or acknowledging them.
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "broker_fixture.hpp"
#include "fnhost/mqtt/connector.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"

namespace fnhost::mqtt::testing {
namespace {

TEST_CASE(
    "A shared subscription splits one topic over two hosts: each message is processed "
    "once",
    "[mqtt][shared]") {
  MosquittoBroker broker;
  constexpr int kMessages = 100;
  Host first = fnhost::testing::make_host();
  Host second = fnhost::testing::make_host();
  EventLog first_log;
  EventLog second_log;
  REQUIRE(first.register_function({.name = "work", .handler = first_log.recorder()}).ok());
  REQUIRE(second.register_function({.name = "work", .handler = second_log.recorder()}).ok());
  const std::vector<Subscription> shared = {
      {.filter = "$share/workers/jobs/+", .qos = 1, .function = "work"}};
  auto first_connector =
      start_connector(first, {.broker = broker.broker("worker-1"), .subscriptions = shared});
  auto second_connector =
      start_connector(second, {.broker = broker.broker("worker-2"), .subscriptions = shared});

  std::vector<std::string> lines;
  for (int index = 0; index < kMessages; ++index) lines.push_back("job-" + std::to_string(index));
  broker.pub_lines("jobs/queue", lines, 1);

  REQUIRE(wait_until([&] { return first_log.size() + second_log.size() >= kMessages; }));
  REQUIRE(wait_until([&] {
    return first_connector->stats().acked + second_connector->stats().acked == kMessages;
  }));
  std::map<std::string, int> times;
  for (const std::string& payload : first_log.payloads()) ++times[payload];
  for (const std::string& payload : second_log.payloads()) ++times[payload];
  CHECK(times.size() == static_cast<size_t>(kMessages));
  for (const auto& [payload, count] : times) {
    INFO(payload);
    CHECK(count == 1);
  }
  // mosquitto hands a shared subscription's messages to its sessions in turn.
  CHECK(first_log.size() > 0);
  CHECK(second_log.size() > 0);
  for (const Event& event : first_log.events()) CHECK(event.topic == "jobs/queue");
}

TEST_CASE("After a broker restart the connector reconnects with backoff and messages flow again",
          "[mqtt][reconnect]") {
  MosquittoBroker broker;
  Host host = fnhost::testing::make_host();
  EventLog received;
  REQUIRE(host.register_function({.name = "sink", .handler = received.recorder()}).ok());
  auto connector =
      start_connector(host, {.broker = broker.broker("restart"),
                             .subscriptions = {{.filter = "r/#", .qos = 1, .function = "sink"}},
                             .initial_reconnect_delay = absl::Milliseconds(20),
                             .max_reconnect_delay = absl::Milliseconds(500)});
  broker.pub({"-q", "1", "-t", "r/before", "-m", "before"});
  REQUIRE(wait_until([&] { return connector->stats().acked == 1; }));

  broker.stop();
  REQUIRE(wait_until([&] { return !connector->is_connected(); }));
  // Refused while the broker is down: each failed attempt is counted.
  REQUIRE(wait_until([&] { return connector->stats().errors >= 3; }));
  CHECK(connector->stats().reconnects == 0);
  broker.start();
  REQUIRE(wait_until([&] { return connector->is_connected(); }));
  CHECK(connector->stats().reconnects == 1);

  broker.pub({"-q", "1", "-t", "r/after", "-m", "after"});
  REQUIRE(wait_until([&] { return connector->stats().acked == 2; }));
  std::vector<std::string> payloads = received.payloads();
  std::sort(payloads.begin(), payloads.end());
  CHECK(payloads == std::vector<std::string>{"after", "before"});
}

TEST_CASE("A broker that lost the session gets the subscriptions again", "[mqtt][reconnect]") {
  MosquittoBroker broker;
  Host host = fnhost::testing::make_host();
  EventLog received;
  REQUIRE(host.register_function({.name = "sink", .handler = received.recorder()}).ok());
  auto connector =
      start_connector(host, {.broker = broker.broker("lost-session"),
                             .subscriptions = {{.filter = "s/#", .qos = 1, .function = "sink"}},
                             .initial_reconnect_delay = absl::Milliseconds(20),
                             .max_reconnect_delay = absl::Milliseconds(500)});
  broker.stop();
  // Without its database the broker starts with no session for this client.
  std::filesystem::remove(broker.directory() / "mosquitto.db");
  broker.start();
  REQUIRE(wait_until([&] { return connector->stats().reconnects == 1; }));
  broker.pub({"-q", "1", "-t", "s/x", "-m", "resubscribed"});
  REQUIRE(wait_until([&] { return received.size() == 1; }));
  CHECK(received.payloads() == std::vector<std::string>{"resubscribed"});
}

TEST_CASE("A host at capacity holds messages back: ResourceExhausted means wait, never drop",
          "[mqtt][backpressure]") {
  MosquittoBroker broker;
  Host host = fnhost::testing::make_host();
  auto gate = std::make_shared<fnhost::testing::Gate>();
  std::atomic<int> started{0};
  REQUIRE(host.register_function({.name = "narrow",
                                  .handler = fnhost::testing::gated_handler(gate, started),
                                  .max_concurrency = 1,
                                  .max_queued = 1})
              .ok());
  fnhost::testing::GateOpener opener(gate);
  auto connector =
      start_connector(host, {.broker = broker.broker("capacity"),
                             .subscriptions = {{.filter = "load", .qos = 1, .function = "narrow"}},
                             .max_in_flight = 4});
  constexpr int kMessages = 10;
  std::vector<std::string> lines;
  for (int index = 0; index < kMessages; ++index) lines.push_back(std::to_string(index));
  broker.pub_lines("load", lines, 1);
  // One runs, one waits in the function's queue, the third is refused and held.
  REQUIRE(wait_until([&] { return connector->stats().throttled >= 1; }));
  ConnectorStats held = connector->stats();
  INFO(describe(held));
  CHECK(held.accepted == 2);
  CHECK(held.acked == 0);
  CHECK(held.dropped == 0);
  CHECK(held.in_flight <= 4);
  gate->open();
  REQUIRE(wait_until([&] { return connector->stats().acked == kMessages; }));
  const ConnectorStats done = connector->stats();
  INFO(describe(done));
  CHECK(done.accepted == kMessages);
  CHECK(done.dropped == 0);
  CHECK(started.load() == kMessages);
}

}  // namespace
}  // namespace fnhost::mqtt::testing
