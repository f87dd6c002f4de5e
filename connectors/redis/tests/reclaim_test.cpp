// SPDX-License-Identifier: Apache-2.0
// XAUTOCLAIM: entries a dead consumer left pending are reclaimed after claim_idle.
#include <catch2/catch.hpp>

#include "trigger_fixture.hpp"

namespace fnhost::redis::testing {
namespace {

using fnhost::testing::wait_until;

TEST_CASE("entries pending for a dead consumer are reclaimed and processed", "[redis]") {
  TriggerFixture fixture;
  fixture.register_recording();
  fixture.client.run({"XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"});
  const std::vector<std::string> ids = fixture.add_entries(10);
  // A consumer reads them and dies without acknowledging.
  fixture.client.run({"XREADGROUP", "GROUP", "g", "ghost", "COUNT", "10", "STREAMS", "s", ">"});
  REQUIRE(fixture.client.pending_of("s", "g", "ghost") == 10);

  StreamTriggerOptions options = fixture.options("f", "live");
  options.claim_idle = absl::Milliseconds(200);
  auto trigger = fixture.start(options);
  REQUIRE(wait_until([&] { return trigger->stats().acked == 10; }));
  const StreamTriggerStats stats = trigger->stats();
  INFO(describe(stats));
  CHECK(stats.reclaimed == 10);
  CHECK(stats.redelivered == 10);
  CHECK(fixture.client.pending("s", "g") == 0);
  const std::map<std::string, int> runs = fixture.recorder.runs_by_id();
  for (const std::string& id : ids) CHECK(runs.at(id) == 1);
}

TEST_CASE("with claim_idle 0 nothing is reclaimed", "[redis]") {
  TriggerFixture fixture;
  fixture.register_recording();
  fixture.client.run({"XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"});
  fixture.add_entries(3);
  fixture.client.run({"XREADGROUP", "GROUP", "g", "ghost", "COUNT", "3", "STREAMS", "s", ">"});
  fixture.add_entries(2);
  StreamTriggerOptions options = fixture.options("f", "live");
  options.claim_idle = absl::ZeroDuration();
  auto trigger = fixture.start(options);
  REQUIRE(wait_until([&] { return trigger->stats().acked == 2; }));
  trigger->stop();
  CHECK(trigger->stats().reclaimed == 0);
  CHECK(fixture.client.pending_of("s", "g", "ghost") == 3);
}

TEST_CASE("a restarted consumer takes back its own pending entries first", "[redis]") {
  TriggerFixture fixture;
  fixture.register_recording();
  fixture.client.run({"XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"});
  fixture.add_entries(4);
  fixture.client.run({"XREADGROUP", "GROUP", "g", "c1", "COUNT", "4", "STREAMS", "s", ">"});
  // One of them was deleted from the stream meanwhile: its pending record is just dropped.
  const std::vector<detail::StreamEntry> entries = fixture.client.entries("s");
  fixture.client.run({"XDEL", "s", entries.front().id});
  StreamTriggerOptions options = fixture.options("f", "c1");
  options.claim_idle = absl::ZeroDuration();
  auto trigger = fixture.start(options);
  REQUIRE(wait_until([&] { return trigger->stats().acked == 3; }));
  CHECK(trigger->stats().redelivered == 3);
  CHECK(wait_until([&] { return fixture.client.pending("s", "g") == 0; }));
}

}  // namespace
}  // namespace fnhost::redis::testing
