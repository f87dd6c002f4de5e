// SPDX-License-Identifier: Apache-2.0
// POST /functions/{name}/invocations: results, status mapping, async 202, trace context.
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <nlohmann/json.hpp>
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

TEST_CASE("a synchronous invocation answers 200 with the handler's result", "[http][invoke]") {
  GatewayFixture fixture;
  REQUIRE(fixture.host.register_function(fnhost::testing::echo_spec("echo")).ok());
  auto client = fixture.client();
  httplib::Result result =
      client->Post("/functions/echo/invocations", "hello", "application/octet-stream");
  INFO(describe(result));
  REQUIRE(result);
  CHECK(result->status == 200);
  CHECK(result->body == "hello");
}

TEST_CASE("refusals and handler errors map to the README's HTTP codes with a JSON body",
          "[http][invoke]") {
  GatewayFixture fixture;
  REQUIRE(fixture.host
              .register_function({.name = "fail",
                                  .handler = [](const Event& event, Context&) -> Result {
                                    if (event.data == "bad") {
                                      return absl::InvalidArgumentError("bad input");
                                    }
                                    return absl::InternalError("boom");
                                  }})
              .ok());
  REQUIRE(fixture.host
              .register_function({.name = "slow",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    ctx.sleep_for(absl::Seconds(60));  // returns when cancelled
                                    return std::string("late");
                                  },
                                  .timeout = absl::Milliseconds(50)})
              .ok());
  auto client = fixture.client();
  SECTION("handler outcomes and refusals") {
    struct Case {
      const char* what;
      const char* function;
      const char* body;
      int status;
      const char* code;
      const char* error;  // null: not checked
    };
    for (const Case& expected : {
             Case{"unknown function", "nope", "x", 404, "NOT_FOUND", nullptr},
             Case{"handler error, with its message", "fail", "x", 500, "INTERNAL", "boom"},
             Case{"a handler's own status keeps its code", "fail", "bad", 400, "INVALID_ARGUMENT",
                  "bad input"},
             Case{"handler timeout", "slow", "x", 504, "DEADLINE_EXCEEDED", nullptr},
         }) {
      const std::string path = std::string("/functions/") + expected.function + "/invocations";
      httplib::Result result = client->Post(path.c_str(), expected.body, "text/plain");
      INFO(expected.what << ": " << describe(result));
      REQUIRE(result);
      CHECK(result->status == expected.status);
      const nlohmann::json body = nlohmann::json::parse(result->body);
      CHECK(body.at("code") == expected.code);
      if (expected.error != nullptr) CHECK(body.at("error") == expected.error);
    }
  }
  SECTION("a bad invocation type header: 400") {
    httplib::Result result =
        client->Post("/functions/fail/invocations", {{"X-Fnhost-Invocation-Type", "Sometimes"}},
                     "x", "text/plain");
    REQUIRE(result);
    CHECK(result->status == 400);
  }
  SECTION("an unknown path: 404") {
    httplib::Result result = client->Get("/nowhere");
    REQUIRE(result);
    CHECK(result->status == 404);
    CHECK(nlohmann::json::parse(result->body).at("code") == "NOT_FOUND");
  }
}

TEST_CASE("an Event invocation type queues the event and answers 202", "[http][invoke]") {
  GatewayFixture fixture;
  std::atomic<int> runs{0};
  REQUIRE(fixture.host
              .register_function({.name = "count",
                                  .handler = [&runs](const Event& event, Context&) -> Result {
                                    if (event.data == "hi") runs.fetch_add(1);
                                    return std::string();
                                  }})
              .ok());
  auto client = fixture.client();
  for (const char* header : {"X-Fnhost-Invocation-Type", "X-Amz-Invocation-Type"}) {
    httplib::Result result =
        client->Post("/functions/count/invocations", {{header, "Event"}}, "hi", "text/plain");
    INFO(describe(result));
    REQUIRE(result);
    CHECK(result->status == 202);
  }
  CHECK(wait_until([&] { return runs.load() == 2; }));
}

TEST_CASE("a full queue answers 429 with Retry-After", "[http][invoke]") {
  GatewayFixture fixture;
  auto gate = std::make_shared<fnhost::testing::Gate>();
  std::atomic<int> started{0};
  REQUIRE(fixture.host
              .register_function({.name = "busy",
                                  .handler = fnhost::testing::gated_handler(gate, started),
                                  .max_concurrency = 1,
                                  .max_queued = 1})
              .ok());
  fnhost::testing::GateOpener opener(gate);
  REQUIRE(fixture.host.invoke_async("busy", Event::with_data("1")).ok());
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  REQUIRE(fixture.host.invoke_async("busy", Event::with_data("2")).ok());
  auto client = fixture.client();
  httplib::Result result = client->Post("/functions/busy/invocations",
                                        {{"X-Fnhost-Invocation-Type", "Event"}}, "3", "text/plain");
  INFO(describe(result));
  REQUIRE(result);
  CHECK(result->status == 429);
  CHECK(result->get_header_value("Retry-After") == "1");
  CHECK(nlohmann::json::parse(result->body).at("code") == "RESOURCE_EXHAUSTED");
}

TEST_CASE("the request's traceparent and tracestate reach the handler's event", "[http][invoke]") {
  GatewayFixture fixture;
  REQUIRE(fixture.host
              .register_function(
                  {.name = "trace",
                   .handler = [](const Event& event, Context&) -> Result {
                     return std::string(event.extension("traceparent").value_or("")) + "|" +
                            std::string(event.extension("tracestate").value_or(""));
                   }})
              .ok());
  const std::string traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto client = fixture.client();
  httplib::Result result =
      client->Post("/functions/trace/invocations",
                   {{"traceparent", traceparent}, {"tracestate", "a=1"}, {"tracestate", "b=2"}}, "",
                   "text/plain");
  INFO(describe(result));
  REQUIRE(result);
  CHECK(result->status == 200);
  CHECK(result->body == traceparent + "|a=1,b=2");
}

TEST_CASE("many concurrent clients are all answered", "[http][invoke][stress]") {
  GatewayFixture fixture;
  REQUIRE(fixture.host.register_function(fnhost::testing::echo_spec("echo")).ok());
  constexpr int kThreads = 8;
  constexpr int kRequests = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto client = fixture.client();
      client->set_keep_alive(true);
      for (int i = 0; i < kRequests; ++i) {
        const std::string body = std::to_string(t) + ":" + std::to_string(i);
        httplib::Result result = client->Post("/functions/echo/invocations", body, "text/plain");
        if (result && result->status == 200 && result->body == body) ok.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(ok.load() == kThreads * kRequests);
}

}  // namespace
}  // namespace fnhost::http
