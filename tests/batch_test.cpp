// SPDX-License-Identifier: Apache-2.0
// Batch triggers: events collected until batch_size or batch_window, one invocation per batch,
// partial failures retried alone, every item accounted for (also at unsubscribe and shutdown).
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/fnhost.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::Event;
using fnhost::Host;
using fnhost::HostOptions;
using fnhost::Result;
using fnhost::testing::ClockedHost;
using fnhost::testing::make_host;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

// The batches a handler saw: each as the list of its events' data.
struct Batches {
  std::mutex mu;
  std::vector<std::vector<std::string>> seen;

  void record(const fnhost::EventBatch& batch) {
    std::vector<std::string> items;
    for (size_t i = 0; i < batch.size(); ++i) items.push_back(batch[i].data);
    std::lock_guard lock(mu);
    seen.push_back(std::move(items));
  }
  std::vector<std::vector<std::string>> snapshot() {
    std::lock_guard lock(mu);
    return seen;
  }
};

TEST_CASE("a batch trigger invokes once per batch_size events, or at the window", "[batch]") {
  // Before the host: its destructor may still run a handler that records a batch.
  Batches batches;
  ClockedHost clocked;
  Host& host = clocked.host;
  REQUIRE(host.register_function({.name = "sink",
                                  .handler = [&batches](const Event& event, Context& ctx) -> Result {
                                    if (ctx.batch() == nullptr) return absl::InternalError("no batch");
                                    if (event.type != "fnhost.batch") {
                                      return absl::InternalError("not a batch summary");
                                    }
                                    batches.record(*ctx.batch());
                                    return "";
                                  }})
              .ok());
  absl::StatusOr<fnhost::TriggerId> id = host.subscribe({.pattern = "logs/#",
                                                         .function = "sink",
                                                         .batch_size = 3,
                                                         .batch_window = absl::Seconds(10)});
  REQUIRE(id.ok());
  for (int i = 0; i < 7; ++i) {
    REQUIRE(host.publish(Event{.topic = "logs/app", .data = std::to_string(i)}).ok());
  }
  // Two full batches at once; the seventh waits for the window.
  REQUIRE(wait_until([&] { return batches.snapshot().size() == 2; }));
  CHECK(host.triggers()[0].batched_waiting == 1);
  // The two batches' six events settle as their handlers return.
  CHECK(wait_until([&] { return stats_of(host, "sink").events_pending == 1; }));
  clocked.clock->advance(absl::Seconds(10));
  REQUIRE(wait_until([&] { return batches.snapshot().size() == 3; }));
  auto seen = batches.snapshot();
  // The two full batches may run at once: no order between batches is promised.
  std::sort(seen.begin(), seen.begin() + 2);
  CHECK(seen[0] == std::vector<std::string>{"0", "1", "2"});
  CHECK(seen[1] == std::vector<std::string>{"3", "4", "5"});
  CHECK(seen[2] == std::vector<std::string>{"6"});
  REQUIRE(wait_until([&] { return stats_of(host, "sink").events_pending == 0; }));
  const fnhost::FunctionStats stats = stats_of(host, "sink");
  CHECK(stats.events_accepted == 7);
  CHECK(stats.events_succeeded == 7);
  CHECK(stats.invocations == 3);
  const fnhost::TriggerInfo info = host.triggers()[0];
  CHECK(info.batch_size == 3);
  CHECK(info.batches == 3);
  CHECK(info.delivered == 7);
}

TEST_CASE("only the items a handler failed are retried, the rest succeeded", "[batch]") {
  // Before the host: its destructor may still run a handler that records a batch.
  Batches batches;
  ClockedHost clocked;
  Host& host = clocked.host;
  REQUIRE(host.register_function(
                  {.name = "sink",
                   .handler = [&batches](const Event&, Context& ctx) -> Result {
                     const fnhost::EventBatch& batch = *ctx.batch();
                     batches.record(batch);
                     for (size_t i = 0; i < batch.size(); ++i) {
                       // "bad" never works; "flaky" works on the second attempt.
                       if (batch[i].data == "bad") {
                         (void)ctx.fail_batch_item(i, fnhost::not_retryable(
                                                          absl::InvalidArgumentError("bad item")));
                       } else if (batch[i].data == "flaky" && ctx.attempt() == 1) {
                         (void)ctx.fail_batch_item(i, absl::UnavailableError("try later"));
                       }
                     }
                     return "";
                   },
                   .retry = {.initial_backoff = absl::Seconds(1)}})
              .ok());
  REQUIRE(host.subscribe({.pattern = "jobs", .function = "sink", .batch_size = 4}).ok());
  for (const char* data : {"a", "bad", "flaky", "b"}) {
    REQUIRE(host.publish(Event{.topic = "jobs", .data = data}).ok());
  }
  REQUIRE(wait_until([&] { return stats_of(host, "sink").retries == 1; }));
  clocked.clock->advance(absl::Seconds(1));
  REQUIRE(wait_until([&] { return stats_of(host, "sink").events_pending == 0; }));
  const auto seen = batches.snapshot();
  REQUIRE(seen.size() == 2);
  CHECK(seen[1] == std::vector<std::string>{"flaky"});
  const fnhost::FunctionStats stats = stats_of(host, "sink");
  CHECK(stats.events_accepted == 4);
  CHECK(stats.events_succeeded == 3);
  CHECK(stats.events_dead_lettered == 1);
  const std::vector<fnhost::DeadLetter> letters = host.dead_letters("sink");
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].event.data == "bad");
  CHECK(letters[0].error.code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a batch whose handler fails is retried whole, then dead-lettered item by item",
          "[batch]") {
  ClockedHost clocked;
  Host& host = clocked.host;
  std::atomic<int> calls{0};
  REQUIRE(host.register_function({.name = "sink",
                                  .handler = [&calls](const Event&, Context& ctx) -> Result {
                                    calls.fetch_add(1);
                                    CHECK(ctx.batch()->size() == 2);
                                    return absl::InternalError("database down");
                                  },
                                  .retry = {.max_attempts = 2,
                                            .initial_backoff = absl::Seconds(1)}})
              .ok());
  REQUIRE(host.subscribe({.pattern = "jobs", .function = "sink", .batch_size = 2}).ok());
  REQUIRE(host.publish(Event{.topic = "jobs", .data = "x"}).ok());
  REQUIRE(host.publish(Event{.topic = "jobs", .data = "y"}).ok());
  REQUIRE(wait_until([&] { return stats_of(host, "sink").retries == 1; }));
  clocked.clock->advance(absl::Seconds(1));
  REQUIRE(wait_until([&] { return stats_of(host, "sink").events_dead_lettered == 2; }));
  CHECK(calls.load() == 2);
  for (const fnhost::DeadLetter& letter : host.dead_letters("sink")) {
    CHECK(letter.attempts == 2);
    CHECK(letter.error.code() == absl::StatusCode::kInternal);
  }
}

TEST_CASE("unsubscribe flushes what a batch trigger collected, shutdown does too",
          "[batch]") {
  Batches batches;  // before the host, which may run a handler as it goes
  Host host = make_host();
  REQUIRE(host.register_function({.name = "sink",
                                  .handler = [&batches](const Event&, Context& ctx) -> Result {
                                    batches.record(*ctx.batch());
                                    return "";
                                  }})
              .ok());
  absl::StatusOr<fnhost::TriggerId> first = host.subscribe(
      {.pattern = "a", .function = "sink", .batch_size = 10, .batch_window = absl::Minutes(5)});
  REQUIRE(first.ok());
  REQUIRE(host.subscribe({.pattern = "b",
                          .function = "sink",
                          .batch_size = 10,
                          .batch_window = absl::Minutes(5)})
              .ok());
  REQUIRE(host.publish(Event{.topic = "a", .data = "1"}).ok());
  REQUIRE(host.publish(Event{.topic = "a", .data = "2"}).ok());
  REQUIRE(host.unsubscribe(*first).ok());
  REQUIRE(wait_until([&] { return batches.snapshot().size() == 1; }));
  CHECK(batches.snapshot()[0] == std::vector<std::string>{"1", "2"});
  REQUIRE(host.publish(Event{.topic = "b", .data = "3"}).ok());
  const fnhost::ShutdownReport report = host.shutdown(absl::Seconds(30));
  CHECK(report.drained());
  REQUIRE(batches.snapshot().size() == 2);
  CHECK(batches.snapshot()[1] == std::vector<std::string>{"3"});
  CHECK(stats_of(host, "sink").events_succeeded == 3);
  CHECK(stats_of(host, "sink").events_pending == 0);
}

TEST_CASE("batch settings are validated, fail_batch_item outside a batch is refused",
          "[batch]") {
  Host host = make_host();
  std::atomic<int> refused{0};
  REQUIRE(host.register_function(
                  {.name = "single",
                   .handler = [&refused](const Event&, Context& ctx) -> Result {
                     if (ctx.batch() == nullptr &&
                         ctx.fail_batch_item(0, absl::InternalError("x")).code() ==
                             absl::StatusCode::kInvalidArgument) {
                       refused.fetch_add(1);
                     }
                     return "";
                   }})
              .ok());
  REQUIRE(host.invoke("single", {}).get().ok());
  CHECK(refused.load() == 1);
  struct Case {
    fnhost::TriggerSpec spec;
    const char* names;
  };
  const std::vector<Case> cases = {
      {{.pattern = "t", .function = "single", .batch_size = -1}, "batch_size"},
      {{.pattern = "t", .function = "single", .batch_size = 10001}, "batch_size"},
      {{.pattern = "t", .function = "single", .batch_size = 2, .batch_window = absl::ZeroDuration()},
       "batch_window"},
      {{.pattern = "t", .function = "single", .batch_size = 2, .batch_window = absl::Minutes(6)},
       "batch_window"},
      {{.pattern = "t", .function = "single", .ordering_key = "subject", .batch_size = 2},
       "ordering_key"},
  };
  for (const Case& c : cases) {
    const absl::Status status = host.subscribe(c.spec).status();
    INFO(status.ToString());
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(status.message()).find(c.names) != std::string::npos);
  }
}

}  // namespace
