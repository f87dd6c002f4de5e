// SPDX-License-Identifier: Apache-2.0
// /metrics, /healthz, /readyz, and stop(): no new traffic, requests in flight finish, and no
// accepted event is lost.
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gateway_fixture.hpp"
#include "testing/gate.hpp"
#include "testing/wait.hpp"

namespace fnhost::http {
namespace {

using fnhost::testing::wait_until;
using testing::describe;
using testing::GatewayFixture;

TEST_CASE("/metrics serves the Prometheus exposition", "[http][metrics]") {
  GatewayFixture fixture;
  REQUIRE(fixture.host.register_function(fnhost::testing::echo_spec("echo")).ok());
  REQUIRE(fixture.host.invoke("echo", Event::with_data("x")).get().ok());
  auto client = fixture.client();
  httplib::Result result = client->Get("/metrics");
  REQUIRE(result);
  CHECK(result->status == 200);
  CHECK(result->get_header_value("Content-Type").starts_with("text/plain; version=0.0.4"));
  CHECK(result->body.find("fnhost_invocations_total{function=\"echo\"} 1") != std::string::npos);
}

TEST_CASE("/readyz is 200 while serving and 503 once the host shuts down", "[http][probes]") {
  GatewayFixture fixture;
  REQUIRE(fixture.host.register_function(fnhost::testing::echo_spec("echo")).ok());
  auto client = fixture.client();
  httplib::Result ready = client->Get("/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 200);
  fixture.host.shutdown(absl::Seconds(5));
  httplib::Result not_ready = client->Get("/readyz");
  REQUIRE(not_ready);
  CHECK(not_ready->status == 503);
  httplib::Result alive = client->Get("/healthz");
  REQUIRE(alive);
  CHECK(alive->status == 200);
  httplib::Result refused = client->Post("/functions/echo/invocations", "x", "text/plain");
  REQUIRE(refused);
  CHECK(refused->status == 503);
}

TEST_CASE("stop() answers new requests 503 while a request in flight finishes",
          "[http][lifecycle]") {
  GatewayFixture fixture;
  auto gate = std::make_shared<fnhost::testing::Gate>();
  std::atomic<int> started{0};
  REQUIRE(fixture.host
              .register_function({.name = "held",
                                  .handler = fnhost::testing::gated_handler(gate, started, "done"),
                                  .timeout = absl::Seconds(60)})
              .ok());
  fnhost::testing::GateOpener opener(gate);
  int in_flight_status = 0;
  std::string in_flight_body;
  std::thread caller([&] {
    auto client = fixture.client();
    httplib::Result result = client->Post("/functions/held/invocations", "x", "text/plain");
    if (result) {
      in_flight_status = result->status;
      in_flight_body = result->body;
    }
  });
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  std::thread stopper([&] { fixture.gateway->stop(); });
  REQUIRE(wait_until([&] { return fixture.gateway->is_draining(); }));

  auto client = fixture.client();
  httplib::Result not_ready = client->Get("/readyz");
  REQUIRE(not_ready);
  CHECK(not_ready->status == 503);
  httplib::Result refused = client->Post("/functions/held/invocations", "y", "text/plain");
  INFO(describe(refused));
  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK(refused->get_header_value("Retry-After") == "1");

  gate->open();
  caller.join();
  stopper.join();
  CHECK(in_flight_status == 200);
  CHECK(in_flight_body == "done");
  // Stopped: nothing listens any more.
  httplib::Result after = fixture.client()->Get("/healthz");
  CHECK_FALSE(after);
}

TEST_CASE("stop() while events stream in loses no accepted event", "[http][lifecycle][stress]") {
  GatewayFixture fixture;
  std::atomic<int> handled{0};
  REQUIRE(fixture.host
              .register_function({.name = "sink",
                                  .handler = [&handled](const Event&, Context&) -> Result {
                                    handled.fetch_add(1);
                                    return std::string();
                                  }})
              .ok());
  constexpr int kThreads = 4;
  std::atomic<int> accepted{0};
  std::atomic<bool> stop_sending{false};
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&] {
      auto client = fixture.client();
      client->set_keep_alive(true);
      while (!stop_sending.load()) {
        httplib::Result result =
            client->Post("/functions/sink/invocations", {{"X-Fnhost-Invocation-Type", "Event"}},
                         "e", "text/plain");
        if (result && result->status == 202) {
          accepted.fetch_add(1);
        } else if (!result || result->status == 503) {
          if (fixture.gateway->is_draining()) break;
        }
      }
    });
  }
  REQUIRE(wait_until([&] { return accepted.load() >= 100; }));
  fixture.gateway->stop();
  stop_sending.store(true);
  for (std::thread& sender : senders) sender.join();
  const ShutdownReport report = fixture.host.shutdown(absl::Seconds(60));
  CHECK(report.drained());
  const FunctionStats stats = fnhost::testing::stats_of(fixture.host, "sink");
  CHECK(stats.events_accepted == accepted.load());
  CHECK(stats.events_succeeded == accepted.load());
  CHECK(handled.load() == accepted.load());
}

TEST_CASE("stop() is idempotent and the destructor stops", "[http][lifecycle]") {
  GatewayFixture fixture;
  fixture.gateway->stop();
  fixture.gateway->stop();
  CHECK(fixture.gateway->is_draining());
  fixture.gateway.reset();
}

}  // namespace
}  // namespace fnhost::http
