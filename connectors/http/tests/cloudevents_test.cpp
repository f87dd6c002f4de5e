// SPDX-License-Identifier: Apache-2.0
// The CloudEvents HTTP binding: the pure parsers, and POST /events into publish.
#include "cloudevents.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gateway_fixture.hpp"
#include "testing/wait.hpp"

namespace fnhost::http {
namespace {

using detail::HeaderList;
using detail::parse_binary_cloudevent;
using detail::parse_structured_cloudevent;
using testing::describe;
using testing::GatewayFixture;

bool has_message(const absl::Status& status, std::string_view needle) {
  return fnhost::testing::message_contains(status, needle);
}

TEST_CASE("binary mode reads ce-* headers, Content-Type and the body", "[http][cloudevents]") {
  const HeaderList headers = {{"Ce-Specversion", "1.0"},
                              {"ce-id", "42"},
                              {"ce-source", "/sensors/7"},
                              {"ce-type", "temp.read"},
                              {"ce-subject", "room%201"},
                              {"ce-time", "2026-01-02T03:04:05Z"},
                              {"ce-comexampleext", "value"},
                              {"Content-Type", "application/json"},
                              {"Host", "ignored"}};
  absl::StatusOr<Event> event = parse_binary_cloudevent(headers, R"({"c":21})");
  INFO(event.status().ToString());
  REQUIRE(event.ok());
  CHECK(event->id == "42");
  CHECK(event->source == "/sensors/7");
  CHECK(event->type == "temp.read");
  CHECK(event->subject == "room 1");
  CHECK(event->time == absl::FromUnixSeconds(1767323045));
  CHECK(event->datacontenttype == "application/json");
  CHECK(event->extension("comexampleext") == "value");
  CHECK(event->data == R"({"c":21})");
}

TEST_CASE("binary mode refuses missing, repeated and malformed attributes by name",
          "[http][cloudevents]") {
  const HeaderList base = {{"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-source", "s"}};
  CHECK(has_message(parse_binary_cloudevent(base, "").status(), "\"type\""));
  struct Case {
    HeaderList extra;  // added to `base`
    const char* named;
  };
  for (const Case& refused : {
           Case{{{"ce-type", "t"}, {"ce-specversion", "0.3"}}, "given twice"},
           Case{{{"ce-type", "t"}, {"CE-TYPE", "u"}}, "given twice"},
           Case{{{"ce-type", "t"}, {"ce-time", "yesterday"}}, "\"time\""},
           Case{{{"ce-type", "t"}, {"ce-my_ext", "x"}}, "[a-z0-9]"},
           Case{{{"ce-type", "t%zz"}}, "percent"},
           Case{{{"ce-type", "t"}, {"ce-data", "x"}}, "reserved"},
       }) {
    HeaderList headers = base;
    headers.insert(headers.end(), refused.extra.begin(), refused.extra.end());
    const absl::Status status = parse_binary_cloudevent(headers, "").status();
    INFO(status.ToString());
    CHECK(has_message(status, refused.named));
  }
  const HeaderList wrong_version = {
      {"ce-specversion", "0.3"}, {"ce-id", "1"}, {"ce-source", "s"}, {"ce-type", "t"}};
  CHECK(has_message(parse_binary_cloudevent(wrong_version, "").status(), "\"specversion\""));
}

TEST_CASE("structured mode reads the attributes, data and data_base64", "[http][cloudevents]") {
  SECTION("JSON data is kept as JSON text") {
    absl::StatusOr<Event> event = parse_structured_cloudevent(
        R"({"specversion":"1.0","id":"1","source":"s","type":"t","topic":"a/b",
            "seq":7,"flag":true,"none":null,"data":{"k":[1,2]}})");
    INFO(event.status().ToString());
    REQUIRE(event.ok());
    CHECK(event->data == R"({"k":[1,2]})");
    CHECK(event->datacontenttype == "application/json");
    CHECK(event->extension("topic") == "a/b");
    CHECK(event->extension("seq") == "7");
    CHECK(event->extension("flag") == "true");
    CHECK_FALSE(event->extension("none").has_value());
  }
  SECTION("a string with a non-JSON content type is the data itself") {
    absl::StatusOr<Event> event = parse_structured_cloudevent(
        R"({"specversion":"1.0","id":"1","source":"s","type":"t",
            "datacontenttype":"text/plain","data":"hello"})");
    REQUIRE(event.ok());
    CHECK(event->data == "hello");
  }
  SECTION("data_base64 is decoded") {
    absl::StatusOr<Event> event = parse_structured_cloudevent(
        R"({"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"AAEC"})");
    REQUIRE(event.ok());
    CHECK(event->data == std::string("\x00\x01\x02", 3));
  }
  SECTION("bad documents name what is wrong") {
    CHECK(has_message(parse_structured_cloudevent("[1]").status(), "JSON object"));
    CHECK(has_message(parse_structured_cloudevent("{").status(), "not JSON"));
    CHECK(has_message(parse_structured_cloudevent(R"({"specversion":"1.0","n":1e4736})").status(),
                      "out of range"));
    CHECK(has_message(parse_structured_cloudevent(std::string(1000, '[')).status(), "deeper"));
    CHECK(has_message(
        parse_structured_cloudevent(R"({"specversion":"1.0","id":"1","source":"s","type":2})")
            .status(),
        "\"type\""));
    CHECK(has_message(parse_structured_cloudevent(
                          R"({"specversion":"1.0","id":"1","source":"s","type":"t","x":1.5})")
                          .status(),
                      "\"x\""));
    CHECK(has_message(
        parse_structured_cloudevent(
            R"({"specversion":"1.0","id":"1","source":"s","type":"t","data":1,"data_base64":""})")
            .status(),
        "data_base64"));
    CHECK(has_message(parse_structured_cloudevent(
                          R"({"specversion":"1.0","id":"1","source":"s","type":"t",
                              "data_base64":"!!"})")
                          .status(),
                      "base64"));
  }
}

// A host with a function subscribed to every topic, recording what it receives.
struct PublishFixture : GatewayFixture {
  PublishFixture() {
    REQUIRE(host.register_function({.name = "record",
                                    .handler = [this](const Event& event, Context&) -> Result {
                                      std::lock_guard<std::mutex> lock(mu);
                                      received.push_back(event);
                                      return std::string();
                                    }})
                .ok());
    REQUIRE(host.subscribe({.pattern = "#", .function = "record"}).ok());
  }
  std::vector<Event> wait_for(size_t count) {
    REQUIRE(fnhost::testing::wait_until([&] {
      std::lock_guard<std::mutex> lock(mu);
      return received.size() >= count;
    }));
    std::lock_guard<std::mutex> lock(mu);
    return received;
  }
  std::mutex mu;
  std::vector<Event> received;
};

TEST_CASE("POST /events publishes binary and structured events, with the trace context",
          "[http][cloudevents]") {
  PublishFixture fixture;
  auto client = fixture.client();
  const std::string traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  httplib::Result binary = client->Post("/events/devices/7/temp",
                                        {{"ce-specversion", "1.0"},
                                         {"ce-id", "b1"},
                                         {"ce-source", "/d"},
                                         {"ce-type", "t"},
                                         {"traceparent", traceparent}},
                                        "21.5", "text/plain");
  INFO(describe(binary));
  REQUIRE(binary);
  CHECK(binary->status == 202);
  httplib::Result structured = client->Post(
      "/events",
      R"({"specversion":"1.0","id":"s1","source":"/d","type":"t","topic":"devices/8","data":[1]})",
      "application/cloudevents+json; charset=utf-8");
  INFO(describe(structured));
  REQUIRE(structured);
  CHECK(structured->status == 202);

  std::vector<Event> events = fixture.wait_for(2);
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.id < b.id; });
  CHECK(events[0].id == "b1");
  CHECK(events[0].topic == "devices/7/temp");
  CHECK(events[0].data == "21.5");
  CHECK(events[0].datacontenttype == "text/plain");
  CHECK(events[1].id == "s1");
  CHECK(events[1].topic == "devices/8");
  CHECK(events[1].data == "[1]");
  CHECK_FALSE(events[1].extension("topic").has_value());
  // The host's tracing replaces the event's traceparent with the invocation's own span only
  // when tracing is on; here it arrives as sent.
  CHECK(events[0].extension("traceparent") == traceparent);
}

TEST_CASE("bad events get 4xx naming the problem and are not published", "[http][cloudevents]") {
  PublishFixture fixture;
  auto client = fixture.client();
  auto post = [&](const std::string& path, const httplib::Headers& headers, const std::string& body,
                  const char* type) {
    httplib::Result result = client->Post(path.c_str(), headers, body, type);
    INFO(describe(result));
    REQUIRE(result);
    return std::make_pair(result->status, result->body);
  };
  auto [missing_status, missing_body] =
      post("/events/a", {{"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-source", "s"}}, "",
           "text/plain");
  CHECK(missing_status == 400);
  CHECK(missing_body.find("type") != std::string::npos);
  auto [no_topic_status, no_topic_body] = post(
      "/events", {{"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-source", "s"}, {"ce-type", "t"}},
      "", "text/plain");
  CHECK(no_topic_status == 400);
  CHECK(no_topic_body.find("topic") != std::string::npos);
  auto [batch_status, batch_body] =
      post("/events/a", {}, "[]", "application/cloudevents-batch+json");
  CHECK(batch_status == 415);
  auto [json_status, json_body] = post("/events/a", {}, "{nope", "application/cloudevents+json");
  CHECK(json_status == 400);
  CHECK(fixture.host.router_stats().published == 0);
}

}  // namespace
}  // namespace fnhost::http
