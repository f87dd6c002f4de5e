// SPDX-License-Identifier: Apache-2.0
// The stream trigger against a real redis-server: read, invoke, acknowledge after settlement;
// publish mode; retries and the dead-letter stream; invalid entries; connection loss.
#include <atomic>
#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "trigger_fixture.hpp"

namespace fnhost::redis::testing {
namespace {

using fnhost::testing::wait_until;

TEST_CASE("entries are invoked once each and acknowledged after they succeed", "[redis]") {
  TriggerFixture fixture;
  fixture.register_recording();
  const std::vector<std::string> ids = fixture.add_entries(50);
  fixture.client.add("s", {{"data", "with attributes"}, {"type", "t.created"}, {"tenant", "acme"}});
  auto trigger = fixture.start(fixture.options());

  REQUIRE(wait_until([&] { return trigger->stats().acked == 51; }));
  CHECK(fixture.client.pending("s", "g") == 0);
  const std::map<std::string, int> runs = fixture.recorder.runs_by_id();
  CHECK(runs.size() == 51);
  for (const std::string& id : ids) CHECK(runs.at(id) == 1);
  for (const Event& event : fixture.recorder.events()) {
    CHECK(event.idempotency_key == event.id);
    CHECK(event.source == "s");
    if (event.data == "with attributes") {
      CHECK(event.type == "t.created");
      CHECK(event.extension("tenant") == "acme");
    }
  }
  const StreamTriggerStats stats = trigger->stats();
  INFO(describe(stats));
  CHECK(stats.read == 51);
  CHECK(stats.succeeded == 51);
  CHECK(stats.dead_lettered == 0);
  CHECK(stats.in_flight == 0);
  CHECK(stats.errors == 0);

  // New entries keep flowing while it runs.
  fixture.add_entries(5);
  CHECK(wait_until([&] { return trigger->stats().acked == 56; }));
  trigger->stop();
  CHECK(fixture.client.pending("s", "g") == 0);
}

TEST_CASE("with a topic each entry is published and acknowledged once its deliveries end",
          "[redis]") {
  TriggerFixture fixture;
  fixture.register_recording("a");
  fixture.register_recording("b");
  REQUIRE(fixture.host.subscribe({.pattern = "orders/#", .function = "a"}).ok());
  REQUIRE(fixture.host.subscribe({.pattern = "orders/new", .function = "b"}).ok());
  fixture.add_entries(10);
  StreamTriggerOptions options = fixture.options("");
  options.topic = "orders/new";
  auto trigger = fixture.start(options);
  REQUIRE(wait_until([&] { return trigger->stats().acked == 10; }));
  CHECK(fixture.recorder.runs() == 20);  // both triggers' functions ran every entry
  for (const Event& event : fixture.recorder.events()) CHECK(event.topic == "orders/new");
  CHECK(fixture.client.pending("s", "g") == 0);
}

TEST_CASE("a failing function is retried by the host, dead-lettered to the stream, then acked",
          "[redis]") {
  TriggerFixture fixture;
  std::atomic<int> attempts{0};
  REQUIRE(fixture.host
              .register_function({.name = "f",
                                  .handler = [&](const Event&, Context&) -> Result {
                                    attempts.fetch_add(1);
                                    return absl::InternalError("downstream is down");
                                  },
                                  .retry = {.max_attempts = 3,
                                            .initial_backoff = absl::Milliseconds(1),
                                            .max_backoff = absl::Milliseconds(5)}})
              .ok());
  const std::string id = fixture.client.add("s", {{"data", "payload"}, {"tenant", "acme"}});
  StreamTriggerOptions options = fixture.options();
  options.dead_letter_stream = "s-dead";
  auto trigger = fixture.start(options);

  REQUIRE(wait_until([&] { return trigger->stats().acked == 1; }));
  CHECK(attempts.load() == 3);
  CHECK(fixture.client.pending("s", "g") == 0);
  const StreamTriggerStats stats = trigger->stats();
  CHECK(stats.dead_lettered == 1);
  CHECK(stats.succeeded == 0);
  const std::vector<detail::StreamEntry> dead = fixture.client.entries("s-dead");
  REQUIRE(dead.size() == 1);
  std::map<std::string, std::string> fields(dead[0].fields.begin(), dead[0].fields.end());
  CHECK(fields["data"] == "payload");
  CHECK(fields["tenant"] == "acme");
  CHECK(fields["error"] == "downstream is down");
  CHECK(fields["errorcode"] == std::to_string(static_cast<int>(absl::StatusCode::kInternal)));
  CHECK(fields["attempts"] == "3");
  CHECK(fields["sourcestream"] == "s");
  CHECK(fields["sourceid"] == id);
  CHECK(fields["group"] == "g");
  // The host kept its own dead letter too.
  CHECK(fixture.host.dead_letter_count("f") == 1);
}

TEST_CASE("an entry that cannot be an event is dead-lettered at once and acked", "[redis]") {
  TriggerFixture fixture;
  fixture.register_recording();
  const std::string bad = fixture.client.add("s", {{"Bad_Name", "x"}});
  fixture.add_entries(3);
  StreamTriggerOptions options = fixture.options();
  options.dead_letter_stream = "s-dead";
  auto trigger = fixture.start(options);
  REQUIRE(wait_until([&] { return trigger->stats().acked == 4; }));
  CHECK(fixture.recorder.runs() == 3);
  CHECK(trigger->stats().invalid == 1);
  CHECK(trigger->stats().dead_lettered == 1);
  const std::vector<detail::StreamEntry> dead = fixture.client.entries("s-dead");
  REQUIRE(dead.size() == 1);
  std::map<std::string, std::string> fields(dead[0].fields.begin(), dead[0].fields.end());
  CHECK(fields["sourceid"] == bad);
  CHECK(fields["Bad_Name"] == "x");
  CHECK(fields["attempts"] == "0");
  CHECK(fields["errorcode"] ==
        std::to_string(static_cast<int>(absl::StatusCode::kInvalidArgument)));
  CHECK(fixture.client.pending("s", "g") == 0);
}

TEST_CASE("without a dead-letter stream a dead-lettered entry is acked all the same", "[redis]") {
  TriggerFixture fixture;
  REQUIRE(fixture.host
              .register_function({.name = "f",
                                  .handler = [](const Event&, Context&) -> Result {
                                    return absl::InvalidArgumentError("never valid");
                                  }})
              .ok());
  fixture.add_entries(2);
  auto trigger = fixture.start(fixture.options());
  REQUIRE(wait_until([&] { return trigger->stats().acked == 2; }));
  CHECK(trigger->stats().dead_lettered == 2);
  CHECK(fixture.client.pending("s", "g") == 0);
  CHECK(fixture.client.integer({"EXISTS", "s-dead"}) == 0);
}

TEST_CASE("a lost connection is counted, made again, and nothing is lost", "[redis]") {
  TriggerFixture fixture;
  fixture.register_recording();
  fixture.add_entries(20);
  auto trigger = fixture.start(fixture.options());
  REQUIRE(wait_until([&] { return trigger->stats().acked == 20; }));
  // Every client connection is closed by the server, the trigger's two included.
  fixture.client.run({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
  fixture.add_entries(20);
  REQUIRE(wait_until([&] { return trigger->stats().acked == 40; }));
  const StreamTriggerStats stats = trigger->stats();
  INFO(describe(stats));
  CHECK(stats.errors >= 1);
  CHECK(stats.reconnects >= 1);
  CHECK(fixture.recorder.runs_by_id().size() == 40);
  CHECK(fixture.client.pending("s", "g") == 0);
}

TEST_CASE("a group created with start id $ skips entries already in the stream", "[redis]") {
  TriggerFixture fixture;
  fixture.register_recording();
  fixture.add_entries(3);
  StreamTriggerOptions options = fixture.options();
  options.group_start_id = "$";
  auto trigger = fixture.start(options);
  const std::string later = fixture.client.add("s", {{"data", "later"}});
  REQUIRE(wait_until([&] { return trigger->stats().acked == 1; }));
  trigger->stop();
  CHECK(fixture.recorder.runs() == 1);
  CHECK(fixture.recorder.events().front().id == later);
}

}  // namespace
}  // namespace fnhost::redis::testing
