// SPDX-License-Identifier: Apache-2.0
// When a QoS 1 message is acknowledged: only once the host settled it (succeeded or
// dead-lettered), seen from a proxy between the connector and the broker; redelivery after a
// cut connection, after stop() and after the host dropped a message.
#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <set>
#include <string>

#include "broker_fixture.hpp"
#include "fnhost/mqtt/connector.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"

namespace fnhost::mqtt::testing {
namespace {

using fnhost::testing::Gate;
using fnhost::testing::GateOpener;

// Connector options through `proxy`, one QoS 1 subscription "jobs/#" invoking `function`.
ConnectorOptions through(const TcpProxy& proxy, const MosquittoBroker& broker,
                         std::string client_id, std::string function) {
  BrokerOptions options = broker.broker(std::move(client_id));
  options.port = proxy.port();
  return {.broker = options,
          .subscriptions = {{.filter = "jobs/#", .qos = 1, .function = std::move(function)}},
          .initial_reconnect_delay = absl::Milliseconds(10),
          .max_reconnect_delay = absl::Milliseconds(200)};
}

TEST_CASE("A QoS 1 message is acknowledged only after its invocation settles", "[mqtt][ack]") {
  MosquittoBroker broker;
  TcpProxy proxy(broker.port());
  Host host = fnhost::testing::make_host();
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  REQUIRE(host.register_function(
                  {.name = "slow", .handler = fnhost::testing::gated_handler(gate, started)})
              .ok());
  GateOpener opener(gate);
  auto connector = start_connector(host, through(proxy, broker, "ack-after-settle", "slow"));

  broker.pub({"-q", "1", "-t", "jobs/1", "-m", "one"});
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  // Running: the message is in flight and nothing went to the broker.
  CHECK(proxy.pubacks() == 0);
  CHECK(connector->stats().acked == 0);
  CHECK(connector->stats().in_flight == 1);

  gate->open();
  REQUIRE(wait_until([&] { return proxy.pubacks() == 1; }));
  // Counted once the PUBACK is sent: a moment after the proxy may have passed it on.
  CHECK(wait_until([&] { return connector->stats().acked == 1; }));
  CHECK(wait_until([&] { return connector->stats().in_flight == 0; }));
  CHECK(started.load() == 1);
}

TEST_CASE("A dead-lettered message is acknowledged once its last attempt failed", "[mqtt][ack]") {
  MosquittoBroker broker;
  TcpProxy proxy(broker.port());
  Host host = fnhost::testing::make_host();
  std::atomic<int> attempts{0};
  REQUIRE(host.register_function(
                  {.name = "failing",
                   .handler = [&](const Event&, Context&) -> Result {
                     attempts.fetch_add(1);
                     return absl::InternalError("always fails");
                   },
                   .retry = {.max_attempts = 2, .initial_backoff = absl::Milliseconds(1)}})
              .ok());
  auto connector = start_connector(host, through(proxy, broker, "ack-dead-letter", "failing"));
  broker.pub({"-q", "1", "-t", "jobs/2", "-m", "two"});
  REQUIRE(wait_until([&] { return proxy.pubacks() == 1; }));
  CHECK(attempts.load() == 2);
  CHECK(host.dead_letter_count("failing") == 1);
}

TEST_CASE(
    "A message still running when the connection drops is redelivered, not run twice, "
    "and acknowledged on the new connection",
    "[mqtt][ack][reconnect]") {
  MosquittoBroker broker;
  TcpProxy proxy(broker.port());
  Host host = fnhost::testing::make_host();
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  REQUIRE(host.register_function(
                  {.name = "slow", .handler = fnhost::testing::gated_handler(gate, started)})
              .ok());
  GateOpener opener(gate);
  auto connector = start_connector(host, through(proxy, broker, "ack-redelivery", "slow"));

  broker.pub({"-q", "1", "-t", "jobs/3", "-m", "three"});
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  proxy.cut();
  // The broker resends the unacknowledged message to the resumed session: seen, not run.
  REQUIRE(wait_until([&] { return connector->stats().redelivered == 1; }));
  CHECK(connector->stats().reconnects == 1);
  CHECK(proxy.pubacks() == 0);

  gate->open();
  REQUIRE(wait_until([&] { return proxy.pubacks() == 1; }));
  CHECK(started.load() == 1);
  CHECK(wait_until([&] { return connector->stats().in_flight == 0; }));
}

TEST_CASE(
    "A message settled while disconnected is acknowledged when the broker delivers it "
    "again",
    "[mqtt][ack][reconnect]") {
  MosquittoBroker broker;
  TcpProxy proxy(broker.port());
  Host host = fnhost::testing::make_host();
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  REQUIRE(host.register_function(
                  {.name = "slow", .handler = fnhost::testing::gated_handler(gate, started)})
              .ok());
  GateOpener opener(gate);
  auto connector = start_connector(host, through(proxy, broker, "ack-while-down", "slow"));

  broker.pub({"-q", "1", "-t", "jobs/4", "-m", "four"});
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  proxy.set_accepting(false);
  proxy.cut();
  REQUIRE(wait_until([&] { return !connector->is_connected(); }));
  gate->open();
  REQUIRE(wait_until([&] { return host.function_stats("slow")->events_succeeded == 1; }));
  proxy.set_accepting(true);
  REQUIRE(wait_until([&] { return proxy.pubacks() == 1; }));
  const ConnectorStats stats = connector->stats();
  INFO(describe(stats));
  CHECK(stats.redelivered == 1);
  CHECK(started.load() == 1);
  CHECK(wait_until([&] { return connector->stats().in_flight == 0; }));
}

TEST_CASE("stop() acknowledges what settles in time and leaves the rest to be redelivered",
          "[mqtt][ack][lifecycle]") {
  MosquittoBroker broker;
  auto gate = std::make_shared<Gate>();
  GateOpener opener(gate);
  {
    Host host = fnhost::testing::make_host();
    std::atomic<int> started{0};
    REQUIRE(host.register_function(
                    {.name = "slow", .handler = fnhost::testing::gated_handler(gate, started)})
                .ok());
    ConnectorOptions options{.broker = broker.broker("stop-unsettled"),
                             .subscriptions = {{.filter = "jobs/#", .qos = 1, .function = "slow"}},
                             .stop_timeout = absl::Milliseconds(1)};
    auto connector = start_connector(host, options);
    broker.pub({"-q", "1", "-t", "jobs/5", "-m", "five"});
    REQUIRE(wait_until([&] { return started.load() == 1; }));
    connector->stop();
    CHECK(connector->stats().acked == 0);
    CHECK(!connector->is_connected());
    gate->open();  // settles after the connector stopped: nobody acknowledges it
  }
  // The same session, another host: the broker delivers the message again.
  Host host = fnhost::testing::make_host();
  EventLog received;
  REQUIRE(host.register_function({.name = "fast", .handler = received.recorder()}).ok());
  auto connector = start_connector(
      host, {.broker = broker.broker("stop-unsettled"),
             .subscriptions = {{.filter = "jobs/#", .qos = 1, .function = "fast"}}});
  REQUIRE(wait_until([&] { return connector->stats().acked == 1; }));
  CHECK(received.payloads() == std::vector<std::string>{"five"});
}

TEST_CASE("A message the host drops at shutdown is not acknowledged and comes back",
          "[mqtt][ack][lifecycle]") {
  MosquittoBroker broker;
  auto gate = std::make_shared<Gate>();
  GateOpener opener(gate);
  {
    Host host = fnhost::testing::make_host(fnhost::testing::quiet_options(1));
    std::atomic<int> started{0};
    REQUIRE(host.register_function({.name = "slow",
                                    .handler = fnhost::testing::gated_handler(gate, started),
                                    .max_concurrency = 1})
                .ok());
    auto connector = start_connector(
        host, {.broker = broker.broker("host-drops"),
               .subscriptions = {{.filter = "jobs/#", .qos = 1, .function = "slow"}}});
    broker.pub({"-q", "1", "-t", "jobs/6", "-m", "running"});
    REQUIRE(wait_until([&] { return started.load() == 1; }));
    broker.pub({"-q", "1", "-t", "jobs/7", "-m", "queued"});
    REQUIRE(wait_until([&] { return connector->stats().accepted == 2; }));
    // Shutdown drops the queued one at once and cancels the running one at its deadline: both
    // settle as dropped (the cancelled one once its handler returns).
    host.shutdown(absl::Milliseconds(1));
    gate->open();
    REQUIRE(wait_until([&] { return connector->stats().dropped == 2; }));
    connector->stop();
    CHECK(connector->stats().acked == 0);
  }
  Host host = fnhost::testing::make_host();
  EventLog received;
  REQUIRE(host.register_function({.name = "fast", .handler = received.recorder()}).ok());
  auto connector = start_connector(
      host, {.broker = broker.broker("host-drops"),
             .subscriptions = {{.filter = "jobs/#", .qos = 1, .function = "fast"}}});
  REQUIRE(wait_until([&] { return connector->stats().acked == 2; }));
  std::vector<std::string> payloads = received.payloads();
  std::sort(payloads.begin(), payloads.end());
  CHECK(payloads == std::vector<std::string>{"queued", "running"});
}

TEST_CASE(
    "stop() in the middle of a flow loses no message: every one is processed at least "
    "once across two runs, and every acknowledged one was processed",
    "[mqtt][ack][lifecycle]") {
  MosquittoBroker broker;
  constexpr int kMessages = 200;
  std::vector<std::string> lines;
  for (int index = 0; index < kMessages; ++index) lines.push_back("m" + std::to_string(index));
  EventLog first_run;
  int64_t acked_first = 0;
  {
    Host host = fnhost::testing::make_host();
    REQUIRE(host.register_function({.name = "work", .handler = first_run.recorder()}).ok());
    auto connector =
        start_connector(host, {.broker = broker.broker("stop-in-flow"),
                               .subscriptions = {{.filter = "flow", .qos = 1, .function = "work"}},
                               .max_in_flight = 8});
    std::thread publisher([&] { broker.pub_lines("flow", lines, 1); });
    REQUIRE(wait_until([&] { return first_run.size() >= 20; }));
    connector->stop();
    publisher.join();
    acked_first = connector->stats().acked;
    INFO(describe(connector->stats()));
    CHECK(acked_first <= static_cast<int64_t>(first_run.size()));
  }
  EventLog second_run;
  Host host = fnhost::testing::make_host();
  REQUIRE(host.register_function({.name = "work", .handler = second_run.recorder()}).ok());
  auto connector =
      start_connector(host, {.broker = broker.broker("stop-in-flow"),
                             .subscriptions = {{.filter = "flow", .qos = 1, .function = "work"}}});
  std::set<std::string> seen;
  REQUIRE(wait_until([&] {
    seen.clear();
    for (const std::string& payload : first_run.payloads()) seen.insert(payload);
    for (const std::string& payload : second_run.payloads()) seen.insert(payload);
    return seen.size() == static_cast<size_t>(kMessages);
  }));
  // Everything the second run took is acknowledged once it settles.
  CHECK(wait_until([&] {
    return connector->stats().acked == static_cast<int64_t>(second_run.size()) &&
           connector->stats().in_flight == 0;
  }));
}

}  // namespace
}  // namespace fnhost::mqtt::testing
