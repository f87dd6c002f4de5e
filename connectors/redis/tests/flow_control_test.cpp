// SPDX-License-Identifier: Apache-2.0
// Backpressure and stop(): never more than max_in_flight entries read and unsettled; a full
// function queue holds entries back without losing them; stop() acknowledges what settles and
// leaves the rest pending, and a restarted consumer finishes them — each run once, thanks to the
// entry id as idempotency key.
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <thread>

#include "testing/gate.hpp"
#include "trigger_fixture.hpp"

namespace fnhost::redis::testing {
namespace {

using fnhost::testing::Gate;
using fnhost::testing::wait_until;

TEST_CASE("no more than max_in_flight entries are read and unsettled at once", "[redis]") {
  TriggerFixture fixture;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  REQUIRE(fixture.host
              .register_function(
                  {.name = "f", .handler = fnhost::testing::gated_handler(gate, started)})
              .ok());
  fixture.add_entries(40);
  StreamTriggerOptions options = fixture.options();
  options.max_in_flight = 4;
  auto trigger = fixture.start(options);

  REQUIRE(wait_until([&] { return started.load() == 4; }));
  // Only four entries were even read from the stream: the rest are not pending anywhere.
  CHECK(fixture.client.pending("s", "g") == 4);
  CHECK(trigger->stats().in_flight == 4);
  CHECK(trigger->stats().read == 4);
  gate->open();
  REQUIRE(wait_until([&] { return trigger->stats().acked == 40; }));
  const StreamTriggerStats stats = trigger->stats();
  INFO(describe(stats));
  CHECK(stats.peak_in_flight == 4);
  CHECK(started.load() == 40);
  CHECK(fixture.client.pending("s", "g") == 0);
}

TEST_CASE("a full function queue holds entries back and loses none", "[redis]") {
  TriggerFixture fixture;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  REQUIRE(fixture.host
              .register_function({.name = "f",
                                  .handler =
                                      [&, gate](const Event& event, Context& ctx) {
                                        fixture.recorder.record(event);
                                        return fnhost::testing::gated_handler(gate, started)(event,
                                                                                             ctx);
                                      },
                                  .max_concurrency = 1,
                                  .max_queued = 2})
              .ok());
  const std::vector<std::string> ids = fixture.add_entries(30);
  StreamTriggerOptions options = fixture.options();
  options.max_in_flight = 16;
  auto trigger = fixture.start(options);

  // One runs, two wait in the queue, the rest of the 16 read are refused and held.
  REQUIRE(wait_until([&] { return trigger->stats().refused > 0; }));
  CHECK(trigger->stats().in_flight <= 16);
  gate->open();
  REQUIRE(wait_until([&] { return trigger->stats().acked == 30; }));
  const std::map<std::string, int> runs = fixture.recorder.runs_by_id();
  CHECK(runs.size() == 30);
  for (const std::string& id : ids) CHECK(runs.at(id) == 1);
  CHECK(trigger->stats().peak_in_flight <= 16);
  CHECK(fixture.client.pending("s", "g") == 0);
}

TEST_CASE("stop() acknowledges the entries that settle while it waits", "[redis]") {
  TriggerFixture fixture;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  REQUIRE(fixture.host
              .register_function(
                  {.name = "f", .handler = fnhost::testing::gated_handler(gate, started)})
              .ok());
  fixture.add_entries(20);
  StreamTriggerOptions options = fixture.options();
  options.max_in_flight = 5;
  options.stop_timeout = absl::Seconds(60);
  auto trigger = fixture.start(options);
  REQUIRE(wait_until([&] { return started.load() == 5; }));

  std::thread stopper([&] { trigger->stop(); });
  // stop() stops reading first: no entry beyond the five is read while it waits.
  REQUIRE(wait_until([&] { return !trigger->stats().reading; }));
  CHECK(fixture.client.pending("s", "g") == 5);
  gate->open();
  stopper.join();
  const StreamTriggerStats stats = trigger->stats();
  INFO(describe(stats));
  CHECK(stats.read == 5);
  CHECK(stats.acked == 5);
  CHECK(stats.left_pending == 0);
  CHECK(stats.in_flight == 0);
  CHECK(fixture.client.pending("s", "g") == 0);
}

TEST_CASE("stop() leaves unsettled entries pending, a restarted consumer runs them once",
          "[redis]") {
  TriggerFixture fixture;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  REQUIRE(fixture.host
              .register_function({.name = "f",
                                  .handler =
                                      [&, gate](const Event& event, Context& ctx) {
                                        auto result = fnhost::testing::gated_handler(gate, started)(
                                            event, ctx);
                                        fixture.recorder.record(event);
                                        return result;
                                      }})
              .ok());
  const std::vector<std::string> ids = fixture.add_entries(30);
  StreamTriggerOptions options = fixture.options();
  options.max_in_flight = 6;
  options.stop_timeout = absl::Milliseconds(100);
  auto first = fixture.start(options);
  REQUIRE(wait_until([&] { return started.load() == 6; }));
  first->stop();  // the six are still running: not acknowledged
  const StreamTriggerStats stopped = first->stats();
  INFO(describe(stopped));
  CHECK(stopped.acked == 0);
  CHECK(stopped.left_pending == 6);
  CHECK(fixture.client.pending_of("s", "g", "c1") == 6);

  // The six finish in the host (their late settlement is ignored: they stay pending) ...
  gate->open();
  REQUIRE(wait_until([&] { return fixture.recorder.runs() == 6; }));
  // ... and the restarted consumer (same name) takes them back first, then the rest. The six
  // are delivered twice at the transport level, but their idempotency keys (the entry ids)
  // already succeeded in this host: the handler does not run them again.
  auto second = fixture.start(options);
  REQUIRE(wait_until([&] { return second->stats().acked == 30; }));
  const StreamTriggerStats restarted = second->stats();
  INFO(describe(restarted));
  CHECK(restarted.redelivered == 6);
  CHECK(restarted.read == 30);
  const std::map<std::string, int> runs = fixture.recorder.runs_by_id();
  CHECK(runs.size() == 30);
  for (const std::string& id : ids) CHECK(runs.at(id) == 1);
  CHECK(fnhost::testing::stats_of(fixture.host, "f").duplicates == 6);
  CHECK(fixture.client.pending("s", "g") == 0);
}

TEST_CASE("entries the host drops at shutdown are not acknowledged", "[redis]") {
  TriggerFixture fixture;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  REQUIRE(fixture.host
              .register_function({.name = "f",
                                  .handler = fnhost::testing::gated_handler(gate, started),
                                  .max_concurrency = 1})
              .ok());
  fixture.add_entries(5);
  auto trigger = fixture.start(fixture.options());
  REQUIRE(wait_until([&] { return started.load() == 1 && trigger->stats().read == 5; }));
  // Shutdown with no time to drain: four never started (dropped), one is cancelled.
  std::thread opener([&] {
    REQUIRE(wait_until([&] { return !fixture.host.is_accepting(); }));
    gate->open();
  });
  const ShutdownReport report = fixture.host.shutdown(absl::ZeroDuration());
  opener.join();
  CHECK(report.dropped == 4);
  REQUIRE(wait_until([&] { return trigger->stats().in_flight == 0; }));
  trigger->stop();
  const StreamTriggerStats stats = trigger->stats();
  INFO(describe(stats));
  CHECK(stats.left_pending + stats.acked == 5);
  CHECK(stats.left_pending >= 4);
  CHECK(fixture.client.pending("s", "g") == stats.left_pending);
}

}  // namespace
}  // namespace fnhost::redis::testing
