// SPDX-License-Identifier: Apache-2.0
// Body and header limits, bearer tokens, the connection limit and option validation: bad
// requests get a 4xx and never reach a handler.
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gateway_fixture.hpp"
#include "testing/wait.hpp"

namespace fnhost::http {
namespace {

using testing::describe;
using testing::GatewayFixture;

FunctionSpec counting_spec(std::atomic<int>& runs) {
  return {.name = "count", .handler = [&runs](const Event&, Context&) -> Result {
            runs.fetch_add(1);
            return std::string("ran");
          }};
}

TEST_CASE("bodies over the limits get 413 and never reach the handler", "[http][limits]") {
  std::atomic<int> runs{0};
  SECTION("the defaults: 6 MiB synchronous, 1 MiB asynchronous") {
    GatewayFixture fixture;
    REQUIRE(fixture.host.register_function(counting_spec(runs)).ok());
    auto client = fixture.client();
    httplib::Result sync = client->Post("/functions/count/invocations",
                                        std::string(6 * 1024 * 1024 + 1, 'x'), "text/plain");
    INFO(describe(sync));
    REQUIRE(sync);
    CHECK(sync->status == 413);
    httplib::Result async =
        client->Post("/functions/count/invocations", {{"X-Fnhost-Invocation-Type", "Event"}},
                     std::string(1024 * 1024 + 1, 'x'), "text/plain");
    INFO(describe(async));
    REQUIRE(async);
    CHECK(async->status == 413);
    // Right at the limit is fine, on the same client (the connection was replaced cleanly).
    httplib::Result at_limit = client->Post("/functions/count/invocations",
                                            std::string(6 * 1024 * 1024, 'x'), "text/plain");
    REQUIRE(at_limit);
    CHECK(at_limit->status == 200);
    CHECK(runs.load() == 1);
  }
  SECTION("a chunked body is measured once read") {
    GatewayFixture fixture({.max_sync_body_bytes = 1000, .max_async_body_bytes = 100});
    REQUIRE(fixture.host.register_function(counting_spec(runs)).ok());
    auto client = fixture.client();
    httplib::Result result = client->Post(
        "/functions/count/invocations", {{"X-Fnhost-Invocation-Type", "Event"}},
        [](size_t, httplib::DataSink& sink) {
          const std::string chunk(60, 'y');
          sink.write(chunk.data(), chunk.size());
          sink.write(chunk.data(), chunk.size());
          sink.done();
          return true;
        },
        "text/plain");
    INFO(describe(result));
    REQUIRE(result);
    CHECK(result->status == 413);
    CHECK(runs.load() == 0);
  }
  CHECK(runs.load() <= 1);
}

TEST_CASE("headers over max_header_bytes get 431", "[http][limits]") {
  std::atomic<int> runs{0};
  GatewayFixture fixture({.max_header_bytes = 2048});
  REQUIRE(fixture.host.register_function(counting_spec(runs)).ok());
  auto client = fixture.client();
  httplib::Result result = client->Post("/functions/count/invocations",
                                        {{"X-Padding", std::string(3000, 'p')}}, "x", "text/plain");
  INFO(describe(result));
  REQUIRE(result);
  CHECK(result->status == 431);
  CHECK(runs.load() == 0);
}

TEST_CASE("with a bearer token, a missing or wrong one gets 401 and the challenge",
          "[http][auth]") {
  std::atomic<int> runs{0};
  GatewayFixture fixture({.bearer_token = "s3cret-token"});
  REQUIRE(fixture.host.register_function(counting_spec(runs)).ok());
  auto client = fixture.client();

  httplib::Result missing = client->Post("/functions/count/invocations", "x", "text/plain");
  REQUIRE(missing);
  CHECK(missing->status == 401);
  CHECK(missing->get_header_value("WWW-Authenticate").starts_with("Bearer"));
  CHECK(nlohmann::json::parse(missing->body).at("code") == "UNAUTHENTICATED");

  client->set_bearer_token_auth("wrong");
  httplib::Result wrong = client->Post("/functions/count/invocations", "x", "text/plain");
  REQUIRE(wrong);
  CHECK(wrong->status == 401);
  CHECK(wrong->get_header_value("WWW-Authenticate").find("invalid_token") != std::string::npos);
  httplib::Result metrics = client->Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 401);
  CHECK(runs.load() == 0);

  // Probes need no token.
  auto anonymous = fixture.client();
  httplib::Result health = anonymous->Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);

  client->set_bearer_token_auth("s3cret-token");
  httplib::Result right = client->Post("/functions/count/invocations", "x", "text/plain");
  INFO(describe(right));
  REQUIRE(right);
  CHECK(right->status == 200);
  CHECK(runs.load() == 1);
}

TEST_CASE("a connection over max_connections is answered 503", "[http][limits]") {
  GatewayFixture fixture({.max_connections = 2, .keep_alive_timeout = absl::Seconds(120)});
  std::vector<std::unique_ptr<httplib::Client>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(fixture.client());
    held.back()->set_keep_alive(true);
    httplib::Result result = held.back()->Get("/healthz");
    REQUIRE(result);
    REQUIRE(result->status == 200);
  }
  auto extra = fixture.client();
  httplib::Result refused = extra->Get("/healthz");
  INFO(describe(refused));
  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK(refused->get_header_value("Retry-After") == "1");
  // Releasing one frees its slot.
  held.front()->stop();
  held.erase(held.begin());
  auto later = fixture.client();
  CHECK(fnhost::testing::wait_until([&] {
    httplib::Result result = later->Get("/healthz");
    return result && result->status == 200;
  }));
}

TEST_CASE("Gateway::start refuses bad options, naming the field", "[http][options]") {
  Host host = fnhost::testing::make_host();
  auto refused = [&](GatewayOptions options, const std::string& field) {
    absl::StatusOr<std::unique_ptr<Gateway>> started = Gateway::start(host, std::move(options));
    INFO(started.status().ToString());
    REQUIRE_FALSE(started.ok());
    CHECK(started.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(fnhost::testing::message_contains(started.status(), field));
  };
  refused({.bind_address = ""}, "bind_address");
  refused({.port = 70000}, "port");
  refused({.max_sync_body_bytes = 0}, "max_sync_body_bytes");
  refused({.max_async_body_bytes = size_t{2} << 30}, "max_async_body_bytes");
  refused({.max_header_bytes = 10}, "max_header_bytes");
  refused({.request_timeout = absl::ZeroDuration()}, "request_timeout");
  refused({.max_connections = 0}, "max_connections");
  refused({.bearer_token = "has space"}, "bearer_token");
  refused({.keep_alive_timeout = absl::InfiniteDuration()}, "keep_alive_timeout");
  refused({.retry_after = absl::Milliseconds(10)}, "retry_after");
  refused({.dashboard_refresh = absl::Milliseconds(10)}, "dashboard_refresh");
  refused({.dashboard_refresh = absl::Minutes(2)}, "dashboard_refresh");
  CHECK(validate_gateway_options({}).ok());
}

TEST_CASE("an address that cannot be bound is Unavailable", "[http][options]") {
  Host host = fnhost::testing::make_host();
  absl::StatusOr<std::unique_ptr<Gateway>> first = Gateway::start(host, {.port = 0});
  REQUIRE(first.ok());
  absl::StatusOr<std::unique_ptr<Gateway>> second =
      Gateway::start(host, {.port = (*first)->port()});
  // SO_REUSEPORT may let the second bind succeed on Linux; an unusable address never does.
  absl::StatusOr<std::unique_ptr<Gateway>> bad =
      Gateway::start(host, {.bind_address = "256.1.1.1"});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace fnhost::http
