// SPDX-License-Identifier: Apache-2.0
// register_stream_writer: a destination that XADDs what it receives.
#include "fnhost/redis/stream_writer.hpp"

#include <catch2/catch.hpp>

#include "trigger_fixture.hpp"

namespace fnhost::redis::testing {
namespace {

using fnhost::testing::wait_until;

TEST_CASE("a stream writer XADDs each event and returns the entry id", "[redis][writer]") {
  TriggerFixture fixture;
  REQUIRE(register_stream_writer(fixture.host, "out",
                                 {.server = fixture.redis.server(), .stream = "results"})
              .ok());
  Result written = fixture.host
                       .invoke("out", Event{.id = "e1",
                                            .source = "app",
                                            .type = "t",
                                            .extensions = {{"tenant", "acme"}},
                                            .data = "hello"})
                       .get();
  REQUIRE(written.ok());
  const std::vector<detail::StreamEntry> entries = fixture.client.entries("results");
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].id == *written);
  std::map<std::string, std::string> fields(entries[0].fields.begin(), entries[0].fields.end());
  CHECK(fields["data"] == "hello");
  CHECK(fields["type"] == "t");
  CHECK(fields["eventid"] == "e1");
  CHECK(fields["eventsource"] == "app");
  CHECK(fields["tenant"] == "acme");
}

TEST_CASE("a stream writer as on_success destination receives every result, trimmed by MAXLEN",
          "[redis][writer]") {
  TriggerFixture fixture;
  REQUIRE(register_stream_writer(
              fixture.host, "results",
              {.server = fixture.redis.server(), .stream = "out", .max_len = 5, .exact_trim = true})
              .ok());
  REQUIRE(fixture.host
              .register_function({.name = "f",
                                  .handler = [](const Event& event, Context&) -> Result {
                                    return "done " + event.data;
                                  },
                                  .on_success = {.function = "results"}})
              .ok());
  fixture.add_entries(8);
  auto trigger = fixture.start(fixture.options());
  REQUIRE(wait_until([&] { return trigger->stats().acked == 8; }));
  REQUIRE(wait_until(
      [&] { return fnhost::testing::stats_of(fixture.host, "results").successes == 8; }));
  CHECK(fixture.client.integer({"XLEN", "out"}) == 5);
  for (const detail::StreamEntry& entry : fixture.client.entries("out")) {
    std::map<std::string, std::string> fields(entry.fields.begin(), entry.fields.end());
    CHECK(fields["fnhostcondition"] == "success");
    CHECK(fields["fnhostfunction"] == "f");
    CHECK(fields["fnhostresult"] == "done " + fields["data"]);
  }
}

TEST_CASE("a stream writer that cannot reach its server fails with Unavailable",
          "[redis][writer]") {
  Host host = fnhost::testing::make_host();
  REQUIRE(register_stream_writer(
              host, "out",
              {.server = {.port = free_loopback_port(), .io_timeout = absl::Seconds(2)},
               .stream = "results"})
              .ok());
  Result written = host.invoke("out", Event::with_data("x")).get();
  CHECK(written.status().code() == absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace fnhost::redis::testing
