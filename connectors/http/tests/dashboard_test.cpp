// SPDX-License-Identifier: Apache-2.0
// The dashboard over plain HTTP: the page at `/`, the JSON at /api/dashboard against
// host.metrics(), the executor's history, the bearer token, and turning it off.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "dashboard_workload.hpp"
#include "executor_history.hpp"
#include "gateway_fixture.hpp"
#include "testing/thread_names.hpp"
#include "testing/wait.hpp"

namespace fnhost::http {
namespace {

using nlohmann::json;
using testing::describe;
using testing::GatewayFixture;

json get_dashboard_json(httplib::Client& client) {
  httplib::Result result = client.Get("/api/dashboard");
  INFO(describe(result));
  REQUIRE(result);
  REQUIRE(result->status == 200);
  return json::parse(result->body);
}

const json& function_named(const json& data, const std::string& name) {
  for (const json& function : data.at("functions")) {
    if (function.at("name") == name) return function;
  }
  FAIL("no function " << name << " in " << data.dump());
  throw;  // unreachable: FAIL throws
}

TEST_CASE("GET / serves the dashboard: one self-contained page", "[http][dashboard]") {
  GatewayFixture fixture;
  httplib::Result result = fixture.client()->Get("/");
  INFO(describe(result));
  REQUIRE(result);
  CHECK(result->status == 200);
  CHECK(result->get_header_value("Content-Type") == "text/html; charset=utf-8");
  CHECK(result->get_header_value("Content-Security-Policy").starts_with("default-src 'none'"));
  CHECK(result->body.starts_with("<!doctype html>"));
  CHECK(result->body.find("<title>fnhost dashboard</title>") != std::string::npos);
  // Nothing to fetch from elsewhere: no external script, style, font or image.
  for (const char* external : {"src=", "href=\"http", "@import", "url(", "innerHTML"}) {
    INFO(external);
    CHECK(result->body.find(external) == std::string::npos);
  }
}

TEST_CASE("GET /api/dashboard reports what host.metrics() says", "[http][dashboard]") {
  GatewayFixture fixture;
  testing::DashboardWorkload workload(fixture.host);
  auto client = fixture.client();
  const json data = get_dashboard_json(*client);
  const HostMetrics metrics = fixture.host.metrics();

  REQUIRE(data.at("functions").size() == metrics.functions.size());
  for (const FunctionStats& stats : metrics.functions) {
    INFO(stats.name);
    const json& function = function_named(data, stats.name);
    CHECK(function.at("version") == stats.version);
    CHECK(function.at("invocations") == stats.invocations);
    CHECK(function.at("successes") == stats.successes);
    CHECK(function.at("errors") == stats.errors);
    CHECK(function.at("throttles") == stats.throttles);
    CHECK(function.at("timeouts") == stats.timeouts);
    CHECK(function.at("cold_starts") == stats.cold_starts);
    CHECK(function.at("concurrent_executions") == stats.in_flight);
    CHECK(function.at("queue_depth") == stats.queued);
    if (stats.duration.count == 0) {
      CHECK(function.at("p50_ms").is_null());
      CHECK(function.at("p99_ms").is_null());
    } else {
      CHECK(function.at("p50_ms").get<double>() ==
            Approx(absl::ToDoubleMilliseconds(stats.duration.p50)));
      CHECK(function.at("p99_ms").get<double>() ==
            Approx(absl::ToDoubleMilliseconds(stats.duration.p99)));
    }
  }
  // The workload's known numbers.
  CHECK(function_named(data, "greet").at("invocations") == 5);
  CHECK(function_named(data, "flaky").at("errors") == 3);
  CHECK(function_named(data, "sleepy").at("timeouts") == 1);
  CHECK(function_named(data, "held").at("throttles") == 1);
  CHECK(function_named(data, "held").at("concurrent_executions") == 1);
  CHECK(function_named(data, "held").at("queue_depth") == 2);
  CHECK(function_named(data, "idle").at("p50_ms").is_null());

  const json& executor = data.at("executor");
  for (const char* field :
       {"threads", "busy", "blocked", "idle", "queued", "peak_threads", "spawned", "reclaimed"}) {
    INFO(field);
    CHECK(executor.at(field).is_number_integer());
  }
  CHECK(executor.at("busy").get<int64_t>() >= 1);  // `held` runs
  CHECK(data.at("refresh_ms") == 1000);
  const std::string time = data.at("time");
  CHECK(time.size() == std::string("2024-01-02T03:04:05.678Z").size());
  CHECK(time.ends_with("Z"));
  REQUIRE_FALSE(data.at("executor_history").empty());
  const json& sample = data.at("executor_history").back();
  CHECK(sample.at("unix_ms").get<int64_t>() > 1'600'000'000'000);
  CHECK(sample.at("threads").is_number_integer());
  CHECK(sample.at("busy").is_number_integer());
  CHECK(sample.at("queued").is_number_integer());
}

TEST_CASE("the gateway samples the executor every dashboard_refresh", "[http][dashboard]") {
  GatewayFixture fixture({.dashboard_refresh = absl::Milliseconds(100)});
  CHECK(fnhost::testing::count_threads_named("fnhost-http-d") == 1);
  auto client = fixture.client();
  json data;
  REQUIRE(fnhost::testing::wait_until([&] {
    data = get_dashboard_json(*client);
    return data.at("executor_history").size() >= 3;
  }));
  CHECK(data.at("refresh_ms") == 100);
  const json& history = data.at("executor_history");
  for (size_t i = 1; i < history.size(); ++i) {
    CHECK(history[i].at("unix_ms").get<int64_t>() >= history[i - 1].at("unix_ms").get<int64_t>());
  }
}

TEST_CASE("the executor history keeps the newest samples, oldest first", "[http][dashboard]") {
  detail::ExecutorHistory history;
  const size_t recorded = detail::ExecutorHistory::kCapacity + 5;
  for (size_t i = 0; i < recorded; ++i) {
    history.record({.unix_ms = static_cast<int64_t>(i), .threads = static_cast<int64_t>(i)});
  }
  const std::vector<detail::ExecutorSample> samples = history.samples();
  REQUIRE(samples.size() == detail::ExecutorHistory::kCapacity);
  CHECK(samples.front().unix_ms == 5);
  CHECK(samples.back().unix_ms == static_cast<int64_t>(recorded - 1));
}

TEST_CASE("with a bearer token the page loads without it and its data needs it",
          "[http][dashboard][auth]") {
  GatewayFixture fixture({.bearer_token = "dash-s3cret"});
  auto client = fixture.client();
  httplib::Result page = client->Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  httplib::Result anonymous = client->Get("/api/dashboard");
  REQUIRE(anonymous);
  CHECK(anonymous->status == 401);
  client->set_bearer_token_auth("dash-s3cret");
  httplib::Result authorised = client->Get("/api/dashboard");
  REQUIRE(authorised);
  CHECK(authorised->status == 200);
}

TEST_CASE("with dashboard = false, / and /api/dashboard are 404 and nothing samples",
          "[http][dashboard]") {
  GatewayFixture fixture({.dashboard = false});
  CHECK(fnhost::testing::count_threads_named("fnhost-http-d") == 0);
  auto client = fixture.client();
  for (const char* path : {"/", "/api/dashboard"}) {
    INFO(path);
    httplib::Result result = client->Get(path);
    REQUIRE(result);
    CHECK(result->status == 404);
    CHECK(json::parse(result->body).at("code") == "NOT_FOUND");
  }
  SECTION("and with a token the page is no longer open: 401") {
    GatewayFixture guarded({.bearer_token = "t0ken", .dashboard = false});
    httplib::Result result = guarded.client()->Get("/");
    REQUIRE(result);
    CHECK(result->status == 401);
  }
}

}  // namespace
}  // namespace fnhost::http
